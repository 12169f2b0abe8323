"""Small tables of the last answers and the last errors of a generation run.

Display-only, so plain `Static`s holding Rich tables rather than DataTables: nothing to focus or
scroll, and no styling shared with the other DataTable classes the app loads (textual's and
textual-fastdatatable's both answer to the CSS type `DataTable`, in an order that depends on
which screen loaded first).
"""

from __future__ import annotations

import re

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from distill_tui.core.run.engine import RECENT

_STATUS_PREFIX = re.compile(r"^[a-z ]+\((\d{3})[^)]*\):\s*")


def short_error(line: str) -> str:
    """`provider error (500): The server…` → `500 The server…`: the status first, in little room."""
    return _STATUS_PREFIX.sub(r"\1 ", line, count=1)


def _table(*columns: tuple[str, int | None]) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False, expand=True, show_edge=False, header_style="bold")
    for name, width in columns:
        table.add_column(name, width=width, no_wrap=True, overflow="ellipsis", ratio=None if width else 1)
    return table


class AnswerFeed(Static):
    """The last answers as they land, newest first: row, answer, gold, and whether they agree."""

    DEFAULT_CSS = """
    AnswerFeed { height: 1fr; }
    """
    SIZE = RECENT
    """How many answers a progress snapshot carries."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: list[tuple[int, str | None, str]] = []

    def on_mount(self) -> None:
        self.show([])

    def show(self, answers: list[tuple[int, str | None, str]]) -> None:
        if answers == self.rows and self.rows:
            return
        self.rows = list(answers)
        table = _table(("row", 4), ("answer", 15), ("gold", 15), ("", 1))
        for row, label, gold in reversed(answers):
            agree = label == gold
            table.add_row(str(row), label if label is not None else "(none)", gold,
                          Text("✓" if agree else "✗", style="green" if agree else "red"))
        self.update(table)

    @property
    def row_count(self) -> int:
        return len(self.rows)


_OUTCOMES = {
    # what became of the row: (mark, style of the mark, style of the row and error)
    "retrying": ("↻", "yellow", ""),
    "answered": ("✓", "green", "dim"),
    "failed": ("✗", "bold red", ""),
}


class ErrorFeed(Static):
    """The last errors with their row and what became of it, newest first, each cut to one line.

    A row asked again after an error is marked ↻, then ✓ and dimmed once a retry got its answer;
    a row that failed for good is marked ✗ in red (the marks of the answers beside it).
    """

    DEFAULT_CSS = """
    ErrorFeed { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: list[tuple[int, str, str]] = []

    def on_mount(self) -> None:
        self.show([])

    def show(self, errors: list[tuple[int, str, str]]) -> None:
        """Show `(row, error line, outcome)` entries, oldest first as the engine keeps them."""
        if errors == self.rows and self.rows:
            return
        self.rows = list(errors)
        table = _table(("row", 4), ("error", None), ("", 1))
        for row, line, outcome in reversed(errors):
            shown, style, line_style = _OUTCOMES.get(outcome, _OUTCOMES["failed"])
            table.add_row(Text(str(row), style=line_style), Text(short_error(line), style=line_style),
                          Text(shown, style=style))
        self.update(table)

    @property
    def row_count(self) -> int:
        return len(self.rows)
