"""The help screen: the keys of the screen it was opened from, the global keys, and a summary."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from distill_tui.tui.modes import SCREENS

_NAMES = {"space": "Space", "escape": "Esc", "enter": "Enter", "tab": "Tab", "up": "↑", "down": "↓", "left": "←",
          "right": "→", "pageup": "PgUp", "pagedown": "PgDn", "home": "Home", "end": "End", "delete": "Del"}


def _key_name(key: str) -> str:
    """A key as a person types it: `shift+down` → `Shift+↓`, `equals_sign` → `=`."""
    from textual.keys import format_key

    *modifiers, last = key.split("+")
    name = _NAMES.get(last) or format_key(last)
    return "+".join([m.capitalize() for m in modifiers] + [name])


def help_markdown(screen) -> str:
    """Markdown help for a screen, built from its bindings so it cannot drift from them."""
    lines = [f"# {getattr(screen, 'TITLE', None) or type(screen).__name__}", ""]
    text = getattr(screen, "HELP", "")
    if text:
        lines += [text.strip(), ""]
    lines += ["## Keys on this screen", "", "| key | action |", "|---|---|"]
    here: dict[str, str] = {}  # key → what it does on this screen
    for binding in getattr(screen, "BINDINGS", []):
        if isinstance(binding, Binding) and binding.description:
            # The footer's word is short ("y/n Grade"); the help names what each key does (its tooltip).
            action = binding.tooltip or binding.description
            keys = ", ".join(_key_name(k.strip()) for k in binding.key.split(","))
            lines.append(f"| {keys} | {action} |")
            here.update((k.strip(), action) for k in binding.key.split(","))
    lines += ["", "## Everywhere", "", "| key | action |", "|---|---|"]
    for mode, (key, title, _, _) in SCREENS.items():
        # A screen that binds a digit itself (the per-row browser scores with 1-5) takes it there.
        lines.append(f"| {key} | {title} screen (not here: {here[key]}) |" if key in here else f"| {key} | {title} screen |")
    lines += ["| ? or F1 | this help |", "| Ctrl+P | command palette |", "| Ctrl+Q | quit |"]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    """Keyboard help for the screen underneath."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close help")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, markdown: str) -> None:
        super().__init__()
        self._markdown = markdown

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            # The footer under it shows the keys of the screen underneath, not how to leave the help.
            scroll.border_subtitle = "Esc or ? closes · ↑ ↓ PgUp PgDn scroll"
            yield Markdown(self._markdown)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
