"""Modal dialogs of the curation screen: a small form, the export report, and a row in full."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 90%; max-width: 100; height: auto; max-height: 90%; border: round $accent;
    background: $surface; padding: 0 1; }}
{name} .hint {{ color: $text-muted; }}
{name} Input {{ margin: 0; }}
"""


class AskDialog(ModalScreen[dict | None]):
    """A short form: labelled inputs, enter submits their values, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Input"
    DEFAULT_CSS = _DIALOG_CSS.format(name="AskDialog")

    def __init__(self, title: str, hint: str, fields: list[tuple[str, str, str, str]]) -> None:
        """`fields`: (name, label, initial value, placeholder)."""
        super().__init__()
        self._title, self._hint, self._fields = title, hint, fields

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._title, style="bold"))
            yield Static(Text(self._hint), classes="hint")
            for name, label, value, placeholder in self._fields:
                yield Label(Text(label))
                yield Input(value=value, placeholder=placeholder, id=f"ask-{name}")
            yield Static(Text("enter: OK   escape: cancel"), classes="hint")

    def on_input_submitted(self) -> None:
        self.dismiss({name: self.query_one(f"#ask-{name}", Input).value for name, *_ in self._fields})

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportDialog(ModalScreen[str | None]):
    """The validation report of a planned export; enter writes it to the path shown (if it passes)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#export-path"
    DEFAULT_CSS = _DIALOG_CSS.format(name="ExportDialog") + """
    ExportDialog #report { height: auto; max-height: 14; }
    """

    def __init__(self, lines: list[str], ok: bool, path: str) -> None:
        super().__init__()
        self._lines, self._ok, self._path = lines, ok, path

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Export the curated selection", style="bold"))
            with VerticalScroll(id="report"):
                yield Static(Text("\n".join(self._lines)))
            if self._ok:
                yield Label(Text("Write the training file to:"))
                yield Input(value=self._path, id="export-path")
                yield Static(Text("enter: write   escape: cancel"), classes="hint")
            else:
                yield Static(Text("Nothing will be written: fix the selection first.   escape: close",
                                  style="bold"), classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._ok and event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class DetailDialog(ModalScreen[None]):
    """One row's whole prompt and answer, scrollable."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]
    DEFAULT_CSS = _DIALOG_CSS.format(name="DetailDialog") + """
    DetailDialog > Vertical { height: 90%; }
    DetailDialog VerticalScroll { height: 1fr; }
    """

    def __init__(self, text: Text) -> None:
        super().__init__()
        self._text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(self._text)
            yield Static(Text("escape: close"), classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
