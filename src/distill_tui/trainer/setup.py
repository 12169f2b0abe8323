"""What the trainer prepares before training: the device, the tokenizer and model, the datasets, with
every problem a user can cause turned into one line (`TrainerProblem`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

INSTALL = "pip install 'distill-tui[train]'"
GENERATION_MARK = re.compile(r"\{%-?\s*generation\s*-?%\}")
MEMORY_KNOBS = ('out of GPU memory: lower [finetune] batch_size (raise gradient_accumulation to keep the '
                'effective batch), shorten max_seq_length, or use method = "qlora" (or "lora" instead of "full")')


class TrainerProblem(Exception):
    """A problem the user can fix, as one line; `exit_code` 2 for bad input, 1 for failed work."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def pick_device(wanted: str) -> str:
    """"cuda", "mps" or "cpu" for the spec's device (auto: the best one present)."""
    import torch

    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if wanted == "cuda" and not torch.cuda.is_available():
        raise TrainerProblem('[finetune] device = "cuda" but no CUDA GPU is visible here (device = "auto" uses '
                             "what there is)")
    if wanted == "mps" and not has_mps:
        raise TrainerProblem('[finetune] device = "mps" but Apple MPS is not available here')
    if wanted != "auto":
        return wanted
    return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"


def _model_source(model: str) -> str:
    """A local folder's absolute path, or the hub id; a folder that is not a model is refused."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TrainerProblem(f"{path}: a folder, but not a model (no config.json): set [student] model to a "
                                 "folder written by save_pretrained, or a Hugging Face model id")
        return str(path.resolve())
    if path.exists():
        raise TrainerProblem(f"{path}: not a model folder: set [student] model to a folder written by "
                             "save_pretrained, or a Hugging Face model id")
    return model


def _unreachable(model: str, exc: Exception) -> TrainerProblem:
    import os

    detail = " ".join(str(exc).split())[:200]
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return TrainerProblem(f"cannot load the model {model!r}: no such local folder, and HF_HUB_OFFLINE is set but "
                              f"the Hugging Face cache does not have it (download it with `hf download {model}` "
                              "where there is network, or set [student] model to a model folder)")
    return TrainerProblem(
        f"cannot load the model {model!r}: no such local folder, and the Hugging Face Hub does not have it or "
        f"cannot be reached (on a machine without network, download it elsewhere with `hf download {model}` "
        f"and set [student] model to its folder, or set HF_HUB_OFFLINE=1 to use the cache) ({detail})")


def _from_cache_first(load: Any, source: str, **kwargs: Any) -> Any:
    """Load from a local folder or the Hugging Face cache without asking the network; only what is not
    there is fetched (a GPU box without network trains a cached model without waiting on timeouts)."""
    if Path(source).is_dir():
        return load(source, **kwargs)
    try:
        return load(source, local_files_only=True, **kwargs)
    except (OSError, ValueError):
        return load(source, **kwargs)


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = _from_cache_first(AutoTokenizer.from_pretrained, _model_source(model))
    except (OSError, ValueError) as exc:
        raise _unreachable(model, exc) from None
    if not tokenizer.chat_template:
        raise TrainerProblem(f"the model {model!r} has no chat template: choose an instruct/chat model (its "
                             "tokenizer_config.json or chat_template.jinja carries one)")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model: str, method: str, device: str) -> tuple[Any, str]:
    """The model and the precision it trains in ("bf16", "fp32", "4-bit + bf16")."""
    import os

    import torch
    from transformers import AutoModelForCausalLM

    source = _model_source(model)
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if bf16 else torch.float32}
    precision = "bf16" if bf16 else "fp32"
    if method == "qlora":
        if device != "cuda":
            raise TrainerProblem('method = "qlora" needs a CUDA GPU; use method = "lora" here')
        try:
            import bitsandbytes
            from transformers import BitsAndBytesConfig
        except ImportError:
            raise TrainerProblem('method = "qlora" needs bitsandbytes: pip install bitsandbytes '
                                 '(or use method = "lora")') from None
        compute = torch.bfloat16 if bf16 else torch.float16
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute)
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
        precision = f"4-bit + {'bf16' if bf16 else 'fp16'}"
    try:
        return _from_cache_first(AutoModelForCausalLM.from_pretrained, source, **kwargs), precision
    except (OSError, ValueError) as exc:
        if Path(source).is_dir():
            raise TrainerProblem(f"{source}: cannot load the model ({' '.join(str(exc).split())[:200]})") from None
        raise _unreachable(model, exc) from None


def read_rows(path: Path, name: str) -> list[dict[str, Any]]:
    """The `{"messages": [...]}` rows of a chat JSONL file (other keys dropped)."""
    rows = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainerProblem(f"{path}: cannot read the {name} file ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
            if not isinstance(messages, list) or not messages:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise TrainerProblem(f"{path}:{number}: not a chat-format line ({{\"messages\": [...]}})") from None
        rows.append({"messages": messages})
    if not rows:
        raise TrainerProblem(f"{path}: the {name} file has no examples")
    return rows


def check_template(tokenizer: Any, rows: list[dict[str, Any]], path: Path, model: str) -> list[int]:
    """Render every row with the model's chat template (the first that fails is named); the token
    length of each."""
    lengths = []
    for number, row in enumerate(rows, 1):
        try:
            text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        except Exception as exc:  # jinja's TemplateError, or a role the template raises on
            detail = " ".join(str(exc).split())[:200]
            raise TrainerProblem(f"{path}:{number}: the chat template of {model} cannot render this example "
                                 f"({detail})") from None
        lengths.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return lengths


def too_long_warning(lengths: list[int], limit: int, name: str) -> str | None:
    """A warning when examples are longer than max_seq_length (their ends, the answers, are cut off)."""
    over = sum(n > limit for n in lengths)
    if not over:
        return None
    if over == len(lengths):
        raise TrainerProblem(f"every {name} example is longer than [finetune] max_seq_length = {limit} tokens "
                             f"(shortest {min(lengths)}): nothing would be left to learn; raise max_seq_length")
    return (f"warning: {over} of {len(lengths)} {name} examples are longer than max_seq_length = {limit} tokens "
            f"(longest {max(lengths)}): their ends, the answers, are cut off; raise [finetune] max_seq_length")


def has_generation_marks(tokenizer: Any) -> bool:
    template = tokenizer.chat_template
    return isinstance(template, str) and bool(GENERATION_MARK.search(template))


def as_prompt_completion(rows: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Rows as TRL's conversational prompt-completion format: the loss falls on the last assistant
    message only (for chat templates without {% generation %} marks)."""
    out = []
    for number, row in enumerate(rows, 1):
        messages = row["messages"]
        if messages[-1].get("role") != "assistant" or len(messages) < 2:
            raise TrainerProblem(f"{path}:{number}: the example does not end with an assistant message")
        out.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return out
