"""A local training job's folder, as both sides read it: the trainer process (`distill_tui.trainer`)
writes it, `core.train.local` reads it. Layout: `job.json` (the request, pid), `events.jsonl`,
`train.log` (the process's output), `pause` (asks the trainer to stop at a checkpoint),
`checkpoints/checkpoint-<step>/`, `adapter/`, `merged/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JOB_FILE = "job.json"
EVENTS_FILE = "events.jsonl"
PAUSE_FILE = "pause"
LOG_FILE = "train.log"
CHECKPOINTS = "checkpoints"


def read_events(folder: Path) -> list[dict[str, Any]]:
    """The events of a job folder, oldest first; a torn last line (a kill mid-write) is skipped."""
    path = Path(folder) / EVENTS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


def newest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint with the highest step in the job folder, or None."""
    found = []
    for path in (Path(folder) / CHECKPOINTS).glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and (path / "trainer_state.json").is_file():
            found.append((int(step), path))
    return max(found)[1] if found else None


def elapsed_before(events: list[dict[str, Any]]) -> float:
    """Seconds of training recorded by earlier runs of this job (pause, cancel, crash)."""
    return max((float(e.get("elapsed_s") or 0) for e in events), default=0.0)


def append_event(folder: Path, kind: str, **data: Any) -> None:
    """Append one event line to the folder's `events.jsonl`, flushed to disk."""
    import os
    import time

    line = json.dumps({"time": time.time(), "type": kind, **data}, default=str).encode("utf-8") + b"\n"
    with open(Path(folder) / EVENTS_FILE, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell():
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":  # a line torn by a kill mid-write: start on a line of our own
                line = b"\n" + line
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
