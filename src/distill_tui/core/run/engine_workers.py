"""The pool's worker threads: how many run, and how each takes its next row.

`engine.Pool` mixes this in: a thread is started for each slot the concurrency target opens
(`_spawn`), each takes rows (`_next`: the target, pause, the queue's retry times and the budget
decide) and hands them to `Pool._attempt`, and a thread above the target ends rather than waits.
Every method here runs with, or takes, the pool's `lock`; the state is the pool's (see `Pool`).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from distill_tui.core.run.engine_parts import Item

if TYPE_CHECKING:
    from distill_tui.core.task.requests import RowRequest


class Workers:
    """Thread management for `engine.Pool` (a mixin: the attributes are the pool's)."""

    lock: threading.Condition
    concurrency: Any
    controls: Any
    queue: Any
    tally: Any
    limiter: Any
    halt: threading.Event
    budget_left: float | None
    stop_reason: str | None
    planning: bool
    started: float
    _threads: list[threading.Thread]
    _running: int
    _names: Any
    _adjusted: float
    _estimate: Any
    shards: Any

    def _spawn(self) -> None:
        """Start threads up to the target (never more than rows left to ask); called with the lock held.

        A thread above the target ends instead of waiting (`_next`), so hundreds of idle threads never
        poll the lock."""
        wanted = min(self.concurrency.target, self._running + len(self.queue))
        if self.controls.paused:
            wanted = min(wanted, 1)  # one waits for the resume (a run may start paused)
        if wanted <= self._running:
            return
        self._threads = [t for t in self._threads if t.is_alive()]
        for _ in range(wanted - self._running):
            self._running += 1
            thread = threading.Thread(target=self._worker, name=f"distill-worker-{next(self._names)}", daemon=True)
            self._threads.append(thread)
            thread.start()


    def _adjust(self, now: float) -> None:
        """Follow the limits and latency (at most ten times a second); called with the lock held."""
        if now - self._adjusted < 0.1:
            return
        self._adjusted = now
        rows_s, _ = self.tally.rates(now, now - self.started)
        # +1: the thread calling this just released its slot and is about to take the next row.
        self.concurrency.update(self.limiter.current_rates(), self.tally.in_flight + 1, rows_s)
        self._spawn()


    def _worker(self) -> None:
        ended = False
        client = self.shards.take()
        try:
            while True:
                item = self._next()
                if item is None:
                    ended = True  # `_next` counted this thread out, under the same lock as its decision
                    return
                self._attempt(item, client)  # type: ignore[attr-defined]
        finally:
            self.shards.give_back(client)
            if not ended:
                with self.lock:
                    self._running -= 1
                    self.lock.notify_all()

    def _next(self) -> Item | None:
        """Take the next row to send and reserve its budget; None when the worker should end (it is
        then no longer counted as running)."""
        while True:
            with self.lock:
                while True:
                    if self.halt.is_set() or self.controls.cancelled:
                        return self._end()
                    if self._running > (1 if self.controls.paused else self.concurrency.target) and self.queue:
                        # Fewer in flight wanted, or paused (one thread waits; the first answer after
                        # the resume starts the others again through `_adjust`).
                        return self._end()
                    if self.controls.paused or self.tally.in_flight >= self.concurrency.target:
                        self.lock.wait(0.1)
                        continue
                    got = self.queue.pop(time.monotonic())
                    if isinstance(got, Item):
                        break
                    if got is None and self.tally.in_flight == 0 and not self.planning:
                        return self._end()
                    # A retry is not due yet, or rows in flight may come back: wait.
                    self.lock.wait(min(got, 0.1) if got is not None else 0.1)
                self.tally.in_flight += 1
            if got.tokens is None:
                if got.req.deferred:
                    try:
                        got.req = self._prepare(got.req)  # type: ignore[attr-defined,misc]
                    except Exception as exc:  # noqa: BLE001 - the same code built it while planning: a bug
                        with self.lock:
                            self._release(got)
                            self.queue.push_back(got)
                        self.stop(  # type: ignore[attr-defined]
                            "fatal", (f"cannot build the request of row {got.req.row_id}: {exc}", 1))
                        with self.lock:
                            return self._end()
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
                        return self._end()
                self.tally.reserved_usd += got.reserve_usd
            if self.limiter.acquire(got.tokens, self.halt):
                return got
            with self.lock:
                self.tally.reserved_usd -= got.reserve_usd
                self._release(got)
                self.queue.push_back(got)

    def _end(self) -> None:
        """Count the calling thread out; called with the lock held, by a thread about to end."""
        self._running -= 1
        self.lock.notify_all()
        return None

    def _estimate_safe(self, req: "RowRequest") -> tuple[int, float]:
        tokens, cost = self._estimate(req)
        return tokens, (cost or 0.0)

    def _release(self, item: Item) -> None:
        self.tally.in_flight -= 1
        self.lock.notify_all()
