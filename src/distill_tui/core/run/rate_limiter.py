"""Client-side rate limiting shared by a pool of worker threads.

One `RateLimiter` serves every worker of a run. Each worker, per request::

    if not limiter.acquire(estimated_tokens, cancel_event):
        return                                    # cancelled while waiting
    try:
        raw = send_chat(client, body)             # the SDK, with max_retries=0
    except openai.RateLimitError as exc:
        limiter.penalize(retry_delay(attempt, retry_after_from_headers(exc.response.headers)))
        ...                          # then retry: acquire again, which honours the pause
    limiter.observe_headers(raw.headers)
    limiter.reconcile(estimated_tokens, usage.total_tokens)

Unlike the cookbook's parallel processor, the buckets hold a short burst rather than a full minute
and start nearly empty, refill is computed from a monotonic clock (no per-loop drift, no busy
polling), and a 429 sets one pause shared by the whole pool instead of every worker backing off on
its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Mapping

from distill_tui.core.run.token_bucket import (
    DEFAULT_BURST_S,
    DEFAULT_PENALTY_S,
    MAX_RETRY_AFTER_S,
    MAX_SLEEP_S,
    SNAPSHOT_SLACK_S,
    Clock,
    Sleep,
    TokenBucket,
    _header,
    _number,
    _wait_loop,
    parse_duration,
)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets, a shared pause, and header feedback.

    Args:
        requests_per_minute: Explicit request limit; None for none (learned from headers when
            `learn_from_headers`).
        tokens_per_minute: Explicit token limit, likewise.
        learn_from_headers: Take limits from `x-ratelimit-limit-*` for each limit not given.
        burst_s: Seconds of allowance each bucket holds.
        backoff_factor: Rate multiplier applied on a 429 (1.0: never slow down).
        min_scale: Lowest fraction of the limits that repeated 429s can bring the rate to.
        recover_per_s: Fraction of the limits the rate regains per second after a pause ends.
        cut_grace_s: After a pause ends, 429s within this many seconds do not cut the rate again:
            they answer requests sent before the pause.
        clock: Monotonic time source.
        sleep: Called to wait.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        learn_from_headers: bool = True,
        burst_s: float = DEFAULT_BURST_S,
        backoff_factor: float = 0.9,
        min_scale: float = 0.5,
        recover_per_s: float = 0.01,
        cut_grace_s: float = 2.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._waiters_lock = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._clock = clock
        self._sleep = sleep
        self._burst_s = burst_s
        self._backoff = backoff_factor
        self._min_scale = min_scale
        self._recover_per_s = recover_per_s
        self._cut_grace_s = cut_grace_s
        self._limits: dict[str, float | None] = {
            "requests": requests_per_minute,
            "tokens": tokens_per_minute,
        }
        self._learn = {kind: learn_from_headers and v is None for kind, v in self._limits.items()}
        self._buckets: dict[str, TokenBucket | None] = {
            kind: None if limit is None else self._new_bucket(limit)
            for kind, limit in self._limits.items()
        }
        self._scale = 1.0
        self._scale_since = clock()
        self._paused_until = -math.inf
        self._no_cut_before = -math.inf

    def acquire(self, tokens: float = 0.0, cancel_event: threading.Event | None = None) -> bool:
        """Wait until one request of `tokens` estimated tokens may go out, then reserve it.

        `tokens` 0 skips the token bucket. Both buckets are debited together, so a worker never
        holds a request slot while it waits for tokens.

        Waiters queue in arrival order and only the first one polls the buckets: with hundreds of
        requests in flight, every waiter polling woke them all for each grant (a thundering herd
        that cost more CPU than the requests).

        Returns:
            True once reserved; False if `cancel_event` was set first (nothing is reserved then).
        """
        if cancel_event is not None and cancel_event.is_set():
            return False
        with self._waiters_lock:
            # Nobody waiting and nothing to wait for (the usual case under a limit far above the
            # pool's pace): reserve at once, without a place in the queue (a third of the cost).
            if not self._waiters and self._try(tokens, self._clock()) == 0.0:
                return True
        turn = threading.Event()
        with self._waiters_lock:
            self._waiters.append(turn)
            if self._waiters[0] is turn:
                turn.set()
        try:
            while not turn.wait(MAX_SLEEP_S):
                if cancel_event is not None and cancel_event.is_set():
                    return False
            return self._acquire_first(tokens, cancel_event)
        finally:
            with self._waiters_lock:
                first = self._waiters[0] is turn
                self._waiters.remove(turn)
                if first and self._waiters:
                    self._waiters[0].set()

    def _acquire_first(self, tokens: float, cancel_event: threading.Event | None) -> bool:
        """`acquire` for the waiter at the head of the queue."""

        return _wait_loop(lambda now: self._try(tokens, now), self._clock, self._sleep, cancel_event)

    def _try(self, tokens: float, now: float) -> float:
        """Reserve one request of `tokens` and return 0.0, or return the seconds to wait first."""
        with self._lock:
            self._recover(now)
            if now < self._paused_until:
                return self._paused_until - now
            wanted = self._wanted(tokens)
            ready = max((b.ready_at(amount, now) for b, amount in wanted), default=now)
            if ready > now:
                return ready - now
            for bucket, amount in wanted:
                bucket.charge(amount, now)
            return 0.0

    def reconcile(self, reserved_tokens: float, actual_tokens: float) -> None:
        """Correct the token bucket once a request's real usage is known."""
        bucket = self._buckets["tokens"]
        if bucket is None:
            return
        if actual_tokens < reserved_tokens:
            bucket.refund(reserved_tokens - actual_tokens)
        elif actual_tokens > reserved_tokens:
            bucket.charge(actual_tokens - reserved_tokens)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Learn from a response's `x-ratelimit-*` headers.

        - `limit-*` sets a limit the constructor did not get. Values <= 0 (Azure sends -1 and 0
          when it has none) make the whole group for that kind be ignored.
        - `remaining-*` caps the bucket at `remaining` plus `SNAPSHOT_SLACK_S` of refill. It only
          stops bursts the server could not take: the count is a snapshot from when the server
          answered, and cutting the refill since then would leave every paced request late.
          Waiting for `reset` is not done: OpenAI's reset is when the limit is *fully* restored
          (a minute at remaining 0), not when the next request is allowed, and fixed-window servers
          answer an overshoot with a 429 whose Retry-After `penalize` honours.
        - With no limit known for that kind, remaining 0 pauses the pool until `reset`.
        """
        now = self._clock()
        with self._lock:
            for kind in ("requests", "tokens"):
                limit = _number(_header(headers, f"x-ratelimit-limit-{kind}"))
                if limit is not None and limit <= 0:
                    continue
                if limit is not None and self._learn[kind] and limit != self._limits[kind]:
                    self._limits[kind] = limit
                    self._apply_limit(kind, now)
                remaining = _number(_header(headers, f"x-ratelimit-remaining-{kind}"))
                if remaining is None or remaining < 0:
                    continue
                bucket = self._buckets[kind]
                if bucket is not None:
                    bucket.clamp(remaining + bucket.rate_per_minute / 60.0 * SNAPSHOT_SLACK_S, now)
                elif remaining < 1:
                    reset = parse_duration(_header(headers, f"x-ratelimit-reset-{kind}"))
                    if reset:
                        self._pause_until(now + min(reset, MAX_RETRY_AFTER_S), now)

    def penalize(self, retry_after_s: float | None) -> None:
        """React to a 429: pause the whole pool for `retry_after_s`, and slow down a little.

        None (the server gave no Retry-After) pauses for `DEFAULT_PENALTY_S`; the pause is capped
        at `MAX_RETRY_AFTER_S`.

        Concurrent 429s extend one shared pause (the latest end wins) instead of adding up. The rate
        is multiplied by `backoff_factor` at most once per pause (plus `cut_grace_s`), and climbs
        back by `recover_per_s` of the limits each second once the pause ends. Both buckets restart
        empty after the pause, so the pool resumes at the paced rate rather than in a burst.
        """
        now = self._clock()
        if retry_after_s is None:
            retry_after_s = DEFAULT_PENALTY_S
        wait = retry_after_s if math.isfinite(retry_after_s) else MAX_RETRY_AFTER_S
        wait = min(max(wait, 0.0), MAX_RETRY_AFTER_S)
        with self._lock:
            self._recover(now)
            self._pause_until(now + wait, now)
            if now >= self._no_cut_before:
                self._scale = max(self._min_scale, self._scale * self._backoff)
                self._scale_since = self._paused_until
                self._no_cut_before = self._paused_until + self._cut_grace_s
                for kind in self._buckets:
                    self._apply_limit(kind, now)

    def current_rates(self) -> dict[str, float | None]:
        """What the progress display shows.

        Returns:
            `requests_per_min` and `tokens_per_min` (the rates paced now, after any slow-down;
            None when unlimited), `paused_until` (clock time, None when not paused), `paused_for_s`
            (seconds of pause left) and `scale` (the slow-down factor, 1.0 at full speed).
        """
        now = self._clock()
        with self._lock:
            self._recover(now)
            paused = now < self._paused_until
            return {
                "requests_per_min": self._rate_of("requests"),
                "tokens_per_min": self._rate_of("tokens"),
                "paused_until": self._paused_until if paused else None,
                "paused_for_s": self._paused_until - now if paused else 0.0,
                "scale": self._scale,
            }

    def _wanted(self, tokens: float) -> list[tuple[TokenBucket, float]]:
        wanted = []
        if self._buckets["requests"] is not None:
            wanted.append((self._buckets["requests"], 1.0))
        if self._buckets["tokens"] is not None and tokens > 0:
            wanted.append((self._buckets["tokens"], float(tokens)))
        return wanted

    def _pause_until(self, until: float, now: float) -> None:
        self._paused_until = max(self._paused_until, until)
        for bucket in self._buckets.values():
            if bucket is not None:
                bucket.hold(self._paused_until, now)

    def _recover(self, now: float) -> None:
        if self._scale >= 1.0 or now <= self._scale_since:
            return
        self._scale = min(1.0, self._scale + (now - self._scale_since) * self._recover_per_s)
        self._scale_since = now
        for kind in self._buckets:
            self._apply_limit(kind, now)

    def _apply_limit(self, kind: str, now: float) -> None:
        limit = self._limits[kind]
        if limit is None:
            return
        bucket = self._buckets[kind]
        if bucket is None:
            bucket = self._buckets[kind] = self._new_bucket(limit * self._scale)
            if now < self._paused_until:
                bucket.hold(self._paused_until, now)
        else:
            bucket.set_rate(limit * self._scale, now)

    def _rate_of(self, kind: str) -> float | None:
        bucket = self._buckets[kind]
        return None if bucket is None else bucket.rate_per_minute

    def _new_bucket(self, per_minute: float) -> TokenBucket:
        return TokenBucket(per_minute, burst_s=self._burst_s, clock=self._clock, sleep=self._sleep)
