"""Modal dialogs of the curation screen: a small form, the export report, and a row in full."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
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


def _home_relative(path: object) -> str:
    """`path` with the home folder written as `~`."""
    import os
    from pathlib import Path

    text, home = str(path), str(Path.home())
    return "~" + text[len(home):] if text == home or text.startswith(home + os.sep) else text


def parse_fraction(text: str) -> float | None:
    """The validation share typed in the export dialog: 0 to below 1, or a percentage ("10%"); None
    when it is neither."""
    text = text.strip()
    try:
        value = float(text.rstrip("%").strip() or 0)
    except ValueError:
        return None
    if text.endswith("%"):
        value /= 100
    return value if 0 <= value < 1 else None


class ExportDialog(ModalScreen[dict | None]):
    """The validation report of a planned export, where to write it, and the validation share.

    Enter dismisses with `{"path", "fraction", "replan"}`: `replan` when the share differs from the
    one the report was made with (the screen plans again and reopens this), else the file is written
    (only when the report passes).
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#export-path"
    DEFAULT_CSS = _DIALOG_CSS.format(name="ExportDialog") + """
    ExportDialog #report { height: auto; max-height: 9; }
    ExportDialog #export-inputs { height: auto; }
    ExportDialog #export-path { width: 1fr; }
    ExportDialog #export-fraction { width: 12; }
    """

    def __init__(self, lines: list[str], ok: bool, path: str, fraction: float = 0.0) -> None:
        super().__init__()
        self._lines, self._ok, self._path, self._fraction = lines, ok, path, fraction

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Export the curated selection", style="bold"))
            with VerticalScroll(id="report"):
                yield Static(Text("\n".join(self._lines)))
            yield Label(Text("Training file, and the share of it for validation (0: none):"))
            with Horizontal(id="export-inputs"):
                yield Input(value=self._path, id="export-path")
                yield Input(value=f"{self._fraction:g}", id="export-fraction")
            yield Static(id="export-validation", classes="hint")
            yield Static(id="export-hint", classes="hint")

    def on_mount(self) -> None:
        self._describe()

    def _values(self) -> tuple[str, float | None]:
        path = self.query_one("#export-path", Input).value.strip()
        return path, parse_fraction(self.query_one("#export-fraction", Input).value)

    def _describe(self) -> None:
        """Where the validation file goes (or why there is none), and what enter does."""
        from distill_tui.core.curate.export import validation_path_for

        path, fraction = self._values()
        # The field scrolls to its end and cuts a long path on the left, so the whole path is
        # repeated here, folded over as many lines as it needs.
        text = Text(overflow="fold")
        text.append(f"training file: {_home_relative(path)}\n" if path else "training file: (give one)\n")
        if fraction is None:
            text.append("validation share: a number from 0 to below 1 (e.g. 0.1)", style="bold")
        elif fraction == 0:
            text.append("no validation file")
        else:
            text.append(f"validation file: {_home_relative(validation_path_for(path or 'train.jsonl'))}")
        self.query_one("#export-validation", Static).update(text)
        close = "escape: cancel" if self._ok else "escape: close"
        if fraction is not None and fraction != self._fraction:
            hint = Text(f"enter: validate with this share   {close}", style="bold")
        elif self._ok:
            hint = Text(f"enter: write   {close}")
        else:
            hint = Text(f"Nothing will be written: fix the selection first.   {close}", style="bold")
        self.query_one("#export-hint", Static).update(hint)

    def on_input_changed(self) -> None:
        self._describe()

    def on_input_submitted(self) -> None:
        path, fraction = self._values()
        if fraction is None:
            return
        if fraction != self._fraction:
            self.dismiss({"path": path, "fraction": fraction, "replan": True})
        elif self._ok and path:
            self.dismiss({"path": path, "fraction": fraction, "replan": False})

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
