"""Shared pieces of the offline provider: options, API errors, ids and list pages."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

ORGANIZATION = "org-offline"
_ALPHABET = string.ascii_letters + string.digits
MAX_PAGE = 1000
FAULTS = ("500", "502", "429", "not-json", "bad-json", "no-choices")
"""What `--fault` can make an injected fault answer."""


@dataclass
class OfflineOptions:
    """How the offline provider behaves.

    Attributes:
        host: the interface to listen on.
        port: the port; 0 picks a free one.
        rpm: requests per minute allowed on chat completions (None: unlimited).
        tpm: tokens per minute (prompt + max_tokens, charged on admission; None: unlimited).
        latency: seconds added to every admitted chat request.
        fail_rate: probability of an injected fault per chat request (seeded, so runs repeat).
        fault: what an injected fault answers (one of `FAULTS`): "500" (default), "502", "429" (a
            rate limit with Retry-After: with fail_rate 1, a provider that answers only 429), or a 200
            whose body is broken: "not-json" (an HTML page), "bad-json" (cut-off JSON), "no-choices"
            (JSON without `choices`).
        odd_jobs: fine-tuning jobs carry provider text where numbers belong (trained_tokens,
            created_at, estimated_finish, metrics, checkpoint steps), as a proxy or a young
            provider might answer; a job with the suffix "fail" fails with a multi-line error.
        burst_seconds: the window the rate limits are enforced over (OpenAI may enforce per-minute
            limits over shorter periods); 60 lets a client burst a whole minute's allowance.
        job_seconds: rough wall time of a fine-tuning job, all phases.
        batch_seconds: rough wall time of a batch (Batch API), all phases; longer when its lines
            take longer (latency, rate limits).
        require_key: answer 401 unless the request carries "Authorization: Bearer <something>".
        api_key: with `require_key`, the one key accepted (401 invalid_api_key for any other).
        refuse_training: answer fine-tuning job creation with OpenAI's 403 training_not_available.
        echo_key: refuse every request's key with a 401 that repeats the whole key, as some proxies
            do: rehearses a key leaking through an error message.
        knowledge: the labelled file the base models learn from (default: the bundled knowledge.csv).
        label: the label column of `knowledge` (default "variety").
        text_columns: the columns models read (default: all but the label and "id").
        failing_models: models that answer every chat request with a 500.
        seed: seeds fault injection, the student's sample of the knowledge and job shuffling.
        judge_position_bias: the probability that `offline-judge` prefers the answer shown first in a
            pairwise request, whatever the answers (rehearses position bias and the swap logic).
        state_dir: a folder where files, jobs, batches, fine-tuned models and stored completions are
            kept across restarts (None: in memory only). Unfinished jobs and batches resume when the
            provider restarts.

    Injected failures happen before the rate limits are charged, so they cost no quota.
    """

    host: str = "127.0.0.1"
    port: int = 0
    rpm: int | None = None
    tpm: int | None = None
    latency: float = 0.0
    fail_rate: float = 0.0
    fault: str = "500"
    odd_jobs: bool = False
    burst_seconds: float = 1.0
    job_seconds: float = 6.0
    batch_seconds: float = 3.0
    require_key: bool = False
    api_key: str | None = None  # with require_key: the only key accepted
    refuse_training: bool = False
    echo_key: bool = False
    knowledge: Path | None = None
    label: str | None = None
    text_columns: list[str] | None = None
    failing_models: list[str] = field(default_factory=list)
    seed: int = 0
    state_dir: Path | None = None
    judge_position_bias: float = 0.0


class ApiError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def new_id(prefix: str, length: int = 24) -> str:
    """A random id in OpenAI's style, e.g. "file-" followed by letters and digits."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> int:
    return int(time.time())


def query_value(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def query_limit(query: Mapping[str, list[str]], default: int = 20) -> int:
    raw = query_value(query, "limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid 'limit': expected an integer, got '{raw}'.", param="limit") from None
    if limit < 1:
        raise ApiError(400, f"Invalid 'limit': must be at least 1, got {limit}.", param="limit")
    return min(limit, MAX_PAGE)


def query_metadata(query: Mapping[str, list[str]]) -> dict[str, str]:
    """The `metadata[key]=value` filters of a query string (the SDK's bracket format)."""
    found = {}
    for key, values in query.items():
        if key.startswith("metadata[") and key.endswith("]") and values:
            found[key[len("metadata[") : -1]] = values[-1]
    return found


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str] | None:
    """Validate a metadata object as OpenAI does: at most 16 string pairs, keys ≤ 64, values ≤ 512."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, f"Invalid type for '{param}': expected an object.", param=param)
    if len(value) > 16:
        raise ApiError(400, f"Invalid '{param}': at most 16 keys are allowed.", param=param)
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 64 or len(item) > 512:
            raise ApiError(
                400, f"Invalid '{param}.{key}': values must be strings of at most 512 characters "
                "and keys at most 64 characters.", param=param)
    return dict(value)


def cursor_page(
    items: Sequence[dict], query: Mapping[str, list[str]], *, id_of: Callable[[dict], str] = lambda item: item["id"]
) -> dict[str, Any]:
    """One page of a cursor-paginated list (`after`, `limit`), in the SDK's SyncCursorPage shape.

    `items` must already be in listing order; `after` names the last item of the previous page.
    """
    limit = query_limit(query)
    after = query_value(query, "after")
    start = 0
    if after:
        ids = [id_of(item) for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    page = list(items[start : start + limit])
    return {
        "object": "list",
        "data": page,
        "first_id": id_of(page[0]) if page else None,
        "last_id": id_of(page[-1]) if page else None,
        "has_more": start + limit < len(items),
    }
