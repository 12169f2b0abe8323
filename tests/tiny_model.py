"""A tiny chat model built inside the tests: nothing is downloaded.

A byte-level BPE tokenizer trained with `tokenizers` on a few hundred lines, a chat template, and a
randomly initialised Llama-style model from a config (a few MB). Saved as an ordinary Hugging Face
model folder, so code under test loads it through its real loading path (`from_pretrained(folder)`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}"
    "{% else %}{{ message['content'] }}<|end|>{% endif %}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
"""Marks the assistant's tokens with {% generation %}, so training can put the loss on them only."""

SPECIAL = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


def _corpus(extra: Iterable[str]) -> list[str]:
    words = ("wine grape variety pinot noir chardonnay merlot syrah gamay riesling france review "
             "answer the question with one label from the list red white dry fruity oak tannin").split()
    lines = [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    return lines * 4 + list(extra)


def build_tiny_model(folder: Path, *, extra_text: Iterable[str] = (), hidden: int = 64, layers: int = 2,
                     vocab: int = 512, seed: int = 0) -> Path:
    """Write a tokenizer and a randomly initialised tiny Llama to `folder`; return the folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(extra_text), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id, bos_token_id=None,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = fast.pad_token_id
    model.generation_config.eos_token_id = fast.eos_token_id
    model.save_pretrained(folder)
    return folder
