"""Small tables of the last answers and the last errors of a generation run.

Display-only, so plain `Static`s holding Rich tables rather than DataTables: nothing to focus or
scroll, and no styling shared with the other DataTable classes the app loads (textual's and
textual-fastdatatable's both answer to the CSS type `DataTable`, in an order that depends on
which screen loaded first).
"""

from __future__ import annotations

import re
from typing import Any

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


LOCAL_GRADERS = ("exact", "contains", "regex", "fuzzy", "chrf", "bleu", "rouge_l", "json_fields")
"""Graders computed here, without a request: the others (embedding, judges) leave the feed to the task's match."""


class AnswerFeed(Static):
    """The last answers as they land, newest first: row, answer, gold, and whether they agree.

    They agree as the task compares answers, as the Curate screen's `agr` column does: the spec's first
    grader's pass for extraction and generation (chrF, ROUGE-L… where it needs no request), else
    `kinds.same_answer` (labels as they are, JSON by value, free text normalised)."""

    DEFAULT_CSS = """
    AnswerFeed { height: 1fr; }
    """
    SIZE = RECENT
    """How many answers a progress snapshot carries."""

    def __init__(self, spec: Any = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: list[tuple[int, str | None, str]] = []
        self._kind = getattr(spec, "kind", None) or "classification"
        graders = [g for g in getattr(spec, "graders", None) or () if g.type in LOCAL_GRADERS]
        self._grader = graders[0] if graders and self._kind != "classification" else None
        self._agreed: dict[tuple[str | None, str], bool] = {}

    def agrees(self, answer: str | None, gold: str) -> bool:
        """Whether an answer agrees with its row's gold label or reference (cached: the feed redraws often)."""
        key = (answer, gold)
        if key not in self._agreed:
            from distill_tui.core.task import kinds

            if self._grader is None or answer is None:
                self._agreed[key] = kinds.same_answer(self._kind, answer, gold)
            else:
                from distill_tui.core.evaluate.graders import grade

                if self._grader.type == "json_fields":  # it compares records field by field
                    answer, gold = _record(answer), _record(gold)
                self._agreed[key] = grade(self._grader, [answer], [gold])[0].passed
            if len(self._agreed) > 4 * self.SIZE:
                self._agreed.pop(next(iter(self._agreed)))
        return self._agreed[key]

    def on_mount(self) -> None:
        self.show([])

    def show(self, answers: list[tuple[int, str | None, str]]) -> None:
        if answers == self.rows and self.rows:
            return
        self.rows = list(answers)
        table = _table(("row", 4), ("answer", 15), ("gold" if self._kind == "classification" else "reference", 15),
                       ("", 1))
        for row, label, gold in reversed(answers):
            agree = self.agrees(label, gold)
            table.add_row(str(row), label if label is not None else "(none)", gold,
                          Text("✓" if agree else "✗", style="green" if agree else "red"))
        self.update(table)

    @property
    def row_count(self) -> int:
        return len(self.rows)


def _record(text: str | None) -> Any:
    import json

    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


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
