"""Near-duplicates on the curation screen: `D` keeps one selected row per group of near-duplicate
prompts and of near-duplicate answers (`core.curate.near_curation`, MinHash/LSH over words).

`CurationNearDuplicates` is mixed into `CurateScreen`; it relies on the screen's `cur` and `_changed`.
The groups are found in a thread worker (seconds at 10k rows), which posts a message; the handler
deselects the rows, so the table is only touched on the UI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.message import Message

if TYPE_CHECKING:
    import numpy as np


class NearDuplicatesFound(Message):
    """The worker found the rows to deselect (positions), or the one line saying why not."""

    def __init__(self, drop: "np.ndarray | None", error: str | None = None) -> None:
        super().__init__()
        self.drop, self.error = drop, error


class CurationNearDuplicates:
    """`D`: drop near-duplicate prompts and answers from the selection."""

    def action_near_dedupe(self) -> None:
        if self.cur is None:
            return
        self.status = "looking for near-duplicate prompts and answers…"
        self._show_bar()
        self._find_near_duplicates()

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate-near")
    def _find_near_duplicates(self) -> None:
        from distill_tui.core.curate.near_curation import FIELDS, near_drop

        import numpy as np

        try:
            among = self.cur.effective.copy()
            drops = []
            for field in FIELDS:
                drop = near_drop(self.cur, among, field)
                among[drop] = False  # a row dropped for its prompt is not a candidate for its answer
                drops.append(drop)
            self.post_message(NearDuplicatesFound(np.concatenate(drops)))
        except Exception as exc:  # noqa: BLE001 - one line on the status bar, never a traceback
            self.post_message(NearDuplicatesFound(None, f"near-duplicates: {exc}"))

    def on_near_duplicates_found(self, message: NearDuplicatesFound) -> None:
        if message.drop is None:
            self._changed(message.error)
            return
        changed = self.cur.set_rows(self.cur.ids[message.drop].tolist(), False)
        self._changed(f"near-duplicates: {changed:,} rows deselected (one kept per group of alike prompts "
                      "or answers)")
