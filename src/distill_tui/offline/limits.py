"""Per-minute token buckets for requests and tokens, and OpenAI's x-ratelimit-* headers."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

# Limits reported when none is configured (the buckets then never refuse).
NOMINAL_RPM = 10_000
NOMINAL_TPM = 30_000_000


def go_duration(seconds: float) -> str:
    """A duration written the way OpenAI's headers write it (Go's time.Duration): "120ms", "1s", "6m0s"."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        ms = max(1, math.ceil(seconds * 1000))
        return "1s" if ms >= 1000 else f"{ms}ms"
    seconds = math.ceil(seconds * 1000) / 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


class Bucket:
    """A token bucket refilled continuously at `per_minute / 60` units a second.

    It holds `window` seconds of allowance (a whole minute by default). OpenAI notes that per-minute
    limits may be enforced over shorter periods, so the server enforces a short window: a client
    that bursts a minute's worth of requests at once is refused, as it would be there.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float], window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * window)
        self.level = self.capacity
        self._clock = clock
        self._last = clock()

    def refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._last) * self.rate)
        self._last = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` units are available (after `refill`).

        A request larger than the window waits for a full bucket, then overdraws it.
        """
        amount = min(amount, self.capacity)
        if self.level >= amount:
            return 0.0
        return (amount - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level = max(-self.capacity, self.level - amount)

    def remaining_per_minute(self) -> int:
        """What is left, as the headers report it: the window's fill scaled to a minute, so a refusal
        says 0 and a full window says the whole limit."""
        return max(0, min(self.per_minute, int(self.level * self.per_minute / self.capacity)))

    def reset_seconds(self) -> float:
        """Seconds until the bucket is full again."""
        return (self.capacity - self.level) / self.rate


@dataclass
class Admission:
    """The outcome of asking to run one request."""

    ok: bool
    retry_after: float = 0.0
    kind: str = ""  # "requests" or "tokens": the limit that refused
    message: str = ""
    too_large: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class RateLimiter:
    """Admits chat requests against requests-per-minute and tokens-per-minute buckets.

    A request needs one request unit and its token estimate (prompt + max_tokens); both are taken
    on admission or none is. Unconfigured limits still count usage, so the headers move, but
    never refuse.
    """

    def __init__(
        self, rpm: int | None, tpm: int | None, clock: Callable[[], float] = time.monotonic, window: float = 1.0
    ) -> None:
        self._lock = threading.Lock()
        self.requests = Bucket(rpm or NOMINAL_RPM, clock, window)
        self.tokens = Bucket(tpm or NOMINAL_TPM, clock, window)
        self._enforce_requests = rpm is not None
        self._enforce_tokens = tpm is not None

    def admit(self, tokens: int, model: str) -> Admission:
        """Take one request and `tokens` tokens, or say how long to wait."""
        with self._lock:
            self.requests.refill()
            self.tokens.refill()
            if self._enforce_tokens and tokens > self.tokens.per_minute:
                message = (f"Request too large for {model} in organization org-offline on tokens per min (TPM): "
                           f"Limit {self.tokens.per_minute}, Requested {tokens}. The input or output tokens "
                           "must be reduced in order to run successfully.")
                return Admission(False, 0.0, "tokens", message, too_large=True, headers=self._headers())
            waits = []
            if self._enforce_requests:
                waits.append((self.requests.wait_for(1), "requests"))
            if self._enforce_tokens:
                waits.append((self.tokens.wait_for(tokens), "tokens"))
            wait, kind = max(waits, default=(0.0, ""))
            if wait > 0:
                bucket = self.requests if kind == "requests" else self.tokens
                unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
                asked = 1 if kind == "requests" else tokens
                used = bucket.per_minute - bucket.remaining_per_minute()
                message = (f"Rate limit reached for {model} in organization org-offline on {unit}: "
                           f"Limit {bucket.per_minute}, Used {used}, Requested {asked}. "
                           f"Please try again in {go_duration(wait)}.")
                return Admission(False, wait, kind, message, headers=self._headers())
            self.requests.take(1)
            self.tokens.take(tokens)
            return Admission(True, headers=self._headers())

    def headers(self) -> dict[str, str]:
        """The current x-ratelimit-* headers."""
        with self._lock:
            self.requests.refill()
            self.tokens.refill()
            return self._headers()

    def _headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.requests.per_minute),
            "x-ratelimit-limit-tokens": str(self.tokens.per_minute),
            "x-ratelimit-remaining-requests": str(self.requests.remaining_per_minute()),
            "x-ratelimit-remaining-tokens": str(self.tokens.remaining_per_minute()),
            "x-ratelimit-reset-requests": go_duration(self.requests.reset_seconds()),
            "x-ratelimit-reset-tokens": go_duration(self.tokens.reset_seconds()),
        }


def retry_headers(seconds: float) -> dict[str, str]:
    """retry-after-ms (exact) and retry-after (whole seconds, rounded up) for a 429."""
    return {"retry-after-ms": str(max(1, math.ceil(seconds * 1000))), "retry-after": str(max(1, math.ceil(seconds)))}
