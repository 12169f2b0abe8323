"""Token buckets, Go-style durations and retry delays: the parts of rate limiting that know
nothing of a pool (see `rate_limiter.RateLimiter` for the shared limiter built on them)."""

from __future__ import annotations

import email.utils
import math
import random
import re
import threading
import time
from datetime import timezone
from typing import Callable, Mapping

DEFAULT_BURST_S = 1.0
"""Seconds of allowance a bucket may hold. OpenAI enforces per-minute limits over shorter periods
(60,000 RPM may be enforced as 1,000 requests a second), so one second is the largest burst a
server can be expected to take."""

MAX_RETRY_AFTER_S = 120.0
"""The longest Retry-After honoured, as in the openai SDK (`MAX_RETRY_AFTER_DELAY`)."""

DEFAULT_PENALTY_S = 1.0
"""Pause after a 429 that came without Retry-After."""

MAX_SLEEP_S = 0.1
"""Longest single sleep while waiting, so a cancel is noticed quickly."""

SNAPSHOT_SLACK_S = 0.25
"""How far ahead of a server's `remaining` count a bucket may be, in seconds of refill; see
`RateLimiter.observe_headers`."""

_EPS = 1e-9
_UNIT_S = {
    "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9
}
_DURATION_PART = r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|μs|ns)"
_DURATION_RE = re.compile(rf"(?:{_DURATION_PART})+")
_PART_RE = re.compile(_DURATION_PART)

Clock = Callable[[], float]
Sleep = Callable[[float], None]


def parse_duration(text: str | None) -> float | None:
    """Parse a Go-style duration (`12ms`, `1s`, `6m0s`, `1m30.5s`, `2h`) or plain seconds (`0.5`).

    Returns:
        Seconds, or None when the text is missing, negative or not a duration.
    """
    if text is None:
        return None
    text = text.strip()
    plain = _number(text)
    if plain is not None:
        return plain if plain >= 0 else None
    if not _DURATION_RE.fullmatch(text):
        return None
    return sum(float(value) * _UNIT_S[unit] for value, unit in _PART_RE.findall(text))


def retry_after_from_headers(
    headers: Mapping[str, str], *, wall_clock: Clock = time.time
) -> float | None:
    """Seconds a server asked us to wait: `retry-after-ms` first, then `retry-after`.

    `retry-after` may be seconds (floats allowed) or an HTTP date, as the openai SDK accepts.

    Returns:
        Seconds (not capped; `retry_delay` and `RateLimiter.penalize` cap), or None when absent or
        unreadable.
    """
    ms = _number(_header(headers, "retry-after-ms"))
    if ms is not None and ms >= 0:
        return ms / 1000.0
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # HTTP dates are GMT
    return max(0.0, when.timestamp() - wall_clock())


