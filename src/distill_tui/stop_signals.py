"""Every way a process is told to stop takes the path of Ctrl-C: send nothing more, let the requests
in flight finish (each within the client's timeout) and save them.

SIGTERM is what `kill`, systemd and container runtimes send; SIGHUP is what a dropped SSH link or a
closed terminal sends, often twice (the kernel to the foreground job, the shell to its jobs). Their
default action ends the process at once and drops answers already billed, so the commands that
spend money (`generate`, `eval`) and the TUI catch all three. After a hang-up the terminal is gone
and writing to it fails, so the descriptors that were a terminal are pointed at /dev/null first:
saving must never depend on the terminal. Only a second Ctrl-C quits at once; a repeated SIGTERM or
SIGHUP does not, because a hang-up alone already sends two.

Used by both the command line (`commands/`) and the TUI; it imports neither Textual nor the core.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, Callable

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""The signals that stop a run gracefully (SIGHUP does not exist on Windows)."""

STOP_WAIT_S = 30.0
"""Longest the TUI waits on quitting for the requests in flight to be answered and saved (the
command line waits for them to end, each within the client's timeout)."""

NAMES = {getattr(signal, name): label for name, label in (
    ("SIGINT", "cancelling"), ("SIGTERM", "terminated (SIGTERM)"), ("SIGHUP", "the terminal hung up (SIGHUP)"))
    if hasattr(signal, name)}


def terminal_fds() -> list[int]:
    """The standard output and error descriptors that are a terminal now (before any hang-up: a
    hung-up terminal no longer answers `isatty`)."""
    found = []
    for fd in (1, 2):
        try:
            if os.isatty(fd):
                found.append(fd)
        except OSError:
            pass
    return found


def silence(fds: list[int]) -> None:
    """Point these descriptors at /dev/null, so later writes (progress, the summary) succeed unseen
    instead of failing on a terminal that is gone."""
    if not fds:
        return
    for stream in (sys.stdout, sys.stderr):
        try:  # drop what is buffered for the dead terminal rather than fail flushing it later
            if stream is not None and stream.fileno() in fds:
                stream.flush()
        except (OSError, ValueError):
            pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def is_hangup(signum: int) -> bool:
    return signum == getattr(signal, "SIGHUP", None)


class GracefulStop:
    """Catch SIGINT, SIGTERM and SIGHUP around a paid run; see the module docstring.

    The first signal calls `stop()` (e.g. `Controls.cancel`) and `say(line)` with what happens
    next; a second Ctrl-C raises `KeyboardInterrupt` (answers already saved stay saved).
    Installed only from the main thread; the previous handlers come back on exit.

    Args:
        stop: Stops sending new requests; those in flight finish and are saved.
        say: Writes one line for the user (never raises on a terminal that is gone).
        note: What happens next, said after the signal's name.
    """

    def __init__(self, stop: Callable[[], None], say: Callable[[str], None], note: str) -> None:
        self.stop, self.say, self.note = stop, say, note
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._terminals: list[int] = []

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            self._terminals = terminal_fds()
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if is_hangup(signum):
            silence(self._terminals)
            self._terminals = []
        if self.received is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.received = signum
        self.stop()
        try:
            self.say(f"{NAMES.get(signum, 'stopping')}: {self.note}")
        except (OSError, ValueError):
            pass


class HeldSignals:
    """Hold SIGINT, SIGTERM and SIGHUP while a step that must not be cut in two runs: one that pays
    and then records what it paid for (creating a fine-tuning job, then saving its id). The caller
    stops after the step when `received` says a signal came meanwhile; a second Ctrl-C does not wait.

    Args:
        say: Writes one line for the user about the wait.
        what: The step, as in "finishing {what} first".
    """

    def __init__(self, say: Callable[[str], None], what: str) -> None:
        self._stop = GracefulStop(lambda: None, say, f"finishing {what} first, then stopping")

    @property
    def received(self) -> int | None:
        """The first signal received while held, if any."""
        return self._stop.received

    def __enter__(self) -> "HeldSignals":
        self._stop.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.__exit__()
