"""The one-line bar on top of every screen: the screens and their keys, the spec, offline mode."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from distill_tui.tui.modes import SCREENS


class TopBar(Widget):
    """Shows `1 Dataset 2 Estimate …` with the current screen highlighted, and the workspace name."""

    DEFAULT_CSS = """
    TopBar { height: 1; background: $panel; color: $text; }
    """

    def __init__(self, current: str, right: str, *, offline: bool = False) -> None:
        super().__init__()
        self._current = current
        self._right = right
        self._offline = offline

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for mode, (key, title, _, _) in SCREENS.items():
            style = "bold reverse" if mode == self._current else ""
            text.append(f" {key}", style=f"bold {style}".strip())
            text.append(f" {title} ", style=style)
        room = self.size.width - text.cell_len - 1
        right = Text()
        if self._offline:
            # Say it as plainly as the width allows: these answers come from local demo models.
            for badge in (" OFFLINE DEMO MODELS · no key, no cost ", " OFFLINE DEMO MODELS ", " OFFLINE DEMO "):
                if len(badge) + 1 <= room or badge == " OFFLINE DEMO ":
                    break
            right.append(badge, style="bold reverse")
        name = self._right if not self._offline else " " + self._right
        if right.cell_len + len(name) <= room or not self._offline:
            right.append(name, style="dim")
        if room > 8:
            right.truncate(room, overflow="ellipsis")
            text.append(" " * max(1, room - right.cell_len + 1))
            text.append_text(right)
        return text
