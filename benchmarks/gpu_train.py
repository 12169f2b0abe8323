"""LoRA training throughput and model FLOPs utilisation on a GPU, with packing on and off.

For a GPU machine: nothing is downloaded. The model is randomly initialised from a real student's
config, written out below (Qwen3-0.6B or Llama-3.2-1B), and the data is pre-tokenized random token ids
of chat-like lengths (uniform in `--lengths`, e.g. a classification prompt and its short answer).
Training goes through TRL's SFTTrainer with the local trainer's defaults (LoRA r=16, alpha=32 on all
linear layers, lr 2e-4, bf16 weights and autocast) for `--steps` steps.

Packing uses TRL's padding-free packing: only a flash-attention kernel (`--attn flash_attention_2`, if
installed) keeps the packed examples from attending to each other; with sdpa the tokens/s are still
measured right but the loss is not what training would get.

Printed per packing setting: tokens/s (non-padding tokens, TRL's `num_tokens`, after `--warmup` steps),
peak GPU memory, and MFU = 6 · N · tokens/s over the GPU's dense bf16 peak, N = the base model's
parameters. LoRA computes no gradients for the frozen weights, so the work actually done is nearer
4 · N per token: the 6 · N figure is the convention that makes MFU comparable across runs and papers.

    python benchmarks/gpu_train.py [--model qwen3-0.6b|llama-3.2-1b] [--steps 40] [--packing both]
    python benchmarks/gpu_train.py --model tiny --device cpu --steps 3   # a smoke run of the code path

Needs the [train] extra (torch, transformers, trl, peft, accelerate, datasets).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

# Dense bf16 tensor-core peaks in TFLOPS (no sparsity), from each vendor datasheet; the first
# substring found in torch.cuda.get_device_name() wins, so the more specific names come first.
BF16_PEAK_TFLOPS = (
    ("H200", 989.4),            # NVIDIA H200 SXM datasheet (same tensor cores as H100 SXM)
    ("H100 PCIe", 756.0),       # NVIDIA H100 PCIe datasheet
    ("H100 NVL", 835.0),        # NVIDIA H100 NVL datasheet
    ("H100", 989.4),            # NVIDIA H100 SXM5 datasheet (1,979 with sparsity)
    ("A100", 312.0),            # NVIDIA A100 datasheet (SXM and PCIe)
    ("L40S", 362.05),           # NVIDIA L40S datasheet
    ("RTX 4090", 165.2),        # Ada whitepaper: FP32 accumulate (330.3 with FP16 accumulate)
)

# Real students' shapes (config.json of each model card, copied here: nothing is fetched).
CONFIGS: dict[str, dict[str, Any]] = {
    "qwen3-0.6b": {  # Qwen/Qwen3-0.6B
        "model_type": "qwen3", "vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072,
        "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
        "max_position_embeddings": 40960, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True, "attention_bias": False, "hidden_act": "silu",
    },
    "llama-3.2-1b": {  # meta-llama/Llama-3.2-1B
        "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
        "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
        "max_position_embeddings": 131072, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True, "attention_bias": False, "hidden_act": "silu",
        "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192},
    },
    "tiny": {  # the same code path on a CPU in seconds
        "model_type": "llama", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "max_position_embeddings": 2048, "tie_word_embeddings": True,
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(CONFIGS), default="qwen3-0.6b")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per packing setting")
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of tokens/s")
    parser.add_argument("--batch-size", type=int, default=8, help="sequences per step (packing: packed rows)")
    parser.add_argument("--max-length", type=int, default=1024, help="max_length (the packed row length)")
    parser.add_argument("--lengths", default="96:512", help="MIN:MAX tokens of an example (uniform)")
    parser.add_argument("--packing", choices=("on", "off", "both"), default="both")
    parser.add_argument("--attn", default="sdpa", help="attn_implementation (sdpa, flash_attention_2, …)")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations (TRL's default)")
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, if not in the table")
    return parser.parse_args(argv)


def peak_tflops(name: str) -> float | None:
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key.lower() in name.lower()), None)


def build_model(name: str, attn: str, dtype: Any) -> Any:
    from transformers import AutoConfig, AutoModelForCausalLM

    values = dict(CONFIGS[name])
    config = AutoConfig.for_model(values.pop("model_type"), **values)
    config.pad_token_id, config.eos_token_id, config.bos_token_id = 0, 1, None
    return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)


def make_tokenizer(vocab_size: int) -> Any:
    """A word-level tokenizer that only supplies the pad and eos ids: the data comes tokenized."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, **{f"t{i}": i for i in range(2, min(vocab_size, 1024))}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t2"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


