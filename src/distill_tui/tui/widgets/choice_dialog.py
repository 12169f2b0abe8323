"""A question with a few answers, each on a key and a button (Escape cancels), and the two
questions the app asks about spec edits that are not saved yet."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from distill_tui.tui.widgets.confirm_dialog import DIALOG_CSS


class ChoiceDialog(ModalScreen[str | None]):
    """Dismissed with the chosen answer's id, or None on Escape.

    Args:
        title: The question.
        body: What each answer does.
        choices: `(key, id, label)` per answer, the safest first; the last one is the default button.
        escape: What Escape does, in the keys line.
    """

    DEFAULT_CSS = DIALOG_CSS.format(cls="ChoiceDialog") + """
ChoiceDialog > Vertical > .keys { margin-top: 1; color: $text-muted; }
"""
    BINDINGS = [Binding("escape", "choose(None)", "Cancel")]

    def __init__(self, title: str, body: str, choices: list[tuple[str, str, str]], escape: str = "cancel") -> None:
        super().__init__()
        self._title, self._body, self._choices, self._escape = title, body, choices, escape
        self._keys = {key: answer for key, answer, _ in choices}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, classes="title")
            yield Static(Text(self._body))
            # The keys get a line of their own: beside two long-labelled buttons they wrapped into
            # them at 80 columns ("escape:" on one line, "cancel" under it).
            keys = "   ".join(f"{key}: {label.lower()}" for key, _, label in self._choices)
            yield Static(f"{keys}   escape: {self._escape}", classes="keys")
            with Horizontal(classes="buttons"):
                for _, answer, label in self._choices:
                    yield Button(label, id=answer)

    def on_mount(self) -> None:
        self.query(Button).last().focus()

    def on_key(self, event) -> None:  # noqa: ANN001 - textual.events.Key
        if event.key in self._keys:
            event.stop()
            self.dismiss(self._keys[event.key])

    def action_choose(self, answer: str | None) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)


def quit_with_unsaved_edits(name: str, *, runs_paused: bool = False) -> ChoiceDialog:
    """Ctrl+Q while the spec has edits not written to its file: "save", "discard" or None (stay).

    Args:
        name: The spec file's name.
        runs_paused: Runs in flight were paused for the question (staying resumes them).
    """
    paused = (" The run is paused while you answer (requests in flight finish and are saved); staying "
              "resumes it.") if runs_paused else ""
    return ChoiceDialog(
        f"Save your edits to {name} before quitting?",
        f"The spec was edited in this session and {name} does not have those edits yet. Discarding them "
        "keeps the file as it is; answers already bought under the edited prompt stay saved, but a run on "
        f"the file's prompt asks those rows again.{paused}",
        [("d", "discard", "Discard"), ("s", "save", "Save and quit")],
        escape="stay",  # not "cancel": it may open over "Cancel the run?", where cancel means the run
    )


def run_on_unsaved_edits(name: str, what: str) -> ChoiceDialog:
    """A paid run about to start on edits not written to the spec file: "save", "run" or None."""
    return ChoiceDialog(
        f"The spec has unsaved edits: save them before {what}?",
        f"{what[0].upper()}{what[1:]} uses the spec as edited in this session, not what {name} says. Save "
        "them so the file matches what you pay for (and the CLI and a later session ask the same), or go on "
        "with the edits left unsaved.",
        [("u", "run", "Go on unsaved"), ("s", "save", "Save and go on")],
    )
