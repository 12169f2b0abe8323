"""The fine-tuning part of the workspace database: jobs, their events and checkpoints, saved the
moment they are known so a job can be followed again after any restart. `Store` mixes this in."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from distill_tui.core.common.redact import redact, redact_value
from distill_tui.core.provider.values import as_int, as_text, as_time


@dataclass
class JobRecord:
    """A fine-tuning job as this workspace knows it."""

    id: str
    backend: str
    base_model: str
    status: str
    fine_tuned_model: str | None = None
    training_file: str | None = None
    validation_file: str | None = None
    local_training_path: str | None = None
    local_validation_path: str | None = None
    trained_tokens: int | None = None
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None
    data: dict[str, Any] | None = None


def _job_from_row(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["data"] = json.loads(data["data"]) if data["data"] else None
    # Saved by a version that stored the provider's values as sent ("n/a" tokens, a date as text,
    # an error over several lines): read in their types, so one odd job cannot break `jobs`.
    data["trained_tokens"] = as_int(data["trained_tokens"])
    data["created_at"] = as_time(data["created_at"]) or 0.0
    data["finished_at"] = as_time(data["finished_at"])
    data["error"] = as_text(data["error"])
    if isinstance(data["data"], dict) and "estimated_finish" in data["data"]:
        data["data"]["estimated_finish"] = as_time(data["data"]["estimated_finish"])
    return JobRecord(**data)


class JobStore:
    """Job tables of `Store` (needs its `execute`, `transaction` and `_db`)."""

    # jobs --------------------------------------------------------------------------------------
    def save_job(self, job: JobRecord) -> None:
        data = asdict(job)
        data["data"] = json.dumps(data["data"]) if data["data"] is not None else None
        data["error"] = redact(data["error"]) if data["error"] else data["error"]  # provider text
        now = time.time()
        data["created_at"] = data["created_at"] or now
        data["updated_at"] = now
        columns = list(data)
        self.execute(
            f"INSERT OR REPLACE INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            [data[c] for c in columns],
        )

    def jobs(self) -> list[JobRecord]:
        return [_job_from_row(r) for r in self.execute("SELECT * FROM jobs ORDER BY created_at DESC")]

    def job(self, job_id: str) -> JobRecord | None:
        rows = self.execute("SELECT * FROM jobs WHERE id=?", (job_id,))
        return _job_from_row(rows[0]) if rows else None

    def save_events(self, job_id: str, events: Iterable[dict[str, Any]]) -> int:
        """Save job events (dicts with id, created_at, level, type, message, data); returns how many were new."""
        before = self.execute("SELECT COUNT(*) FROM job_events WHERE job_id=?", (job_id,))[0][0]
        with self.transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO job_events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (job_id, e["id"], e.get("created_at") or 0, e.get("level"), e.get("type"),
                     redact(e["message"]) if isinstance(e.get("message"), str) else e.get("message"),
                     json.dumps(redact_value(e["data"])) if e.get("data") is not None else None)
                    for e in events
                ],
            )
        after = self.execute("SELECT COUNT(*) FROM job_events WHERE job_id=?", (job_id,))[0][0]
        return int(after - before)

    def events(self, job_id: str) -> list[dict[str, Any]]:
        rows = self.execute("SELECT * FROM job_events WHERE job_id=? ORDER BY created_at, rowid", (job_id,))
        return [{**dict(r), "data": json.loads(r["data"]) if r["data"] else None} for r in rows]

    def save_checkpoints(self, job_id: str, checkpoints: Iterable[dict[str, Any]]) -> None:
        with self.transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO job_checkpoints VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (job_id, c["id"], c.get("step"), c.get("model_name"), json.dumps(c.get("metrics")), c.get("created_at"))
                    for c in checkpoints
                ],
            )

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        rows = self.execute("SELECT * FROM job_checkpoints WHERE job_id=? ORDER BY step", (job_id,))
        return [{**dict(r), "metrics": json.loads(r["metrics"]) if r["metrics"] else None} for r in rows]
