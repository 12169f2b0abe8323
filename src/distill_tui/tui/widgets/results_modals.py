"""The Results screen's dialogs: add an extra model by name, and export the table."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

_MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 72; max-width: 100%; height: auto; border: round $accent; background: $surface;
                    padding: 0 1; }}
{name} Input {{ margin: 0 0 1 0; }}
{name} .hint {{ color: $text-muted; }}
{name} .error {{ color: $error; }}
{name} Horizontal {{ height: auto; align-horizontal: right; }}
{name} Button {{ margin-left: 1; min-width: 10; }}
"""


class AddModelModal(ModalScreen[str | None]):
    """Ask for the name of another model to put in the comparison."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = _MODAL_CSS.format(name="AddModelModal")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Add a model to the comparison[/b]")
            yield Static("Any model the provider serves, e.g. gpt-4.1-mini or a fine-tuned ft:… name. "
                         "It answers the same eval rows with the same prompt.", classes="hint")
            yield Input(placeholder="model name", id="model-name")
            yield Static("enter: add   escape: cancel", classes="hint")
            with Horizontal():
                yield Button("Add", variant="primary", id="add")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#add")
    def add(self) -> None:
        name = self.query_one("#model-name", Input).value.strip()
        self.dismiss(name or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportModal(ModalScreen[tuple[str, Path] | None]):
    """Choose Markdown, CSV or JSON and where to write it; returns (format, path).

    The path field starts focused so that enter exports at once (on the formats, enter picks one).
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#path"
    DEFAULT_CSS = _MODAL_CSS.format(name="ExportModal") + """
    ExportModal RadioSet { width: 100%; layout: horizontal; margin-bottom: 1; }
    ExportModal Input { margin: 0; }
    ExportModal #full-path { margin-bottom: 1; }
    """

    def __init__(self, folder: Path, stem: str) -> None:
        super().__init__()
        self._folder = folder
        self._stem = stem

    def _path_for(self, fmt: str) -> str:
        return str(self._folder / f"{self._stem}.{fmt}")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Export the comparison table[/b]")
            with RadioSet(id="format"):
                yield RadioButton("Markdown", value=True, id="fmt-md")
                yield RadioButton("CSV", id="fmt-csv")
                yield RadioButton("JSON", id="fmt-json")
            yield Input(self._path_for("md"), id="path")
            # The field scrolls to the end of a long path and hides its start: the whole path, folded.
            yield Static("", id="full-path", classes="hint")
            yield Static("enter: export   shift+tab: choose the format   escape: cancel", classes="hint")
            yield Static("", id="problem", classes="error")
            with Horizontal():
                yield Button("Export", variant="primary", id="export")
                yield Button("Cancel", id="cancel")

    @property
    def fmt(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        return (pressed.id or "fmt-md").removeprefix("fmt-") if pressed else "md"

    @on(RadioSet.Changed)
    def format_changed(self) -> None:
        path = self.query_one("#path", Input)
        current = Path(path.value.strip() or self._path_for("md"))
        path.value = str(current.with_suffix("." + self.fmt))

    def on_mount(self) -> None:
        self._show_path()

    @on(Input.Changed, "#path")
    def _show_path(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        self.query_one("#full-path", Static).update(Text(f"writes {path}" if path else "", overflow="fold"))

    @on(Input.Submitted)
    @on(Button.Pressed, "#export")
    def export(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        if not text:
            self.query_one("#problem", Static).update("Give a file to write.")
            return
        self.dismiss((self.fmt, Path(text).expanduser()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
