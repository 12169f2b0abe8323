"""Corrected teacher answers: the curation's edits, kept beside the answers they replace. `Store`
mixes this in.

An edit never changes the `answers` table: the original answer (what was paid for) stays, and the
edit is keyed by the same (model, row, prompt hash), so it applies only to the answer it was made on
(a changed prompt is a new answer, unedited). Curation and export read the edit instead of the original.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

EDITS_SCHEMA = """
CREATE TABLE IF NOT EXISTS answer_edits (
    model TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    prompt_hash TEXT NOT NULL,
    content TEXT NOT NULL,
    label TEXT,
    valid INTEGER NOT NULL DEFAULT 0,
    problem TEXT,
    reason TEXT NOT NULL DEFAULT 'edited',
    edited_at REAL NOT NULL,
    PRIMARY KEY (model, row_id, prompt_hash)
);
"""

EDITED, GOLD = "edited", "gold"
"""Why an answer was replaced: edited by hand, or the gold label put in where the teacher disagreed."""

Key = tuple[str, int, str]
"""(model, row_id, prompt_hash): the answer an edit replaces."""


@dataclass(frozen=True)
class AnswerEdit:
    """The replacement of one teacher answer, read as the answer was (`label`, `valid`, `problem`)."""

    model: str
    row_id: int
    prompt_hash: str
    content: str
    label: str | None
    valid: bool
    problem: str | None = None
    reason: str = EDITED
    edited_at: float = 0.0

    @property
    def key(self) -> Key:
        return (self.model, self.row_id, self.prompt_hash)


_COLUMNS = ("model", "row_id", "prompt_hash", "content", "label", "valid", "problem", "reason", "edited_at")


class EditStore:
    """The `answer_edits` table of `Store` (needs its `execute` and `transaction`)."""

    def save_edits(self, edits: Iterable[AnswerEdit]) -> int:
        """Insert or replace edits in one commit; returns how many."""
        now = time.time()
        rows = [(e.model, e.row_id, e.prompt_hash, e.content, e.label, int(e.valid), e.problem, e.reason,
                 e.edited_at or now) for e in edits]
        with self.transaction():  # type: ignore[attr-defined]
            for row in rows:
                self.execute(  # type: ignore[attr-defined]
                    f"INSERT OR REPLACE INTO answer_edits ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    row)
        return len(rows)

    def drop_edits(self, keys: Iterable[Key]) -> int:
        """Remove edits (the original answers apply again); returns how many keys were given."""
        keys = list(keys)
        with self.transaction():  # type: ignore[attr-defined]
            for key in keys:
                self.execute("DELETE FROM answer_edits WHERE model=? AND row_id=? AND prompt_hash=?", key)  # type: ignore[attr-defined]
        return len(keys)

    def edits(self) -> dict[Key, AnswerEdit]:
        """Every edit, by the answer it replaces (none in an older workspace opened read-only, which
        has no table for them)."""
        if not self.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='answer_edits'"):  # type: ignore[attr-defined]
            return {}
        rows = self.execute(f"SELECT {', '.join(_COLUMNS)} FROM answer_edits")  # type: ignore[attr-defined]
        out = {}
        for r in rows:
            edit = AnswerEdit(r[0], int(r[1]), r[2], r[3], r[4], bool(r[5]), r[6], r[7], float(r[8]))
            out[edit.key] = edit
        return out
