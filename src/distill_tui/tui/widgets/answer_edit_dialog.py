"""The dialog that corrects one teacher answer on the curation screen (the original is kept)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TextArea

SAVE, REVERT = "save", "revert"


class EditAnswerDialog(ModalScreen[tuple[str, str] | None]):
    """Edit the answer the student trains on; returns (SAVE, text), (REVERT, "") or None (cancelled)."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+r", "revert", "Revert to the original"),
        Binding("escape", "cancel", "Cancel"),
    ]
    AUTO_FOCUS = "TextArea"
    DEFAULT_CSS = """
    EditAnswerDialog { align: center middle; }
    EditAnswerDialog > Vertical { width: 90%; max-width: 100; height: 90%; border: round $accent;
        background: $surface; padding: 0 1; }
    EditAnswerDialog TextArea { height: 1fr; }
    EditAnswerDialog .hint { color: $text-muted; }
    EditAnswerDialog #original { max-height: 4; color: $text-muted; }
    """

    def __init__(self, row_id: int, content: str, original: str | None, hint: str) -> None:
        """`original`: the teacher's own answer when this one is already an edit (else None)."""
        super().__init__()
        self.row_id, self._content, self._original, self._hint = row_id, content, original, hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Correct the teacher's answer of row {self.row_id}", style="bold"))
            yield Static(Text(self._hint), classes="hint")
            yield TextArea(self._content, soft_wrap=True, show_line_numbers=False, id="answer-text")
            if self._original is not None:
                yield Static(Text.assemble(("teacher's original: ", "bold"), self._original), id="original")
            keys = "ctrl+s: save   " + ("ctrl+r: back to the original   " if self._original is not None else "")
            yield Static(Text(keys + "escape: cancel"), classes="hint")

    def action_save(self) -> None:
        self.dismiss((SAVE, self.query_one(TextArea).text))

    def action_revert(self) -> None:
        if self._original is not None:
            self.dismiss((REVERT, ""))

    def action_cancel(self) -> None:
        self.dismiss(None)
