"""Group commit: answers saved in small transactions by one writer thread, each durable within a
bounded delay.

Committing every answer on its own costs one fsync and one turn of the store's lock per answer;
with dozens of requests in flight the workers queue on that lock (a quarter of their time in a
profile at 32 workers). Here a worker hands its answer over and goes back to the provider; the
writer thread commits what has arrived in one transaction as soon as the first answer of a group is
`max_delay_s` old or `max_group` answers wait, and only then calls each answer's `on_saved`, which
is where the run counts it as done. So nothing is reported as saved before it is, and a process
killed outright (kill -9, power loss) loses at most the requests in flight plus the answers of one
window: `max_delay_s` plus the time of one commit.
"""

from __future__ import annotations

import atexit
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from distill_tui.core.store.database import Store

MAX_DELAY_S = 0.05
"""Longest an answer waits for its group to be committed (after that, the commit's own time)."""
MAX_GROUP = 200
"""Most answers in one commit, so a commit stays short however fast answers arrive."""


class GroupCommit:
    """A writer thread that commits `write(item)` calls in groups; see the module docstring.

    Args:
        store: The workspace store (its `transaction()` wraps each group).
        write: Writes one item inside the open transaction (e.g. `store.record_answer`).
        on_error: Called once, from the writer thread, with the exception of a group that could not
            be committed (the run should stop: the disk is full, the file is damaged); the items of
            that group and any later ones are dropped unsaved and their `on_saved` is not called.
        max_delay_s: See `MAX_DELAY_S`.
        max_group: See `MAX_GROUP`.
    """

    def __init__(
        self,
        store: "Store",
        write: Callable[[Any], None],
        *,
        on_error: Callable[[BaseException], None] | None = None,
        max_delay_s: float = MAX_DELAY_S,
        max_group: int = MAX_GROUP,
    ) -> None:
        self._store = store
        self._write = write
        self._on_error = on_error
        self.max_delay_s = max_delay_s
        self.max_group = max(1, max_group)
        self._cond = threading.Condition()
        self._queue: list[tuple[float, Any, Callable[[], None] | None]] = []
        self._submitted = 0
        self._handled = 0
        self._urgent = 0  # while > 0 a flush is waiting: commit without lingering
        self._closed = False
        self.failed: BaseException | None = None
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="distill-group-commit", daemon=True)
        self._thread.start()
        # A process that ends without closing (an exception past every handler) still saves the group.
        atexit.register(self.close)

    def submit(self, item: Any, on_saved: Callable[[], None] | None = None) -> None:
        """Queue `item`; `on_saved()` runs on the writer thread once its commit is durable.

        Raises:
            RuntimeError: the writer is closed, or an earlier group failed (see `failed`).
        """
        with self._cond:
            if self.failed is not None:
                raise RuntimeError(f"an earlier group could not be saved: {self.failed}")
            if self._closed:
                raise RuntimeError("the group commit is closed")
            self._queue.append((time.monotonic(), item, on_saved))
            self._submitted += 1
            if len(self._queue) == 1 or len(self._queue) >= self.max_group:
                # The writer waits for a first item, or for its group's deadline: woken for every answer
                # it would only go back to sleep (a thread switch per answer).
                self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Items submitted and not yet committed (or dropped)."""
        with self._cond:
            return self._submitted - self._handled

    def flush(self, timeout: float | None = None) -> bool:
        """Commit everything submitted so far now; True once it is committed (or dropped after a failure)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            self._urgent += 1
            self._cond.notify_all()
            try:
                while self._handled < target and self._thread.is_alive():
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
            finally:
                self._urgent -= 1
            return self._handled >= target

    def close(self, timeout: float | None = None) -> None:
        """Flush, then end the writer thread. Idempotent."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        atexit.unregister(self.close)

    def _next_group(self) -> list[tuple[float, Any, Callable[[], None] | None]] | None:
        with self._cond:
            while True:
                if self._queue:
                    due = self._queue[0][0] + self.max_delay_s
                    left = due - time.monotonic()
                    if left <= 0 or len(self._queue) >= self.max_group or self._urgent or self._closed:
                        group, self._queue = self._queue[: self.max_group], self._queue[self.max_group:]
                        return group
                    self._cond.wait(left)
                elif self._closed:
                    return None
                else:
                    self._cond.wait()

    def _run(self) -> None:
        while True:
            group = self._next_group()
            if group is None:
                return
            if self.failed is None:
                try:
                    with self._store.transaction():
                        for _, item, _ in group:
                            self._write(item)
                except BaseException as exc:  # noqa: BLE001 - reported to the run, which stops
                    self.failed = exc
                    if self._on_error is not None:
                        try:
                            self._on_error(exc)
                        except Exception:  # noqa: BLE001
                            pass
                else:
                    self.commits += 1
                    for _, _, on_saved in group:
                        if on_saved is not None:
                            try:
                                on_saved()
                            except Exception:  # noqa: BLE001 - a counter must not stop the saving
                                pass
            with self._cond:
                self._handled += len(group)
                self._cond.notify_all()
