"""What every main screen shares: the top bar of screens and the footer of key bindings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen
from textual.widgets import Footer

from distill_tui.tui.widgets.topbar import TopBar

if TYPE_CHECKING:
    from distill_tui.core.workspace import Workspace
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
        from distill_tui.core.spec import save_spec

        try:
            path = save_spec(self.workspace.spec)
        except OSError as exc:
            self.notify(f"Cannot save the spec: {exc}", severity="error")
            return False
        self.notify(f"Saved {path}")
        return True

    def spec_unsaved(self) -> bool:
        """Whether the workspace's spec differs from its file (an edit set back to the saved value
        is no longer unsaved); True when the file cannot be read as a spec."""
        from distill_tui.core.errors import UserError
        from distill_tui.core.spec import load_spec

        spec = self.workspace.spec
        try:
            saved = load_spec(spec.source)
        except (OSError, UserError):
            return True
        return saved.to_toml_dict() != spec.to_toml_dict()

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
