"""`distill-tui generate SPEC [--limit N | --batch [--wait]] [--json]`: run or resume teacher generation headless.

Progress goes to stderr: one line rewritten in place on a terminal, a plain line every few seconds
otherwise (logs, CI, `nohup`). With `--json` the summary is one JSON object on stdout. Ctrl-C,
SIGTERM and SIGHUP (a dropped SSH link) finish the requests in flight, save them and exit 1; a
second Ctrl-C quits at once (answers already saved stay saved).

With `--batch` the rows go through the Batch API instead (see `core/run/batch_api.py`): the first run
submits them, the next ones collect the answers once the batch has ended (`--wait` waits for it;
Ctrl-C stops waiting and leaves the batch running on the provider).

Exit codes: 0 every row answered (or, with --limit, every row asked answered); 1 rows failed or
left (cancelled, budget, provider failing, a batch still running); 2 a mistake to fix (spec, data,
key, model name).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from argparse import Namespace
from typing import TYPE_CHECKING, Any, TextIO

from distill_tui.core.common.errors import UserError
from distill_tui.stop_signals import GracefulStop

if TYPE_CHECKING:
    from distill_tui.core.run.generate import Progress, RunResult

PLAIN_INTERVAL_S = 5.0
"""Seconds between progress lines when stderr is not a terminal."""

TTY_INTERVAL_S = 0.25


class StderrProgress:
    """Writes progress snapshots to a stream: in place on a TTY, a line every few seconds if not."""

    def __init__(self, stream: TextIO, *, interval: float | None = None) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (TTY_INTERVAL_S if self.tty else PLAIN_INTERVAL_S)
        self._last = -float("inf")
        self._width = 0
        self._open = False

    def __call__(self, progress: "Progress") -> None:
        from distill_tui.core.run.progress_text import progress_line

        if self._due(progress.finished):
            self._write(progress_line(progress), progress.finished)

    def text(self, line: str, finished: bool = False) -> None:
        """Write any run's progress line (a judge's too) at the same pace and in the same place."""
        if self._due(finished):
            self._write(line, finished)

    def _due(self, finished: bool) -> bool:
        now = time.monotonic()
        if not finished and now - self._last < self.interval:
            return False
        self._last = now
        return True

    def _write(self, line: str, finished: bool) -> None:
        if self.tty:
            width = shutil.get_terminal_size((100, 24)).columns - 1
            line = line[:width]
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
            self._open = True
            if finished:
                self.end_line()
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end_line(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def say(self, text: str) -> None:
        self.end_line()
        self.stream.write(text + "\n")
        self.stream.flush()


class _Interrupts(GracefulStop):
    """Ctrl-C, SIGTERM and SIGHUP cancel gracefully (see `distill_tui.stop_signals`); a second Ctrl-C
    quits at once."""

    def __init__(self, controls: Any, progress: StderrProgress,
                 note: str = "finishing the requests in flight and saving them (Ctrl-C again to quit now)") -> None:
        super().__init__(controls.cancel, progress.say, note)
        self.controls = controls


def report(result: "RunResult", progress: StderrProgress) -> None:
    """The one closing line on stderr."""
    if result.stopped == "fatal":
        progress.say(f"distill-tui: error: {result.message}")
    else:
        progress.say(result.message)


def run(args: Namespace) -> int:
    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.run.generate import run_teacher
    from distill_tui.core.workspace.workspace import Workspace

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, not {args.limit}")
    batch, wait = getattr(args, "batch", False), getattr(args, "wait", False)
    if wait and not batch:
        raise UserError("--wait goes with --batch (a normal run always waits for its answers)")
    if batch and args.limit is not None:
        raise UserError("--limit does not apply to --batch (a batch holds every row left)")
    workspace = Workspace.open(args.spec, base_url=getattr(args, "base_url", None))
    for line in workspace.notes_on_open():  # answers reused from where the spec was before
        print(f"note: {line}", file=sys.stderr)
    _say_preflight(workspace)
    if batch:
        return _run_batch(workspace, wait=wait, as_json=args.json)
    controls = Controls()
    progress = StderrProgress(sys.stderr)
    try:
        with _Interrupts(controls, progress):
            result = run_teacher(workspace, limit=args.limit, controls=controls, on_progress=progress)
    finally:
        progress.end_line()
        workspace.close()
    report(result, progress)
    if args.json:
        print(json.dumps(result.to_json()))
    return result.exit_code


def _say_preflight(workspace: Any) -> None:
    """A note before spending when the embedded offline provider knows none of the labels, and a warning
    for each key of the spec a reasoning teacher does not take (the requests leave it out)."""
    from distill_tui.core.cost.capabilities import load_models
    from distill_tui.core.cost.preflight import offline_note, reasoning_warnings

    note = offline_note(workspace.spec, workspace.data.labels, workspace.base_url)
    if note:
        print(f"note: {note}", file=sys.stderr)
    for line in reasoning_warnings(workspace.spec, load_models(), ["teacher"]):
        print(f"warning: {line}", file=sys.stderr)


def _run_batch(workspace: Any, *, wait: bool, as_json: bool) -> int:
    """`generate --batch [--wait]`: one line per batch event on stderr, the summary last."""
    from distill_tui.core.run.batch_api import run_teacher_batch
    from distill_tui.core.run.engine_parts import Controls

    controls = Controls()
    progress = StderrProgress(sys.stderr)
    note = ("no more waiting: the batch keeps running on the provider "
            "(Ctrl-C again to quit now; nothing is lost either way)")
    try:
        with _Interrupts(controls, progress, note):
            summary = run_teacher_batch(workspace, wait=wait, controls=controls, on_status=progress.say)
    finally:
        workspace.close()
    progress.say(f"distill-tui: error: {summary.message}" if summary.fatal else summary.message)
    if as_json:
        print(json.dumps(summary.to_json()))
    return summary.exit_code
