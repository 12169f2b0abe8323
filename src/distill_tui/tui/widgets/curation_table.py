"""The curation list: a virtual table drawn line by line from the pure `Curation` model.

Nothing is copied into widget rows: each visible line is rendered on demand from the model's arrays,
so a keypress costs the same with 100 rows or 100k, and a selection change is a repaint. (The stock
DataTable measures every cell on load; textual-fastdatatable's Arrow backend is immutable, while the
selection and filters here change on every key.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

if TYPE_CHECKING:
    from distill_tui.core.curate.selection import Curation

# (title, width or 0 for a share of the rest, right-aligned)
COLUMNS = (("", 2, False), ("row", 7, True), ("gold", 0, False), ("teacher", 0, False), ("agr", 3, False),
           ("val", 3, False), ("tokens", 6, True), ("cost", 7, True), ("status", 8, False), ("dup", 4, True))


def row_status(cur: "Curation", p: int) -> str:
    """A short status word: failed, held out (eval), edited (a corrected answer), refusal, a non-stop
    finish reason, imported or ok."""
    if not cur.ok[p]:
        return "failed"
    if cur.leak[p]:
        return "held out"
    if cur.edited[p]:
        return "edited"
    if cur.refusal[p]:
        return "refusal"
    finish = cur.finish_values[cur.finish_codes[p]]
    if finish and finish != "stop":
        return str(finish)
    return "imported" if cur.imported[p] else "ok"


class CurationTable(ScrollView, can_focus=True):
    """Rows of the model's current view, a cursor, and marks for the selection."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]
    COMPONENT_CLASSES = {"curation-table--header", "curation-table--cursor", "curation-table--on", "curation-table--off",
                         "curation-table--good", "curation-table--bad", "curation-table--muted"}
    DEFAULT_CSS = """
    CurationTable { height: 1fr; overflow-x: hidden; }
    CurationTable > .curation-table--header { text-style: bold; color: $text-muted; }
    CurationTable > .curation-table--cursor { background: $block-cursor-background;
        color: $block-cursor-foreground; text-style: bold; }
    CurationTable > .curation-table--on { color: $success; text-style: bold; }
    CurationTable > .curation-table--off { color: $text-muted; }
    CurationTable > .curation-table--good { color: $success; }
    CurationTable > .curation-table--bad { color: $error; }
    CurationTable > .curation-table--muted { color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        """The cursor moved to another row (position in the model, or None when the view is empty)."""

        def __init__(self, position: int | None) -> None:
            super().__init__()
            self.position = position

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CurationTable.Highlighted)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model: Curation | None = None
        self.view: np.ndarray = np.zeros(0, dtype=np.int64)

    # data -------------------------------------------------------------------------------------
    def set_model(self, model: "Curation | None", keep_row: int | None = None) -> None:
        """Show a (new) model; the cursor goes to `keep_row` if it is shown."""
        self.model = model
        self.refresh_view(keep_row)

    def refresh_view(self, keep_row: int | None = None) -> None:
        """Re-read the model's view (after a filter change), keeping the cursor's row if still shown."""
        row = self.current_row() if keep_row is None else keep_row
        self.view = self.model.view() if self.model is not None else np.zeros(0, dtype=np.int64)
        self.virtual_size = Size(self.size.width, len(self.view) + 1)
        target = 0
        if row is not None and self.model is not None and len(self.view):
            hit = np.flatnonzero(self.model.ids[self.view] == row)
            target = int(hit[0]) if len(hit) else min(self.cursor, len(self.view) - 1)
        self.cursor = max(0, target)
        self.refresh()

    @property
    def position(self) -> int | None:
        """The model position of the row under the cursor."""
        if not len(self.view):
            return None
        return int(self.view[min(self.cursor, len(self.view) - 1)])

    def current_row(self) -> int | None:
        p = self.position
        return None if p is None or self.model is None else int(self.model.ids[p])

    # cursor -----------------------------------------------------------------------------------
    @property
    def _page(self) -> int:
        return max(1, self.size.height - 2)

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.view) - 1)) if len(self.view) else 0

    def watch_cursor(self, old: int, new: int) -> None:
        top = int(self.scroll_y)
        visible = max(1, self.size.height - 1)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + visible:
            self.scroll_to(y=new - visible + 1, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Highlighted(self.position))

    def action_move(self, step: int) -> None:
        self.cursor += step

    def action_page(self, direction: int) -> None:
        self.cursor += direction * self._page

    def action_jump(self, where: int) -> None:
        self.cursor = where if where >= 0 else len(self.view) - 1

    def on_click(self, event) -> None:
        if event.y >= 1:
            self.cursor = int(self.scroll_y) + event.y - 1

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.view) + 1)

    # drawing ----------------------------------------------------------------------------------
    def _widths(self, width: int) -> list[int]:
        fixed = sum(w for _, w, _ in COLUMNS) + len(COLUMNS) - 1
        share = min(30, max(6, (width - fixed) // 2))
        return [w or share for _, w, _ in COLUMNS]

    def _line(self, cells: list[tuple[str, Style]], width: int, base: Style, cursor: bool = False) -> Strip:
        segments = []
        for (text, style), (_, w, right), size in zip(cells, COLUMNS, self._widths(width)):
            text = text if len(text) <= size else text[: size - 1] + "…"
            fitted = set_cell_size(text.rjust(size) if right else text, size)
            segments += [Segment(fitted, base if cursor else base + style), Segment(" ", base)]
        return Strip(segments[:-1]).adjust_cell_length(width, base)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        style = self.get_component_rich_style
        base = self.rich_style
        if y == 0:
            head = style("curation-table--header")
            return self._line([(t, head) for t, _, _ in COLUMNS], width, base)
        index = int(self.scroll_y) + y - 1
        cur = self.model
        if cur is None or index >= len(self.view):
            return Strip.blank(width, base)
        p = int(self.view[index])
        good, bad, muted = style("curation-table--good"), style("curation-table--bad"), style("curation-table--muted")
        if not cur.selectable[p]:
            mark = ("·", muted)
        elif cur.selected[p]:
            mark = ("●", style("curation-table--on"))
        else:
            mark = ("○", style("curation-table--off"))
        agree = int(cur.agrees[p])
        answer = cur.answer_values[cur.answer_codes[p]]
        size = int(cur.group_size[p])
        cells = [
            mark,
            (str(int(cur.ids[p])), muted),
            (str(cur.gold_values[cur.gold_codes[p]] or "—"), Style()),
            ("" if answer is None else str(answer), Style() if cur.valid[p] else bad),
            (("✓", good) if agree == 1 else ("✗", bad) if agree == 0
             else ("?" if cur.context.kind == "classification" else "–", muted)),
            (("✓", good) if cur.valid[p] else ("✗", bad)),
            (f"{int(cur.tokens[p]):,}" if cur.trainable[p] else "—", Style()),
            (f"${cur.cost[p]:.4f}" if cur.cost[p] < 1 else f"${cur.cost[p]:,.2f}", muted),
            (row_status(cur, p), Style() if cur.selectable[p] else bad),
            (f"×{size}" if size > 1 else "", Style()),
        ]
        if index == self.cursor:
            return self._line(cells, width, base + style("curation-table--cursor"), cursor=True)
        return self._line(cells, width, base)
