"""Selection changes written on one background thread, so a curation keypress never waits for SQLite."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distill_tui.core.store.database import Store


class Writer:
    """Writes selection changes on one background thread, in order, merging bursts, so a keypress
    never waits for SQLite (a bulk change of 10k flags costs 20-40 ms to write)."""

    def __init__(self, store: "Store", setting: str) -> None:
        self._store = store
        self._setting = setting
        self._cond = threading.Condition()
        self._flags: dict[int, bool] = {}
        self._state: dict[str, Any] | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def submit(self, flags: dict[int, bool], state: dict[str, Any] | None) -> None:
        with self._cond:
            self._flags.update(flags)
            if state is not None:
                self._state = state
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="curation-writer", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._flags and self._state is None:
                    self._idle.set()
                    self._cond.wait()
                flags, state, self._flags, self._state = self._flags, self._state, {}, None
            try:
                if flags:
                    self._store.set_selections(flags)
                if state is not None:
                    self._store.set_setting(self._setting, state)
            except Exception as exc:  # a closed or full database: keep the thread, report on flush
                self.error = f"cannot save the selection: {exc}"

    def flush(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout) and self.error is None
