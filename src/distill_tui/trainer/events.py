"""The trainer's side of `events.jsonl` in the job folder (one JSON object a line, appended and flushed).

Event shapes (every one has "time", unix seconds, and "type"):
    status:     {"status": "queued|running|paused|succeeded|failed|cancelled", "message": str}
    metrics:    {"step", "total_steps", "epoch", "train_loss" or "valid_loss", "learning_rate", "tokens",
                 "elapsed_s"}
    checkpoint: {"step", "path"}
    error:      {"message"}
    result:     {"adapter", "merged", "trained_tokens", "gpu_hours", "device", "gpus", "wall_hours"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distill_tui.core.common.job_folder import append_event


class EventLog:
    """Appends events to `events.jsonl`; only the main process of a distributed run writes."""

    def __init__(self, folder: Path, *, writer: bool = True) -> None:
        self.folder = Path(folder)
        self.writer = writer

    def write(self, kind: str, **data: Any) -> None:
        if self.writer:
            append_event(self.folder, kind, **data)

    def status(self, status: str, message: str = "", **data: Any) -> None:
        self.write("status", status=status, message=message, **data)

    def error(self, message: str) -> None:
        self.write("error", message=" ".join(str(message).split())[:1000])
