"""Small tables of the last answers and the last errors of a generation run."""

from __future__ import annotations

from textual.widgets import DataTable


class AnswerFeed(DataTable):
    """The last answers as they land: row, answer, gold, and whether they agree."""

    DEFAULT_CSS = """
    AnswerFeed { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=False, show_cursor=False, **kwargs)
        self.can_focus = False
        self._shown: list[tuple[int, str | None, str]] = []

    def on_mount(self) -> None:
        self.add_column("row", key="row", width=4)
        self.add_column("answer", key="answer", width=15)
        self.add_column("gold", key="gold", width=15)
        self.add_column("", key="ok", width=1)

    def show(self, answers: list[tuple[int, str | None, str]]) -> None:
        """Newest first."""
        if answers == self._shown:
            return
        self._shown = list(answers)
        self.clear()
        for row, label, gold in reversed(answers):
            mark = "✓" if label == gold else "✗"
            self.add_row(str(row), label if label is not None else "(none)", gold, mark)


class ErrorFeed(DataTable):
    """The last errors with their row."""

    DEFAULT_CSS = """
    ErrorFeed { height: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=False, show_cursor=False, **kwargs)
        self.can_focus = False
        self._shown: list[tuple[int, str]] = []

    def on_mount(self) -> None:
        self.add_column("row", key="row", width=4)
        self.add_column("error", key="error")

    def show(self, errors: list[tuple[int, str]]) -> None:
        """Newest first; each error cut to one line."""
        if errors == self._shown:
            return
        self._shown = list(errors)
        self.clear()
        for row, line in reversed(errors):
            self.add_row(str(row), line[:120])
