"""The threaded request engine behind teacher generation and evaluation.

A pool of threads shares one sync `openai` client (SDK retries off), one set of rate limits
(`Limits`: the spec's and the provider's, learned from `x-ratelimit-*` headers) and one queue of
rows. How many requests are in flight follows the limits and the measured latency
(`concurrency.Concurrency`; `[generation] workers` only caps it): a thread is started for each
slot the target opens, and a thread above the target waits. Each row is asked once; a failed
attempt goes back on the queue with its own backoff (a retry never holds a worker asleep), and a
429 pauses the whole pool through the limiter. Every answer is handed to the group commit
(`store.group_commit`) the moment it arrives and counted as done only once its commit is durable,
so a crash loses at most the requests in flight plus one commit window. The threads themselves
(how many run, how each takes its next row) are `engine_workers.Workers`; this module is what an
attempt's answer or error does, and the run's start, stop and wait.

Why threads, not `AsyncOpenAI`: measured side by side on this engine's 2-CPU machine
(benchmarks/bench_ceiling.py), the bare sync SDK in 32 threads and the async SDK with 32 tasks
did 474 and 493 rows/s at 1.69 and 1.67 CPU-s per 1,000 rows; at 200 in flight and 1 s latency,
186 and 173 rows/s at 2.09 and 2.24 CPU-s. Equal within noise, so the engine keeps the threads its
controls, signals and budget already rely on.

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

import itertools
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.provider.chat_call import read_completion, send_chat
from distill_tui.core.run.client_shards import ClientShards
from distill_tui.core.run.concurrency import Concurrency
from distill_tui.core.run.engine_parts import (  # noqa: F401 - Outcome, Tally: imported from here too
    RATE_LIMIT_RETRIES,
    RATE_WINDOW_S,
    RECENT,
    Controls,
    Item,
    Limits,
    Outcome,
    RecentErrors,
    RowQueue,
    Tally,
    classify,
    explain_line,
    failure_kind,
    give_up_line,
)
from distill_tui.core.run.engine_workers import Workers
from distill_tui.core.run.rate_limiter import RateLimiter
from distill_tui.core.run.token_bucket import retry_after_from_headers, retry_delay

if TYPE_CHECKING:
    from distill_tui.core.store.group_commit import GroupCommit
    from distill_tui.core.task.requests import RowRequest

MAX_OUTAGE_S = 60.0
"""Default `give_up_s`: a run gives up on its provider only after failures with no answer for this long."""
OUTAGE_PAUSE_CAP_S = 2.0
"""Longest pause of the whole pool while every worker keeps failing (5xx, timeouts, refused)."""
OUTAGE_STREAK = 8
"""Fewest failures in a row taken as an outage (the pool pauses), however few requests are in flight:
at 2 in flight (a fast server under a low limit) two 500s in a row out of 5 % happen every few
seconds, and each such pause slowed the whole run (to 88 % of its limit)."""


WHOLE_QUEUED = 10_000
"""Rows queued with their whole request before later ones are queued by their fields (`Pool.add`)."""


class Pool(Workers):
    """Runs a list of row requests through worker threads; see the module docstring.

    Args:
        client: A sync `openai` client (retries off).
        reqs: The rows to ask, in order.
        limiter: Shared rate limiter (`Limits` or a `RateLimiter`).
        workers: Most requests in flight (`[generation] workers`); None: `concurrency.DEFAULT_CAP`.
        max_retries: Retries per row for 5xx, timeouts and connection errors.
        controls: Pause/resume/cancel.
        estimate: `req -> (tokens to reserve, worst-case cost or None)`, called outside the lock.
        build_ok: `(req, raw, completion, latency_s, attempts) -> (record, Outcome)`: parse an answer.
        build_failed: `(req, line, attempts) -> record`: a failed row.
        writer: Commits the records (`GroupCommit`: `submit(record, on_saved)`, `flush()`); a row
            counts as done or failed only in its `on_saved`.
        budget_left: USD the run may still spend (None: no budget).
        rows_succeeded: Whether rows with this request shape already got answers (see `classify`).
        give_up_s: Stop the run when nothing but failed attempts came back for this long (and at
            least `max_error_streak` of them); None: `MAX_OUTAGE_S`.
        planning: More rows are still being planned: they come through `add`, and the pool runs
            until `planned` says there are no more.
    """

    def __init__(
        self,
        client: Any,
        reqs: list["RowRequest"],
        *,
        limiter: "Limits | RateLimiter",
        workers: int | None,
        max_retries: int,
        controls: Controls,
        estimate: Callable[["RowRequest"], tuple[int, float | None]],
        build_ok: Callable[..., tuple[Any, Outcome]],
        build_failed: Callable[["RowRequest", str, int], Any],
        writer: "GroupCommit",
        budget_left: float | None = None,
        rows_succeeded: bool = False,
        give_up_s: float | None = None,
        planning: bool = False,
        prepare: Callable[["RowRequest"], "RowRequest"] | None = None,
        make_client: Callable[[], Any] | None = None,
    ) -> None:
        self.shards = ClientShards(client, make_client)  # a connection pool per SHARD_THREADS threads
        self._prepare = prepare  # builds a deferred request's body (`RowRequest.defer`) as it is taken
        self.limiter = limiter
        self.concurrency = Concurrency(workers)
        self.max_retries = max_retries
        self.controls = controls
        self._estimate, self._build_ok, self._build_failed = estimate, build_ok, build_failed
        self.writer = writer
        self.budget_left = budget_left
        self.rows_succeeded = rows_succeeded
        self.queue = RowQueue(reqs)
        self.tally = Tally()
        self.lock = threading.Condition()
        self.halt = threading.Event()  # no new requests (cancel, fatal, budget)
        self.stop_reason: str | None = None  # "cancelled" | "budget" | "fatal"
        self.fatal: tuple[str, int] | None = None
        self.stop_message: str | None = None  # why, when the reason alone does not say
        self.give_up_s = MAX_OUTAGE_S if give_up_s is None else give_up_s
        self.gave_up = False  # the run stopped because the provider answered nothing but errors
        self.started = time.monotonic()
        self._threads: list[threading.Thread] = []
        self._running = 0  # threads started and not ended (under the lock)
        self._names = itertools.count()
        self._adjusted = 0.0
        self.planning = planning
        self._planned = threading.Event()
        if not planning:
            self._planned.set()

    @property
    def workers(self) -> int:
        """Requests in flight wanted now (the concurrency target)."""
        return self.concurrency.target

    @property
    def max_error_streak(self) -> int:
        return max(20, 3 * self.workers)

    # lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.started = time.monotonic()
        with self.lock:
            self.concurrency.update(self.limiter.current_rates(), 0, 0.0)
            self._spawn()

    def add(self, reqs: list["RowRequest"]) -> None:
        """More rows to ask, planned while the pool runs (they go after the rows queued).

        Planning runs far ahead of the requests (seconds for 130k rows, hours to ask them). Past
        `WHOLE_QUEUED` rows waiting, a row is queued by its fields only (`RowRequest.defer`: about
        1.5 KB instead of 7 with the cookbook's labels list in every prompt; 6.6 GB of queue at a
        million rows otherwise) and `prepare` builds its body again as it is taken (~30 us).
        """
        with self.lock:
            room = max(0, WHOLE_QUEUED - len(self.queue)) if self._prepare is not None else len(reqs)
            if room < len(reqs):
                reqs = reqs[:room] + [req.defer() for req in reqs[room:]]
            self.queue.extend(reqs)
            if self.stop_reason is None and self._threads:
                self._spawn()
            self.lock.notify_all()

    def planned(self) -> None:
        """Every row is planned: the pool ends once they are asked."""
        with self.lock:
            self.planning = False
            self.lock.notify_all()
        self._planned.set()

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for every worker to end and their answers to be committed; True once so."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.controls.cancelled:
            self.stop("cancelled")
        if self.alive():
            return False
        if not self._planned.wait(max(0.0, deadline - time.monotonic())):
            return False
        return self.writer.flush(max(0.0, deadline - time.monotonic()))

    def stop(self, reason: str, fatal: tuple[str, int] | None = None) -> None:
        """Send nothing more; the first reason given is the one reported."""
        with self.lock:
            if self.stop_reason is None:
                self.stop_reason = reason
                self.fatal = fatal
            self.lock.notify_all()
        self.halt.set()

    def _attempt(self, item: Item, client: Any) -> None:
        item.attempts += 1
        with self.lock:
            self.tally.requests += 1
        started, cpu_started = time.monotonic(), time.thread_time()
        try:
            raw = send_chat(client, item.req.body)
            completion = read_completion(raw)
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            self._on_error(item, exc)
            return
        latency = time.monotonic() - started
        self.limiter.observe_headers(raw.headers)
        try:
            record, outcome = self._build_ok(item.req, raw, completion, latency, item.attempts)
            self._submit(record, lambda: self._saved(item, outcome))
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
            self.concurrency.observe(latency, outcome.total_tokens, time.thread_time() - cpu_started)
            tally.error_streak = 0
            tally.streak_kinds.clear()
            tally.input_tokens += outcome.prompt_tokens
            tally.output_tokens += outcome.completion_tokens
            tally.cached_tokens += outcome.cached_tokens
            if outcome.cost_usd is None:
                tally.cost_known = False
            else:
                tally.cost_usd += outcome.cost_usd
            self.rows_succeeded = True
            self._release(item)
            self._adjust(now)

    def _submit(self, record: Any, on_saved: Callable[[], None]) -> None:
        """Hand a record to the writer, counted as saving until its commit."""
        with self.lock:
            self.tally.saving += 1
        try:
            self.writer.submit(record, on_saved)
        except BaseException:
            with self.lock:
                self.tally.saving -= 1
            raise

    def _saved(self, item: Item, outcome: Outcome) -> None:
        """An answer's commit is durable (on the writer thread): only now is its row done."""
        with self.lock:
            tally = self.tally
            tally.saving -= 1
            if outcome.failed:
                tally.failed += 1
            else:
                tally.ok += 1
            tally.answered(time.monotonic(), outcome.total_tokens)
            tally.last_answers.append((item.req.row_id, outcome.label, item.req.gold))
            if item.attempts > 1:
                tally.last_errors.answered(item.req.row_id)
            self.lock.notify_all()

    def _on_error(self, item: Item, exc: BaseException) -> None:
        """Classify a failed attempt: requeue the row, fail it, or stop the run."""
        kind = classify(exc, rows_succeeded=self.rows_succeeded)
        line, code = explain_line(exc)
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        if 400 <= (getattr(exc, "status_code", None) or 0) < 500:
            # Refused before any work (a 429, a request too large, a bad request): no tokens were
            # used, and keeping them reserved would hold the next requests back (a minute and more
            # behind one too-large request at a small token limit). Before the headers: what they
            # say remains is the last word.
            self.limiter.reconcile(item.tokens or 0, 0)
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
                    if self.concurrency.limit_rate(self.limiter.current_rates()) is None:
                        self.concurrency.back_off()  # no limit paces the pool: fewer in flight
            elif kind == "retry":
                item.errors += 1
                streak = max(OUTAGE_STREAK, self.workers)
                if tally.error_streak >= streak:
                    # Everyone is failing: the provider is down or overloaded. Slow the whole pool
                    # (a refused connection fails in microseconds) rather than each row on its own.
                    rounds = tally.error_streak // streak
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
            self._submit(self._build_failed(item.req, line, item.attempts), self._failed_saved)
        except Exception as exc:  # noqa: BLE001
            self.stop("fatal", (f"cannot save a failed row: {explain_line(exc)[0]}", 1))
        with self.lock:
            self._release(item)

    def _failed_saved(self) -> None:
        with self.lock:
            self.tally.saving -= 1
            self.tally.failed += 1
            self.lock.notify_all()

