"""The workspace database: one SQLite file (WAL) per spec holding everything paid for or decided.

Every teacher or evaluation answer is committed the moment it arrives (synchronous=FULL), so a
crash, Ctrl-C or dropped SSH link loses at most the requests in flight. The schema is versioned in
`meta.schema_version` and migrated forward on open.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Iterator

from distill_tui.core.store.batches import BATCH_SCHEMA, BatchStore
from distill_tui.core.store.edits import EDITS_SCHEMA, EditStore
from distill_tui.core.store.human_grades import HUMAN_GRADES_SCHEMA, HumanGradeStore
from distill_tui.core.store.jobs import JobStore
from distill_tui.core.store.locks import RunLocks
from distill_tui.core.store.prompt_blocks import prompt_key
from distill_tui.core.store import migrate
from distill_tui.core.store.migrate import SCHEMA_VERSION  # noqa: F401 - imported from here too
from distill_tui.core.store.prompts import PROMPTS_SCHEMA, STORED_ONCE, PromptCodec, messages_text
from distill_tui.core.store.selections import SELECTION_SCHEMA, SelectionStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    model TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    prompt_hash TEXT NOT NULL,
    split TEXT NOT NULL,
    status TEXT NOT NULL,
    gold TEXT,
    messages TEXT,
    content TEXT,
    label TEXT,
    valid INTEGER NOT NULL DEFAULT 0,
    problem TEXT,
    finish_reason TEXT,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    latency_s REAL,
    cost_usd REAL,
    request_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    source TEXT NOT NULL DEFAULT 'generated',
    created_at REAL NOT NULL,
    PRIMARY KEY (model, row_id, prompt_hash)
);
CREATE INDEX IF NOT EXISTS answers_by_split ON answers (split, model);
CREATE TABLE IF NOT EXISTS selections (
    row_id INTEGER PRIMARY KEY,
    selected INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL DEFAULT 'running',
    requests INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    note TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    base_model TEXT NOT NULL,
    status TEXT NOT NULL,
    fine_tuned_model TEXT,
    training_file TEXT,
    validation_file TEXT,
    local_training_path TEXT,
    local_validation_path TEXT,
    trained_tokens INTEGER,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    data TEXT
);
CREATE TABLE IF NOT EXISTS job_events (
    job_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    level TEXT,
    type TEXT,
    message TEXT,
    data TEXT,
    PRIMARY KEY (job_id, event_id)
);
CREATE TABLE IF NOT EXISTS job_checkpoints (
    job_id TEXT NOT NULL,
    checkpoint_id TEXT NOT NULL,
    step INTEGER,
    model_name TEXT,
    metrics TEXT,
    created_at REAL,
    PRIMARY KEY (job_id, checkpoint_id)
);
CREATE TABLE IF NOT EXISTS exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    validation_path TEXT,
    examples INTEGER NOT NULL,
    validation_examples INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
"""


@dataclass
class Answer:
    """One model answer to one row's prompt (teacher generation or evaluation)."""

    model: str
    row_id: int
    prompt_hash: str
    split: str
    status: str  # "ok" or "failed"
    gold: str | None = None
    messages: list[dict[str, Any]] | None = None
    content: str | None = None
    label: str | None = None
    valid: bool = False
    problem: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0  # part of completion_tokens (and priced with them): a reasoning model's thinking
    latency_s: float | None = None
    cost_usd: float | None = None
    request_id: str | None = None
    attempts: int = 0
    error: str | None = None
    source: str = "generated"  # or "imported"
    created_at: float = 0.0


_ANSWER_COLUMNS = [f.name for f in fields(Answer)]


def _answer_from_row(row: sqlite3.Row, unpack: Any, blocks: dict[int, Any]) -> Answer:
    data = dict(row)
    packed = data.pop("packed", None)
    block, slot = data.pop("block", None), data.pop("slot", None)
    data["valid"] = bool(data["valid"])
    if data["messages"] == STORED_ONCE:
        if packed is not None:
            data["messages"] = unpack(packed)
        else:
            data["messages"] = None if block is None else blocks[block].text(slot)
    data["messages"] = json.loads(data["messages"]) if data["messages"] else None
    return Answer(**data)


