"""The threaded request engine behind teacher generation and evaluation.

A pool of `workers` threads shares one sync `openai` client (SDK retries off), one set of rate
limits (`Limits`: the spec's and the provider's, learned from `x-ratelimit-*` headers) and one
queue of rows. Each row is asked once; a failed attempt goes back on the queue with its own
backoff (a retry never holds a worker asleep), and a 429 pauses the whole pool through the limiter.
Every answer is committed to the store by the worker that received it, before anything else
happens, so a crash loses at most the requests in flight.

What stops a run:
- `Controls.cancel()`: no new requests; those in flight finish and are saved.
- A fatal error (`classify` says so: bad key, no permission, unknown model, no quota, a 400 that
  is the request's shape rather than the row's): the same.
- Giving up: `max_error_streak` failed attempts in a row (429s, 5xx, timeouts, refused connections,
  broken 200s alike) and no answer for `give_up_s` seconds, i.e. a provider that is down or lets
  nothing through; the run stops as "fatal" with one line saying what it answered and for how long.
- The budget: a request is sent only when the spend so far plus what is reserved for requests in
  flight plus this request's worst case (prompt estimate + max tokens) stays within it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.run.engine_parts import (
    RATE_LIMIT_RETRIES,
    Controls,
    Item,
    Limits,
    RecentErrors,
    RowQueue,
    classify,
    explain_line,
    failure_kind,
    give_up_line,
    read_completion,
)
from distill_tui.core.run.rate_limiter import RateLimiter
from distill_tui.core.run.token_bucket import retry_after_from_headers, retry_delay

if TYPE_CHECKING:
    from distill_tui.core.task.requests import RowRequest

RECENT = 8
"""How many recent answers and errors a progress snapshot carries."""

RATE_WINDOW_S = 10.0
"""Rows/s and tokens/s are measured over this many recent seconds."""
MAX_OUTAGE_S = 60.0
"""Default `give_up_s`: a run gives up on its provider only after failures with no answer for this long."""
OUTAGE_PAUSE_CAP_S = 2.0
"""Longest pause of the whole pool while every worker keeps failing (5xx, timeouts, refused)."""


@dataclass
class Tally:
    """Counters of one run, updated under the pool's lock."""

    ok: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # of input_tokens, those the provider read from its prompt cache
    cost_usd: float = 0.0
    cost_known: bool = True
    in_flight: int = 0
    reserved_usd: float = 0.0
    error_streak: int = 0  # failed attempts (429, 5xx, timeouts, connection…) since the last answer
    failing_since: float = 0.0  # when that streak began
    streak_kinds: Counter = field(default_factory=Counter)  # what those attempts were ("429", "502"…)
    recent: deque = field(default_factory=lambda: deque())  # (time, tokens) of recent answers
    last_errors: RecentErrors = field(default_factory=lambda: RecentErrors(RECENT))
    last_answers: deque = field(default_factory=lambda: deque(maxlen=RECENT))

    def rates(self, now: float, elapsed: float) -> tuple[float, float]:
        while self.recent and self.recent[0][0] < now - RATE_WINDOW_S:
            self.recent.popleft()
        span = min(RATE_WINDOW_S, elapsed)
        if span <= 0.2:
            return 0.0, 0.0
        return len(self.recent) / span, sum(t for _, t in self.recent) / span


@dataclass
class Outcome:
    """What a worker hands back for one successful request."""

    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    label: str | None
    failed: str | None = None  # paid for, but saved as a failed row: why (e.g. the budget spent on reasoning)
    cached_tokens: int = 0  # of prompt_tokens, those billed at the cached-input price


