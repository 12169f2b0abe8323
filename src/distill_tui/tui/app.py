"""The Textual app: one mode (screen stack) per step of the loop, switched with number keys."""

from __future__ import annotations

import importlib
from typing import Callable

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from distill_tui.core.workspace import Workspace
from distill_tui.tui.screens import SCREENS


def _lazy(module: str, cls: str) -> Callable[[], Screen]:
    def make() -> Screen:
        return getattr(importlib.import_module(module), cls)()

    return make


class DistillApp(App[int]):
    """distill-tui's terminal UI over one workspace."""

    TITLE = "distill-tui"
    CSS_PATH = "app.tcss"
    MODES = {mode: _lazy(module, cls) for mode, (_, _, module, cls) in SCREENS.items()}
    DEFAULT_MODE = "dataset"
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", key_display="?", id="help"),
        # One footer entry stands for all six screen keys (the top bar names each screen), so the
        # footer keeps its room for each screen's own keys at 80 columns.
        *(Binding(key, f"switch_mode('{mode}')", "Screens" if key == "1" else f"{title} screen",
                  show=key == "1", key_display="1-6" if key == "1" else None, id=f"screen.{mode}")
          for mode, (key, title, _, _) in SCREENS.items()),
    ]

    def __init__(self, workspace: Workspace, *, demo: bool = False) -> None:
        super().__init__()
        self.workspace = workspace
        self.demo = demo
        name = workspace.spec.source.name
        self.sub_title = f"{name} · OFFLINE DEMO MODELS (no key, no cost)" if demo or workspace.offline else name

    def action_help(self) -> None:
        from distill_tui.tui.screens.help import HelpScreen, help_markdown

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(help_markdown(self.screen)))

    def on_unmount(self) -> None:
        self.workspace.close()