class Store(RunLocks, SelectionStore, JobStore, BatchStore, EditStore, HumanGradeStore):
    """A workspace database. Safe to share between threads (one connection behind a lock)."""

    def __init__(self, path: str | Path, *, allow_read_only: bool = False) -> None:
        """Open (or create) a workspace database, private to its owner (0700 folders, 0600 files).

        Args:
            path: The database file.
            allow_read_only: For commands that only read: a file or folder that cannot be written
                is opened read-only (`read_only` is then True and any write fails with one line).

        Raises:
            UserError: the folder cannot be made, or the file is read-only, damaged or not a workspace.
        """
        from distill_tui.core.store.connection import open_store

        self.path = Path(path)
        self._lock = threading.RLock()
        self._codec = PromptCodec()
        self._db, self.read_only = open_store(self.path, allow_read_only=allow_read_only)
        try:
            self._db.create_function("prompt_key", 1, prompt_key, deterministic=True)
            self._codec.blocks = not self.read_only  # _migrate makes the block tables
            self._migrate()
            # A read-only workspace of an older schema lacks the newer tables: read it as it is.
            self.tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            self._codec.blocks = "prompt_slots" in self.tables
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def for_spec(cls, spec_path: str | Path, *, allow_read_only: bool = False) -> "Store":
        """The workspace database of a spec file, created on first use (see `__init__`)."""
        from distill_tui import locations

        store = cls(locations.workspace_db(Path(spec_path)), allow_read_only=allow_read_only)
        if not store.read_only:
            store.set_meta("spec_path", str(Path(spec_path).expanduser().resolve()))
        return store

    def _migrate(self) -> None:
        with self._lock:
            if not self.read_only:
                self._db.executescript(_SCHEMA + PROMPTS_SCHEMA + SELECTION_SCHEMA)
            migrate.upgrade(self._db, self._codec, self.path, read_only=self.read_only, transaction=self.transaction)
            if self.read_only:
                return
            # Tables added since version 1 need no version step: older workspaces gain them on open,
            # and an older distill-tui ignores them.
            self._db.executescript(BATCH_SCHEMA + EDITS_SCHEMA + HUMAN_GRADES_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run one statement and return its rows (for modules that own extra queries)."""
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def transaction(self) -> "_Transaction":
        """`with store.transaction(): ...` groups writes into one commit."""
        return _Transaction(self)

    # meta and settings -------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        rows = self.execute("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def setting(self, key: str, default: Any = None) -> Any:
        rows = self.execute("SELECT value FROM settings WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        self.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, json.dumps(value)))

    # answers -----------------------------------------------------------------------------------
    def record_answer(self, answer: Answer) -> None:
        """Insert or replace one answer and commit at once (its prompt, when new, in the same commit)."""
        data = {name: getattr(answer, name) for name in _ANSWER_COLUMNS}  # asdict deep-copies the messages
        data["valid"] = int(bool(data["valid"]))
        data["created_at"] = data["created_at"] or time.time()
        columns = ", ".join(_ANSWER_COLUMNS)
        marks = ", ".join("?" for _ in _ANSWER_COLUMNS)
        with self._lock, contextlib.nullcontext() if self._db.in_transaction else self.transaction():
            if data["messages"] is not None:
                text = messages_text(data["messages"])
                stored = self._codec.store(self._db, answer.prompt_hash, text, answer.row_id)
                data["messages"] = STORED_ONCE if stored else text
            self._db.execute(f"INSERT OR REPLACE INTO answers ({columns}) VALUES ({marks})",
                             [data[c] for c in _ANSWER_COLUMNS])

    def answers(
        self,
        model: str | None = None,
        split: str | None = None,
        status: str | None = None,
        prompt_hashes: dict[int, str] | None = None,
    ) -> list[Answer]:
        """Saved answers, optionally narrowed; with `prompt_hashes`, only those matching each row's hash.

        `split` is the split a row was in when it was answered. To get the answers of today's split,
        pass that split's `prompt_hashes` instead (rows can move between splits when the spec changes).
        """
        clauses, params = [], []
        for column, value in (("model", model), ("split", split), ("status", status)):
            if value is not None:
                clauses.append(f"a.{column}=?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        source = "NULL AS packed FROM answers a"
        if "prompts" in self.tables:  # absent from a read-only workspace of schema 2
            source = ("p.data AS packed FROM answers a "
                      "LEFT JOIN prompts p ON a.messages = '' AND p.prompt_hash = a.prompt_hash")
        if "prompt_slots" in self.tables:  # absent from a read-only workspace of schema 3
            source = ("s.block, s.slot, " + source + " LEFT JOIN prompt_slots s ON a.messages = '' "
                      "AND p.prompt_hash IS NULL AND s.prompt_key = prompt_key(a.prompt_hash)")
        with self._lock:
            rows = self._db.execute(f"SELECT a.*, {source}{where} ORDER BY a.row_id", params).fetchall()
            unpack = functools.partial(self._codec.unpack, self._db)
            blocks = {}
            if "prompt_slots" in self.tables:
                blocks = self._codec.blocks_of(self._db, [r["block"] for r in rows if r["block"] is not None])
            out = [_answer_from_row(r, unpack, blocks) for r in rows]
        if prompt_hashes is not None:
            out = [a for a in out if prompt_hashes.get(a.row_id) == a.prompt_hash]
        return out

    def answered_keys(self, model: str) -> set[tuple[int, str]]:
        """(row_id, prompt_hash) of every successful answer of a model: never to be asked again."""
        return self._keys("model=? AND status='ok'", (model,))

    def failed_keys(self, model: str, split: str) -> set[tuple[int, str]]:
        """(row_id, prompt_hash) of a model's failed rows of `split` (asked again by the next run),
        without reading their prompts (`answers(status="failed")` inflates every block they are in)."""
        return self._keys("model=? AND split=? AND status='failed'", (model, split))

    def _keys(self, where: str, params: tuple[Any, ...]) -> set[tuple[int, str]]:
        rows = self.execute(f"SELECT row_id, prompt_hash FROM answers WHERE {where}", params)
        return {(int(r[0]), r[1]) for r in rows}

    # runs --------------------------------------------------------------------------------------
    def start_run(self, kind: str, model: str) -> int:
        with self._lock:
            cur = self._db.execute("INSERT INTO runs (kind, model, started_at) VALUES (?, ?, ?)", (kind, model, time.time()))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, **counts: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in counts)
        extra = f", {sets}" if sets else ""
        self.execute(
            f"UPDATE runs SET status=?, finished_at=?{extra} WHERE id=?", [status, time.time(), *counts.values(), run_id]
        )

    # exports -----------------------------------------------------------------------------------
    def record_export(self, path: str, examples: int, tokens: int, validation_path: str | None = None,
                      validation_examples: int = 0) -> None:
        self.execute(
            "INSERT INTO exports (path, validation_path, examples, validation_examples, tokens, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (path, validation_path, examples, validation_examples, tokens, time.time()),
        )

    def exports(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.execute("SELECT * FROM exports ORDER BY id DESC")]


class _Transaction:
    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> None:
        self._store._lock.acquire()
        self._store._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        db = self._store._db
        try:
            if exc_type:
                self._store._codec.forget()  # a dictionary it made may be rolled back with the rest
                db.execute("ROLLBACK")
                return
            try:
                db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a full disk: WAL mode writes at commit) may have rolled back, or left
                # the transaction open: either way what the codec made in it is not saved.
                self._store._codec.forget()
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        finally:
            self._store._lock.release()


def iter_workspaces() -> Iterator[Path]:
    """Every workspace database under the data folder."""
    from distill_tui import locations

    folder = locations.workspaces_dir()
    if folder.is_dir():
        yield from sorted(folder.glob("*.sqlite"))