class Pool:
    """Runs a list of row requests through worker threads; see the module docstring.

    Args:
        client: A sync `openai` client (retries off).
        reqs: The rows to ask, in order.
        limiter: Shared rate limiter (`Limits` or a `RateLimiter`).
        workers: Thread count.
        max_retries: Retries per row for 5xx, timeouts and connection errors.
        controls: Pause/resume/cancel.
        estimate: `req -> (tokens to reserve, worst-case cost or None)`, called outside the lock.
        save_ok: `(req, raw, completion, latency_s, attempts) -> Outcome`: parse and commit an answer.
        save_failed: `(req, line, attempts) -> None`: commit a failed row.
        budget_left: USD the run may still spend (None: no budget).
        rows_succeeded: Whether rows with this request shape already got answers (see `classify`).
        give_up_s: Stop the run when nothing but failed attempts came back for this long (and at
            least `max_error_streak` of them); None: `MAX_OUTAGE_S`.
    """

    def __init__(
        self,
        client: Any,
        reqs: list["RowRequest"],
        *,
        limiter: "Limits | RateLimiter",
        workers: int,
        max_retries: int,
        controls: Controls,
        estimate: Callable[["RowRequest"], tuple[int, float | None]],
        save_ok: Callable[..., Outcome],
        save_failed: Callable[["RowRequest", str, int], None],
        budget_left: float | None = None,
        rows_succeeded: bool = False,
        give_up_s: float | None = None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.workers = max(1, workers)
        self.max_retries = max_retries
        self.controls = controls
        self._estimate, self._save_ok, self._save_failed = estimate, save_ok, save_failed
        self.budget_left = budget_left
        self.rows_succeeded = rows_succeeded
        self.queue = RowQueue(reqs)
        self.tally = Tally()
        self.lock = threading.Condition()
        self.halt = threading.Event()  # no new requests (cancel, fatal, budget)
        self.stop_reason: str | None = None  # "cancelled" | "budget" | "fatal"
        self.fatal: tuple[str, int] | None = None
        self.stop_message: str | None = None  # why, when the reason alone does not say
        self.max_error_streak = max(20, 3 * self.workers)
        self.give_up_s = MAX_OUTAGE_S if give_up_s is None else give_up_s
        self.gave_up = False  # the run stopped because the provider answered nothing but errors
        self.started = time.monotonic()
        self._threads: list[threading.Thread] = []

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.started = time.monotonic()
        n = min(self.workers, max(1, len(self.queue)))
        for i in range(n):
            thread = threading.Thread(target=self._worker, name=f"distill-worker-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for every worker to end; True once they have."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.controls.cancelled:
            self.stop("cancelled")
        return not self.alive()

    def stop(self, reason: str, fatal: tuple[str, int] | None = None) -> None:
        """Send nothing more; the first reason given is the one reported."""
        with self.lock:
            if self.stop_reason is None:
                self.stop_reason = reason
                self.fatal = fatal
            self.lock.notify_all()
        self.halt.set()

    # the worker ---------------------------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            self._attempt(item)

    def _next(self) -> Item | None:
        """Take the next row to send and reserve its budget; None when the worker should end."""
        while True:
            with self.lock:
                while True:
                    if self.halt.is_set() or self.controls.cancelled:
                        return None
                    if self.controls.paused:
                        self.lock.wait(0.1)
                        continue
                    got = self.queue.pop(time.monotonic())
                    if isinstance(got, Item):
                        break
                    if got is None and self.tally.in_flight == 0:
                        self.lock.notify_all()
                        return None
                    # A retry is not due yet, or rows in flight may come back: wait.
                    self.lock.wait(min(got, 0.1) if got is not None else 0.1)
                self.tally.in_flight += 1
            if got.tokens is None:
                got.tokens, got.reserve_usd = self._estimate_safe(got.req)
            with self.lock:
                if self.budget_left is not None:
                    committed = self.tally.cost_usd + self.tally.reserved_usd
                    if committed + got.reserve_usd > self.budget_left:
                        self._release(got)
                        self.queue.push_back(got)
                        if self.stop_reason is None:
                            self.stop_reason = "budget"
                        self.halt.set()
                        return None
                self.tally.reserved_usd += got.reserve_usd
            if self.limiter.acquire(got.tokens, self.halt):
                return got
            with self.lock:
                self.tally.reserved_usd -= got.reserve_usd
                self._release(got)
                self.queue.push_back(got)

    def _estimate_safe(self, req: "RowRequest") -> tuple[int, float]:
        tokens, cost = self._estimate(req)
        return tokens, (cost or 0.0)

    def _release(self, item: Item) -> None:
        self.tally.in_flight -= 1
        self.lock.notify_all()

    def _attempt(self, item: Item) -> None:
        item.attempts += 1
        with self.lock:
            self.tally.requests += 1
        started = time.monotonic()
        try:
            raw = self.client.chat.completions.with_raw_response.create(**item.req.body)
            completion = read_completion(raw)
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            self._on_error(item, exc)
            return
        latency = time.monotonic() - started
        self.limiter.observe_headers(raw.headers)
        try:
            outcome = self._save_ok(item.req, raw, completion, latency, item.attempts)
        except Exception as exc:  # noqa: BLE001 - a store that cannot write must stop the run
            with self.lock:
                self.tally.reserved_usd -= item.reserve_usd
                self._release(item)
            self.stop("fatal", (f"cannot save an answer: {explain_line(exc)[0]}", 1))
            return
        self.limiter.reconcile(item.tokens or 0, outcome.total_tokens)
        now = time.monotonic()
        with self.lock:
            tally = self.tally
            tally.reserved_usd -= item.reserve_usd
            if outcome.failed:
                tally.failed += 1
            else:
                tally.ok += 1
            tally.error_streak = 0
            tally.streak_kinds.clear()
            tally.input_tokens += outcome.prompt_tokens
            tally.output_tokens += outcome.completion_tokens
            tally.cached_tokens += outcome.cached_tokens
            if outcome.cost_usd is None:
                tally.cost_known = False
            else:
                tally.cost_usd += outcome.cost_usd
            tally.recent.append((now, outcome.total_tokens))
            tally.last_answers.append((item.req.row_id, outcome.label, item.req.gold))
            if item.attempts > 1:
                tally.last_errors.answered(item.req.row_id)
            self.rows_succeeded = True
            self._release(item)

    def _on_error(self, item: Item, exc: BaseException) -> None:
        """Classify a failed attempt: requeue the row, fail it, or stop the run."""
        kind = classify(exc, rows_succeeded=self.rows_succeeded)
        line, code = explain_line(exc)
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        if headers:
            self.limiter.observe_headers(headers)
        retry_after = retry_after_from_headers(headers)
        now = time.monotonic()
        with self.lock:
            tally = self.tally
            tally.reserved_usd -= item.reserve_usd
            counted = kind in ("rate_limited", "retry")  # what an outage answers; a row's own fault is not
            if counted:
                tally.error_streak += 1
                if tally.error_streak == 1:
                    tally.failing_since = now
                tally.streak_kinds[failure_kind(exc)] += 1
            if kind == "rate_limited":
                tally.rate_limited += 1
                item.rate_limited += 1
                if item.rate_limited > RATE_LIMIT_RETRIES:
                    kind = "row"
                else:
                    # One pause for the whole pool; the row itself is due again at once.
                    self.limiter.penalize(retry_delay(item.rate_limited - 1, retry_after))
            elif kind == "retry":
                item.errors += 1
                if tally.error_streak >= self.workers:
                    # Everyone is failing: the provider is down or overloaded. Slow the whole pool
                    # (a refused connection fails in microseconds) rather than each row on its own.
                    rounds = tally.error_streak // self.workers
                    self.limiter.penalize(min(OUTAGE_PAUSE_CAP_S, 0.25 * 2 ** (rounds - 1)))
                if item.errors > self.max_retries:
                    kind = "row"
            outage = now - tally.failing_since
            if counted and tally.error_streak >= self.max_error_streak and outage >= self.give_up_s:
                # One rule for every outage (429s, 5xx, timeouts, broken bodies): stop, do not burn
                # retries; every answer so far is saved and the next run resumes.
                kind, code, self.gave_up = "fatal", 1, True
                line = give_up_line(tally.streak_kinds, outage, tally.error_streak, line)
            if kind != "fatal":
                self.tally.last_errors.add(item.req.row_id, line, final=kind == "row")
            if kind in ("rate_limited", "retry"):
                self.tally.retries += 1
                due = now if kind == "rate_limited" else now + retry_delay(item.errors - 1, retry_after)
                self.queue.later(item, due)
                self._release(item)
                return
            if kind == "fatal":
                self.queue.push_back(item)
                self._release(item)
        if kind == "fatal":
            self.stop("fatal", (line, code))
        else:
            self._fail_row(item, line)

    def _fail_row(self, item: Item, line: str) -> None:
        """Save a row as failed (asked again on the next run)."""
        try:
            self._save_failed(item.req, line, item.attempts)
        except Exception as exc:  # noqa: BLE001
            self.stop("fatal", (f"cannot save a failed row: {explain_line(exc)[0]}", 1))
        with self.lock:
            self.tally.failed += 1
            self._release(item)