def make_data(rows: int, lengths: str, vocab_size: int, seed: int = 0) -> Any:
    from datasets import Dataset

    low, high = (int(x) for x in lengths.split(":"))
    rng = random.Random(seed)
    ids = [[rng.randrange(2, vocab_size) for _ in range(rng.randint(low, high))] + [1] for _ in range(rows)]
    return Dataset.from_dict({"input_ids": ids})


def run(args: argparse.Namespace, packing: bool) -> dict[str, float]:
    import torch
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    cuda = args.device == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    model = build_model(args.model, args.attn, dtype)
    params = sum(p.numel() for p in model.parameters())
    vocab = model.config.vocab_size
    mean = sum(int(x) for x in args.lengths.split(":")) / 2
    per_step = args.batch_size * (args.max_length / mean if packing else 1)
    data = make_data(int(per_step * args.steps * 1.3) + args.batch_size, args.lengths, vocab)
    marks: list[tuple[float, float]] = []

    class Clock(TrainerCallback):
        def on_log(self, _args, state, control, logs=None, **kwargs):
            if logs and "num_tokens" in logs:
                if cuda:
                    torch.cuda.synchronize()
                marks.append((time.perf_counter(), float(logs["num_tokens"])))

    config = SFTConfig(
        output_dir=os.path.join(os.environ.get("TMPDIR", "/tmp"), "gpu-train-bench"), max_steps=args.steps,
        per_device_train_batch_size=args.batch_size, learning_rate=2e-4, max_length=args.max_length,
        packing=packing, bf16=cuda, use_cpu=not cuda, gradient_checkpointing=args.gradient_checkpointing,
        logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, dataloader_num_workers=2,
    )
    lora = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.05, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=make_tokenizer(vocab),
                         peft_config=lora, callbacks=[Clock()])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    start = marks[min(args.warmup, len(marks) - 2)]
    end = marks[-1]
    rate = (end[1] - start[1]) / (end[0] - start[0])
    memory = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
    del trainer, model
    if cuda:
        torch.cuda.empty_cache()
    return {"tokens_per_s": rate, "params": params, "memory_gib": memory}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import peft, torch, trl  # noqa: E401, F401
    except ImportError as exc:
        raise SystemExit(f"gpu_train needs the [train] extra ({exc.name} missing): pip install 'distill-tui[train]'")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible: this benchmark is for a GPU machine (--model tiny --device cpu "
                         "checks the code path)")
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    peak = args.peak_tflops or (peak_tflops(name) if args.device == "cuda" else None)
    print(f"{name}: bf16 peak {f'{peak:g} TFLOPS' if peak else 'unknown (pass --peak-tflops)'}; "
          f"torch {torch.__version__}, trl {trl.__version__}, attn {args.attn}, "
          f"gradient checkpointing {'on' if args.gradient_checkpointing else 'off'}")
    print(f"model {args.model} (random init), LoRA r={args.lora_r} all-linear, batch {args.batch_size}, "
          f"max_length {args.max_length}, example lengths {args.lengths}, {args.steps} steps ({args.warmup} warm-up)")
    settings = {"on": [True], "off": [False], "both": [False, True]}[args.packing]
    for packing in settings:
        result = run(args, packing)
        flops = 6 * result["params"] * result["tokens_per_s"]
        mfu = f"{flops / (peak * 1e12):.1%}" if peak else "unknown"
        print(f"packing {'on ' if packing else 'off'}: {result['tokens_per_s']:>10,.0f} tokens/s   "
              f"MFU {mfu} (6·N, N = {result['params'] / 1e9:.3f} B)   peak memory {result['memory_gib']:.1f} GiB")


if __name__ == "__main__":
    main()