def retry_delay(
    attempt: int,
    retry_after: float | None,
    *,
    base: float = 0.5,
    cap: float = 8.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry).

    A positive `retry_after` wins, capped at `MAX_RETRY_AFTER_S`. Otherwise exponential backoff,
    `min(base * 2**attempt, cap)`, shortened by up to 25 % of jitter, as the openai SDK does.
    """
    if retry_after is not None and math.isfinite(retry_after) and retry_after > 0:
        return min(retry_after, MAX_RETRY_AFTER_S)
    delay = min(base * 2.0 ** min(max(attempt, 0), 64), cap)
    return delay * (1.0 - 0.25 * rng())


class TokenBucket:
    """A thread-safe bucket refilled continuously at `rate_per_minute / 60` units a second.

    Args:
        rate_per_minute: Refill rate; must be positive.
        capacity: Most units the bucket holds. Default: `burst_s` seconds of refill, at least 1.
        initial: Units at the start. Default: a quarter of the capacity, at least 1 (not a full
            bucket, which would let the whole pool burst at start-up).
        burst_s: Seconds of refill the default capacity holds.
        clock: Monotonic time source.
        sleep: Called to wait; tests pass one that advances a fake clock.
    """

    def __init__(
        self,
        rate_per_minute: float,
        *,
        capacity: float | None = None,
        initial: float | None = None,
        burst_s: float = DEFAULT_BURST_S,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._lock = threading.RLock()  # public methods call each other under it
        self._clock = clock
        self._sleep = sleep
        self._burst_s = burst_s
        self._fixed_capacity = capacity
        self._rate = 0.0
        self._capacity = 0.0
        self._apply_rate(rate_per_minute)
        self._level = (
            min(self._capacity, max(1.0, self._capacity / 4)) if initial is None else float(initial)
        )
        self._updated = clock()

    @property
    def rate_per_minute(self) -> float:
        """The current refill rate."""
        return self._rate * 60.0

    @property
    def capacity(self) -> float:
        """The most units the bucket holds."""
        return self._capacity

    def level(self, now: float | None = None) -> float:
        """Units available now (negative while a debt is being repaid)."""
        with self._lock:
            self._refill(self._now(now))
            return self._level

    def set_rate(self, per_minute: float, now: float | None = None) -> None:
        """Change the refill rate; what accrued so far at the old rate is kept."""
        with self._lock:
            self._refill(self._now(now))
            self._apply_rate(per_minute)
            self._level = min(self._level, self._capacity)

    def ready_at(self, amount: float, now: float | None = None) -> float:
        """The clock time at which `charge(amount)` would not have to wait."""
        with self._lock:
            now = self._now(now)
            self._refill(now)
            # More than the capacity can never be in the bucket: wait until it is full instead.
            deficit = min(amount, self._capacity) - self._level
            start = max(now, self._updated)
            if deficit <= _EPS * max(1.0, amount):
                return start
            return start + deficit / self._rate

    def charge(self, amount: float, now: float | None = None) -> None:
        """Take `amount` without waiting; the level may go negative (a debt later refills repay)."""
        with self._lock:
            self._refill(self._now(now))
            self._level -= amount

    def refund(self, amount: float, now: float | None = None) -> None:
        """Give back units reserved but not used (never above the capacity)."""
        if amount <= 0:
            return
        with self._lock:
            self._refill(self._now(now))
            self._level = min(self._capacity, self._level + amount)

    def clamp(self, most: float, now: float | None = None) -> None:
        """Lower the level to at most `most`."""
        with self._lock:
            self._refill(self._now(now))
            self._level = min(self._level, most)

    def hold(self, until: float, now: float | None = None) -> None:
        """Empty the bucket and let it start refilling only at clock time `until`."""
        with self._lock:
            self._refill(self._now(now))
            self._level = min(self._level, 0.0)
            self._updated = max(self._updated, until)

    def try_acquire(self, amount: float = 1.0, now: float | None = None) -> bool:
        """Take `amount` if that needs no wait."""
        return self._take(amount, self._now(now)) == 0.0

    def acquire(self, amount: float = 1.0, cancel_event: threading.Event | None = None) -> bool:
        """Wait until `amount` can be taken, then take it.

        An amount above the capacity waits for a full bucket and then drives the level negative:
        a single request larger than the burst still goes out (rather than waiting forever), and
        the requests after it repay the excess.

        Returns:
            True once taken; False if `cancel_event` was set first (nothing is taken then).
        """
        take = lambda now: self._take(amount, now)  # noqa: E731
        return _wait_loop(take, self._clock, self._sleep, cancel_event)

    def _take(self, amount: float, now: float) -> float:
        """Take `amount` and return 0.0, or return the seconds to wait first."""
        with self._lock:
            wait = self.ready_at(amount, now) - now
            if wait > 0:
                return wait
            self.charge(amount, now)
            return 0.0

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def _refill(self, now: float) -> None:
        # Refill from the last update: absolute clock readings, so rounding never accumulates.
        if now > self._updated:
            self._level = min(self._capacity, self._level + (now - self._updated) * self._rate)
            self._updated = now

    def _apply_rate(self, per_minute: float) -> None:
        if not per_minute > 0 or not math.isfinite(per_minute):
            raise ValueError(f"rate must be a positive number, not {per_minute!r}")
        self._rate = per_minute / 60.0
        if self._fixed_capacity is not None:
            self._capacity = float(self._fixed_capacity)
        else:
            self._capacity = max(1.0, self._rate * self._burst_s)


def _wait_loop(
    attempt: Callable[[float], float],
    clock: Clock,
    sleep: Sleep,
    cancel_event: threading.Event | None = None,
) -> bool:
    """Call `attempt(now)` until it returns 0 (done), sleeping the seconds it returns in between.

    Returns:
        True when done; False as soon as `cancel_event` is set.
    """
    while True:
        if cancel_event is not None and cancel_event.is_set():
            return False
        wait = attempt(clock())
        if wait <= 0:
            return True
        sleep(min(wait, MAX_SLEEP_S))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up whatever its case (httpx headers already are; plain dicts are not)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except (TypeError, ValueError, AttributeError):
        return None
    return value if math.isfinite(value) else None
