"""A yes/no question as a dialog, and the dialog look the app's modal screens share."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

DIALOG_CSS = """
{cls} {{ align: center middle; }}
{cls} > Vertical {{ width: 76; max-width: 100%; height: auto; max-height: 100%; border: round $accent;
    background: $surface; padding: 0 1; }}
{cls} .title {{ text-style: bold; color: $accent; }}
{cls} .buttons {{ height: 3; align-horizontal: right; }}
{cls} .buttons Button {{ margin-left: 1; min-width: 10; }}
{cls} .buttons .keys {{ width: 1fr; height: 3; content-align: left middle; color: $text-muted; }}
{cls} .field {{ height: 1; margin-top: 1; }}
{cls} .field Label {{ width: 9; color: $text-muted; }}
{cls} .field Input {{ border: none; height: 1; padding: 0; width: 1fr; background: $boost; }}
{cls} .field Input:focus {{ background: $accent 30%; }}
"""


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question (y / n / Esc)."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="ConfirmDialog")
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, title: str, body: str, yes: str = "Yes") -> None:
        super().__init__()
        self._title, self._body, self._yes = title, body, yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, classes="title")
            yield Static(Text(self._body))
            with Horizontal(classes="buttons"):
                yield Static("y: yes   n or escape: no", classes="keys")
                yield Button("No", id="no")
                yield Button(self._yes, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
