"""The Textual app: one mode (screen stack) per step of the loop, switched with number keys.

Every way out ends the same way: Ctrl+Q, SIGTERM, SIGHUP (a dropped SSH link) and SIGINT exit the
app, and each screen with a run in flight stops it and waits (bounded) for the requests in flight to
be saved as it unmounts. Ctrl+Q first asks about spec edits not saved yet (the runs pause while it
asks); a signal cannot ask, so it keeps them beside the spec (`recovery_path`) instead of dropping them.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from pathlib import Path
from typing import Any, Callable

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from distill_tui import stop_signals
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.modes import SCREENS


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
        self.stopped_by: int | None = None  # the signal that ended the app, if one did
        self._terminals: list[int] = []
        self._quit_asked = False
        self._runs: list[tuple[Any, threading.Event]] = []  # (controls, ended) of the paid runs started here
        self._exiting: asyncio.Task | None = None

    def get_driver_class(self):  # noqa: ANN201 - textual's own signature
        driver = super().get_driver_class()
        from textual.drivers.linux_driver import LinuxDriver

        if driver is LinuxDriver:  # not on Windows, nor when TEXTUAL_DRIVER chose another
            from distill_tui.tui.terminal_driver import HangupSafeDriver

            return HangupSafeDriver
        return driver

    def action_help(self) -> None:
        from distill_tui.tui.screens.help import HelpScreen, help_markdown

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(help_markdown(self.screen)))

    def on_mount(self) -> None:
        self._terminals = stop_signals.terminal_fds()
        loop = asyncio.get_running_loop()
        for sig in stop_signals.STOP_SIGNALS:
            try:
                loop.add_signal_handler(sig, self.stop_on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
                pass
        recovered = recovery_path(self.workspace.spec.source)
        if recovered.exists():
            name = self.workspace.spec.source.name
            self.notify(f"Spec edits a signal kept when it ended a session are in {recovered}: copy what you "
                        f"want into {name}, then delete it (this note shows while it is there).",
                        severity="warning", timeout=15)

    # every way out ------------------------------------------------------------------------------
    def track_run(self, controls: Any, ended: threading.Event) -> None:
        """A paid run a screen started: quitting stops it (`controls.cancel()`, unless None) and
        waits until `ended` is set, i.e. its requests in flight are saved."""
        self._runs = [(c, e) for c, e in self._runs if not e.is_set()] + [(controls, ended)]

    def stop_on_signal(self, signum: int) -> None:
        """SIGTERM, SIGHUP or SIGINT: quit the way Ctrl+Q does, without asking (no one may be there)."""
        if stop_signals.is_hangup(signum):
            stop_signals.silence(self._terminals)  # the terminal is gone: drawing must not fail the exit
            self._terminals = []
        if self.stopped_by is not None:
            return
        self.stopped_by = signum
        if self.spec_unsaved():
            self._keep_unsaved_edits()
        self._exit_saving(return_code=1)

    async def action_quit(self) -> None:
        """Ctrl+Q: ask first when the spec has unsaved edits (save, discard, or stay); then stop the
        runs in flight, saving their answers. While it asks, the runs send no new requests (paused;
        staying resumes them), as Ctrl+Q means stop."""
        if self._exiting is not None or not self.spec_unsaved():
            self._exit_saving()  # already answered and waiting for the runs: Ctrl+Q again quits now
            return
        if self._quit_asked:
            # Ctrl+Q again while asked: quit without an answer, keeping the edits as a signal does
            # (they were dropped without a trace by a habitual double Ctrl+Q).
            self._keep_unsaved_edits()
            self._exit_saving()
            return
        from distill_tui.tui.widgets.choice_dialog import quit_with_unsaved_edits

        paused = self._pause_runs()

        def answered(choice: str | None) -> None:
            self._quit_asked = False
            if choice == "discard" or (choice == "save" and self.save_spec()):
                self._exit_saving()
                return
            for controls in paused:
                controls.resume()

        self._quit_asked = True
        self.push_screen(quit_with_unsaved_edits(self.workspace.spec.source.name, runs_paused=bool(paused)),
                         answered)

    def _pause_runs(self) -> list[Any]:
        """Pause the runs in flight that are not paused or stopping already, and return their
        controls (requests in flight finish and are saved; none go out until they are resumed)."""
        paused = []
        for controls, ended in self._runs:
            if controls is not None and not ended.is_set() and not controls.paused and not controls.cancelled:
                controls.pause()
                paused.append(controls)
        return paused

    def _exit_saving(self, return_code: int = 0) -> None:
        """Exit once every run of this app has saved its requests in flight (waiting at most
        `STOP_WAIT_S`), saying so meanwhile; called again while waiting, exit at once."""
        runs = [(c, e) for c, e in self._runs if not e.is_set()]
        if not runs or self._exiting is not None:
            self.exit(return_code=return_code)
            return
        for controls, _ in runs:
            if controls is not None:  # None: a step that cannot be stopped, only waited for
                controls.cancel()
        self.notify("Quitting: waiting for the requests in flight to be answered and saved…",
                    timeout=stop_signals.STOP_WAIT_S)

        async def wait_then_exit() -> None:
            await asyncio.to_thread(_wait_all, [e for _, e in runs], stop_signals.STOP_WAIT_S)
            self.exit(return_code=return_code)

        self._exiting = asyncio.get_running_loop().create_task(wait_then_exit())

    # the spec's edits ---------------------------------------------------------------------------
    def spec_unsaved(self) -> bool:
        """Whether the workspace's spec differs from its file (an edit set back to the saved value
        is no longer unsaved); True when the file cannot be read as a spec."""
        from distill_tui.core.common.errors import UserError
        from distill_tui.core.task.spec import load_spec

        spec = self.workspace.spec
        try:
            saved = load_spec(spec.source)
        except (OSError, UserError):
            return True
        return saved.to_toml_dict() != spec.to_toml_dict()

    def save_spec(self) -> bool:
        """Write the workspace's (edited) spec back to its file; says so in a notification."""
        from distill_tui.core.task.spec_writer import save_spec

        try:
            path = save_spec(self.workspace.spec)
        except OSError as exc:
            self.notify(f"Cannot save the spec: {exc}", severity="error")
            return False
        self.notify(f"Saved {path}")
        return True

    def _keep_unsaved_edits(self) -> None:
        from distill_tui.core.task.spec_writer import save_spec

        try:
            save_spec(self.workspace.spec, recovery_path(self.workspace.spec.source))
        except OSError:
            pass  # nowhere to keep them; the signal's exit must go on

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in stop_signals.STOP_SIGNALS:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        self.workspace.close()


def _wait_all(events: list[threading.Event], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for event in events:
        event.wait(max(0.0, deadline - time.monotonic()))


def recovery_path(spec: Path) -> Path:
    """Where edits not saved when a signal ended the app are kept: beside the spec."""
    return spec.with_name(f"{spec.stem}.unsaved{spec.suffix or '.toml'}")
