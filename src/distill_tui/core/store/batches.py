"""The Batch API part of the workspace database: each batch and the rows it asks. `Store` mixes this in.

A batch is saved in two steps around `batches.create`: first as an intent keyed by its uploaded
input file (`id` still None, with every row it covers), then with the provider's batch id the
moment the call returns. A run that finds an intent without an id looks the batch up on the
provider by its input file before it does anything else, so a crash between the two steps never
makes it submit (and pay for) the same rows twice. `committed_at` is set in the same transaction
as the batch's answers: a batch is committed once, whole, or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable

BATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    input_file_id TEXT PRIMARY KEY,
    id TEXT UNIQUE,
    model TEXT NOT NULL,
    split TEXT NOT NULL,
    status TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    output_file_id TEXT,
    error_file_id TEXT,
    error TEXT,
    base_url TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    committed_at REAL,
    answered INTEGER NOT NULL DEFAULT 0,
    failed_rows INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL
);
CREATE TABLE IF NOT EXISTS batch_rows (
    input_file_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    prompt_hash TEXT NOT NULL,
    split TEXT NOT NULL,
    gold TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (input_file_id, custom_id)
);
CREATE INDEX IF NOT EXISTS batch_rows_by_key ON batch_rows (row_id, prompt_hash);
"""

SUBMITTING = "submitting"
"""Status of an intent: the input file is uploaded, `batches.create` not known to have returned."""
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
"""Provider statuses after which a batch changes no more."""
LOST = "lost"
"""Status of a batch the provider no longer knows (404): committed empty, its rows free again."""


@dataclass
class BatchRecord:
    """A batch as this workspace knows it (`id` is None while it is only an intent)."""

    input_file_id: str
    model: str
    split: str
    status: str
    id: str | None = None
    requests: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    error: str | None = None
    base_url: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    committed_at: float | None = None
    answered: int = 0
    failed_rows: int = 0
    cost_usd: float | None = None

    @property
    def open(self) -> bool:
        """Not committed yet: its rows are in flight and must not be asked again."""
        return self.committed_at is None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "input_file_id": self.input_file_id, "model": self.model,
                "request_counts": {"total": self.requests, "completed": self.completed, "failed": self.failed},
                "committed": self.committed_at is not None, "answered": self.answered, "failed_rows": self.failed_rows,
                "created_at": self.created_at}


_COLUMNS = [f.name for f in fields(BatchRecord)]


def _batch_from_row(row: sqlite3.Row) -> BatchRecord:
    return BatchRecord(**{k: row[k] for k in _COLUMNS})


class BatchStore:
    """Batch tables of `Store` (needs its `execute`, `transaction`, `_db`, `_lock` and `_codec`)."""

    def add_batch(self, record: BatchRecord, rows: Iterable[tuple[str, int, str, str, str | None, dict]]) -> None:
        """Save a batch (usually an intent) and its rows (custom_id, row_id, prompt_hash, split, gold, body).

        Bodies are packed like prompts (`prompts.PromptCodec`): a batch of a million rows repeats its
        template a million times."""
        data = asdict(record)
        now = time.time()
        data["created_at"] = data["created_at"] or now
        data["updated_at"] = now
        with self.transaction():
            self._db.execute(
                f"INSERT INTO batches ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})",
                [data[c] for c in _COLUMNS],
            )
            pack = self._codec.pack
            self._db.executemany(
                "INSERT INTO batch_rows VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(record.input_file_id, cid, int(row), h, split, gold,
                  pack(self._db, json.dumps(body, ensure_ascii=False))) for cid, row, h, split, gold, body in rows],
            )

    def update_batch(self, input_file_id: str, **changes: Any) -> None:
        """Change some columns of a batch (`committed_at` only through `commit_batch`)."""
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown batch columns: {sorted(unknown)}")
        changes["updated_at"] = time.time()
        sets = ", ".join(f"{k}=?" for k in changes)
        self.execute(f"UPDATE batches SET {sets} WHERE input_file_id=?", [*changes.values(), input_file_id])

    def drop_batch(self, input_file_id: str) -> None:
        """Forget an intent that never became a batch, freeing its rows."""
        with self.transaction():
            self._db.execute("DELETE FROM batch_rows WHERE input_file_id=?", (input_file_id,))
            self._db.execute("DELETE FROM batches WHERE input_file_id=? AND id IS NULL", (input_file_id,))

    def batches(self, model: str | None = None, *, open_only: bool = False) -> list[BatchRecord]:
        """Known batches, oldest first."""
        clauses, params = [], []
        if model is not None:
            clauses.append("model=?")
            params.append(model)
        if open_only:
            clauses.append("committed_at IS NULL")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return [_batch_from_row(r) for r in self.execute(f"SELECT * FROM batches{where} ORDER BY created_at", params)]

    def batch(self, input_file_id: str) -> BatchRecord | None:
        rows = self.execute("SELECT * FROM batches WHERE input_file_id=?", (input_file_id,))
        return _batch_from_row(rows[0]) if rows else None

    def batch_rows(self, input_file_id: str) -> list[dict[str, Any]]:
        """The rows of a batch: custom_id, row_id, prompt_hash, split, gold and the request body."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM batch_rows WHERE input_file_id=? ORDER BY row_id",
                                    (input_file_id,)).fetchall()
            # A body saved before schema 3 is JSON text; since, packed bytes.
            return [{**dict(r), "body": json.loads(r["body"] if isinstance(r["body"], str)
                                                   else self._codec.unpack(self._db, r["body"]))}
                    for r in rows]

    def batch_keys_in_flight(self, model: str) -> set[tuple[int, str]]:
        """(row_id, prompt_hash) of every row in a batch of `model` not committed yet."""
        rows = self.execute(
            "SELECT r.row_id, r.prompt_hash FROM batch_rows r JOIN batches b ON b.input_file_id = r.input_file_id "
            "WHERE b.model=? AND b.committed_at IS NULL", (model,),
        )
        return {(int(r[0]), r[1]) for r in rows}

    def commit_batch(self, input_file_id: str, **counts: Any) -> bool:
        """Mark a batch committed (inside the caller's transaction); False if it already was."""
        rows = self._db.execute("SELECT committed_at FROM batches WHERE input_file_id=?", (input_file_id,)).fetchall()
        if not rows or rows[0][0] is not None:
            return False
        sets = "".join(f", {k}=?" for k in counts)
        now = time.time()
        self._db.execute(f"UPDATE batches SET committed_at=?, updated_at=?{sets} WHERE input_file_id=?",
                         [now, now, *counts.values(), input_file_id])
        return True
