"""What every main screen shares: the app header and the footer of key bindings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen
from textual.widgets import Footer, Header

if TYPE_CHECKING:
    from distill_tui.core.workspace import Workspace
    from distill_tui.tui.app import DistillApp


class BaseScreen(Screen):
    """A main screen: subclasses yield their body from `compose_body` and list their keys in
    `BINDINGS` (shown in the footer) and `HELP` (shown by the help screen)."""

    HELP: str = ""
    """Markdown describing the screen, shown under its key list on the help screen."""

    def compose(self):
        yield Header()
        yield from self.compose_body()
        yield Footer()

    def compose_body(self):  # pragma: no cover - overridden
        yield from ()

    @property
    def distill(self) -> "DistillApp":
        return self.app  # type: ignore[return-value]

    @property
    def workspace(self) -> "Workspace":
        return self.distill.workspace
