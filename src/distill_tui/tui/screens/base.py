"""What every main screen shares: the top bar of screens and the footer of key bindings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from textual.screen import Screen
from textual.widgets import Footer

from distill_tui.tui.widgets.topbar import TopBar

if TYPE_CHECKING:
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.tui.app import DistillApp


class BaseScreen(Screen):
    """A main screen: subclasses yield their body from `compose_body` and list their keys in
    `BINDINGS` (shown in the footer) and `HELP` (shown by the help screen)."""

    HELP: str = ""
    """Markdown describing the screen, shown above its key list on the help screen."""

    MODE: str = ""
    """The app mode this screen is the base of (highlighted in the top bar)."""

    def compose(self):
        app = self.distill
        yield TopBar(self.MODE, app.workspace.spec.source.name, offline=app.demo or app.workspace.offline)
        yield from self.compose_body()
        yield Footer(compact=True, show_command_palette=False)

    def compose_body(self):  # pragma: no cover - overridden
        yield from ()

    def save_spec(self) -> bool:
        """Write the workspace's (edited) spec back to its file; says so in a notification."""
        return self.distill.save_spec()

    def spec_unsaved(self) -> bool:
        """Whether the workspace's spec differs from its file (see `DistillApp.spec_unsaved`)."""
        return self.distill.spec_unsaved()

    def go_with_edits(self, what: str, go: Callable[[], object]) -> None:
        """Call `go` (a step that pays the provider), first asking to save the spec when it has
        unsaved edits: the step uses the edited values, which the file would not show.

        Args:
            what: The step, as in "save them before {what}?" (e.g. "starting the run").
            go: Starts the step.
        """
        if not self.spec_unsaved():
            go()
            return
        from distill_tui.tui.widgets.choice_dialog import run_on_unsaved_edits

        def answered(choice: str | None) -> None:
            if choice == "run" or (choice == "save" and self.save_spec()):
                go()

        self.app.push_screen(run_on_unsaved_edits(self.workspace.spec.source.name, what), answered)

    def show_workspace_notes(self) -> None:
        """Notify what opening the workspace did (answers reused from a spec's old path), once."""
        for line in self.workspace.take_notes():
            self.notify(line, timeout=15)

    @property
    def distill(self) -> "DistillApp":
        return self.app  # type: ignore[return-value]

    @property
    def workspace(self) -> "Workspace":
        return self.distill.workspace
