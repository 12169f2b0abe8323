"""A run's requests, planned as they are asked: the first rows go out while the rest are still built.

Building every row's request and hash takes seconds at 130k rows (the prompt rendered, its JSON
hashed), so `generate` would wait that long before its first request. `RequestPlanner` walks the
rows once, in order, and sorts each into what the run does with it: too long for the model's
context window (left out), answered already (its key, the row and prompt hash, is in the store:
never asked again), waiting in a Batch API batch (paid for: never asked here), failed before, or to
ask. `take` plans synchronously until the first rows to ask are found; `plan_rest` plans the rest
on a background thread, handing each chunk of rows to ask to the engine as it is found. The
counts that make a run's totals (`total`, `done`, `failed_aside`…) are exact once `complete`.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from distill_tui.core.cost.capabilities import ModelTable
    from distill_tui.core.task.requests import RowRequest
    from distill_tui.core.workspace.workspace import Workspace

CHUNKS = (16, 64, 256)
"""Rows to ask handed to the engine at a time: small first, so the pool fills at once, then larger."""


class RequestPlanner:
    """Sorts a split's requests for one run (see the module docstring).

    Args:
        ws: The workspace.
        model: The model to ask.
        split: "train" or "eval".
        table: The model table (context windows, request rules).
        limit: Ask at most this many rows (the rest are counted in `beyond_limit`).
        retry_failed: Ask rows that failed before again.
        only_failed: Ask only rows that failed before.
    """

    def __init__(self, ws: "Workspace", model: str, split: str, table: "ModelTable", *, limit: int | None = None,
                 retry_failed: bool = True, only_failed: bool = False) -> None:
        from distill_tui.core.cost.preflight import WindowCheck
        from distill_tui.core.task.requests import RequestBuilder

        self.model, self.limit = model, limit
        self.retry_failed, self.only_failed = retry_failed, only_failed
        self.answered = ws.store.answered_keys(model)
        self.failed_before = ws.store.failed_keys(model, split) - self.answered
        # Rows in a Batch API batch not collected yet are paid for already: never ask them again here.
        self.in_batch = ws.store.batch_keys_in_flight(model) - self.answered
        self.builder = RequestBuilder(ws.spec, ws.data, model, table.rules(model))
        self._rows: Iterator["RowRequest"] = self.builder.rows(split)
        self._window = WindowCheck(model, table)
        self.keys: set[tuple[int, str]] = set()  # of every row that fits: the run's rows
        self.total = self.done = self.held = self.failed_total = self.failed_asked = 0
        self.to_ask = self.beyond_limit = 0
        self.first: "RowRequest | None" = None  # the first row to ask (the cost of a row is taken from it)
        self.complete = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def failed_aside(self) -> int:
        """Rows that failed before and are not asked in this run."""
        return self.failed_total - self.failed_asked

    @property
    def too_long(self) -> int:
        return self._window.left_out

    def too_long_note(self) -> str | None:
        """One line on the rows left out for the context window (exact once `complete`)."""
        return self._window.note(self.total + self._window.left_out)

    def take(self, count: int) -> list["RowRequest"]:
        """Plan until `count` rows to ask are found or every row is planned; those rows, in row order."""
        found: list["RowRequest"] = []
        for req in self._rows:
            if self._sort(req):
                found.append(req)
                if len(found) >= count:
                    return found
        self.complete = True
        return found

    def _sort(self, req: "RowRequest") -> bool:
        """Count one row; True when this run asks it."""
        if not self._window.fits(req):
            return False
        key = (req.row_id, req.prompt_hash)
        self.keys.add(key)
        self.total += 1
        if key in self.answered:
            self.done += 1
            return False
        if key in self.in_batch:
            self.held += 1
            return False
        failed = key in self.failed_before
        self.failed_total += failed
        if (self.only_failed and not failed) or (not self.retry_failed and failed):
            return False
        if self.limit is not None and self.to_ask >= self.limit:
            self.beyond_limit += 1
            return False
        self.to_ask += 1
        self.failed_asked += failed
        if self.first is None:
            self.first = req
        return True

    def plan_rest(self, hand: Callable[[list["RowRequest"]], None], done: Callable[[], None]) -> None:
        """Plan the remaining rows on a thread: `hand(rows)` for each chunk to ask, `done()` at the end
        (also when planning failed: `error` then says why)."""

        def work() -> None:
            try:
                for size in itertools.chain(CHUNKS, itertools.repeat(CHUNKS[-1])):
                    if self.complete:
                        break
                    self._hand(hand, size)
            except BaseException as exc:  # noqa: BLE001 - reported by the run, which must still end
                self.error = exc
                self.complete = True
            finally:
                done()

        self._thread = threading.Thread(target=work, name="distill-planner", daemon=True)
        self._thread.start()

    def _hand(self, hand: Callable[[list["RowRequest"]], None], size: int) -> None:
        rows = self.take(size)
        if rows:
            hand(rows)

    def join(self) -> None:
        """Wait until every row is planned (at once when planning was synchronous)."""
        if self._thread is not None:
            self._thread.join()
