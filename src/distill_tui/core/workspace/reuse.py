"""Answers follow a spec that was renamed, moved or copied, so nothing paid for is bought again.

A workspace is named after its spec's absolute path (`locations.workspace_db`), so a spec at a new
path opens a new, empty workspace. `adopt` looks, in every other workspace of this machine, for
saved answers to what this spec asks: the same teacher model, row and prompt hash. The workspace
matching most is copied in: its answers (evaluation answers too), selections, settings, runs and
Batch API rows (a batch in flight is paid for already). When the spec file it belonged to is gone
(a move or rename), its jobs and exports come too, and it is marked `moved_to` so that it is
neither listed nor adopted again. When that spec still exists (a copy), its workspace is only read:
the copy's later answers and edits never reach it.

The spend a budget counts is the sum of the saved answers' costs, so it follows the answers: a moved
spec resumes with the budget it had spent, not at $0.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distill_tui.core.store.database import Store
    from distill_tui.core.task.dataset import PreparedData
    from distill_tui.core.task.spec import TaskSpec

MOVED_TO = "moved_to"
"""Meta key of a workspace whose spec moved: the spec path its answers went to."""
REUSED_FROM = "reused_from"
"""Meta key of a workspace that started from another one's answers: that database's path."""
SAMPLE = 64
"""Answers per candidate workspace compared with this spec's requests to rank the candidates."""
MOVE_ONLY = frozenset({"jobs", "job_events", "job_checkpoints", "exports"})
"""Tables that follow a moved spec but stay with the original of a copy (a job has one owner)."""
_NOT_COPIED = frozenset({"meta", "sqlite_sequence"})


@dataclass(frozen=True)
class Candidate:
    """Another workspace holding answers to some of this spec's requests."""

    path: Path
    spec_path: str | None
    answers: int  # successful answers of this spec's teacher it holds
    sampled: int
    matched: int  # of the sampled answers, those to this spec's requests
    mtime: float
    moved_to: str | None = None  # where its spec moved, when a spec at another path adopted it

    @property
    def gone(self) -> bool:
        """Whether the spec this workspace belonged to no longer exists (it moved)."""
        return not self.spec_path or not Path(self.spec_path).is_file()

    @property
    def likely(self) -> int:
        """About how many of its answers are to this spec's requests."""
        return round(self.answers * self.matched / self.sampled) if self.sampled else 0

    @property
    def name(self) -> str:
        return self.spec_path or str(self.path)


def needs_check(store: "Store") -> bool:
    """Whether a workspace should look for answers elsewhere: it holds none yet, or its spec moved
    away and has now come back."""
    return store.meta(MOVED_TO) is not None or not store.execute("SELECT 1 FROM answers LIMIT 1")


def adopt(store: "Store", spec: "TaskSpec", data: "PreparedData") -> str | None:
    """Copy into `store` the answers another workspace holds for this spec's requests.

    Args:
        store: The spec's own workspace database.
        spec: The spec (its teacher model builds the requests; the hash ignores the model).
        data: The spec's prepared rows.

    Returns:
        One line for the user saying what was reused and from where, or why nothing could be;
        None when there was nothing to look for or nothing found.
    """
    from distill_tui.core.store.database import iter_workspaces

    try:
        if not needs_check(store):
            return None
        own = store.path.resolve()
        hashes = _Hashes(spec, data)
        found: list[Candidate] = []
        unreadable: list[str] = []
        for path in iter_workspaces():
            if path.resolve() == own:
                continue
            try:
                candidate = _probe(path, hashes)
            except sqlite3.Error as exc:
                unreadable.append(f"{path} ({exc})")
                continue
            if candidate is not None and candidate.matched and not _superseded(candidate, own):
                found.append(candidate)
    except sqlite3.Error as exc:  # e.g. a read-only or damaged own workspace: reuse is a bonus
        return f"could not look for answers saved under another path of this spec ({exc})"
    if not found:
        _clear_moved(store)
        if unreadable:
            return (f"could not read {len(unreadable)} other workspace(s) for answers this spec may already "
                    f"have paid for: {unreadable[0]}")
        return None
    # Most answers first; on a tie the workspace whose spec is gone (a move), then the newest.
    found.sort(key=lambda c: (c.likely, c.gone, c.mtime), reverse=True)
    best = found[0]
    move = best.gone
    try:
        copied = _copy(store, best.path, move=move)
    except sqlite3.Error as exc:
        return f"could not reuse the answers of {best.name}'s workspace ({exc}): they would be bought again"
    if copied is None:  # another process adopted them first
        return None
    if move:
        _mark_moved(best.path, spec.source)
    reused = _matching(store, hashes)
    how = "that spec is gone: its workspace moved here" if move else "a copy: that workspace stays as it is"
    line = f"reusing {reused} answers from the workspace of {best.name} ({how})"
    if copied > reused:
        line += f"; {copied - reused} answers to other prompts came along"
    if len(found) > 1:
        others = ", ".join(f"{c.name} (~{c.likely})" for c in found[1:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        line += f"; picked it as the one with the most of {len(found)} that hold some: also {others}{more}"
    return line


class _Hashes:
    """This spec's prompt hash of each row, computed only for the rows asked about."""

    def __init__(self, spec: "TaskSpec", data: "PreparedData") -> None:
        self.spec, self.data = spec, data
        self._known: dict[int, str] = {}

    def of(self, row_ids: set[int]) -> dict[int, str]:
        from distill_tui.core.task.dataset import ROW
        from distill_tui.core.task.requests import prompt_hash, request_body

        new = row_ids - self._known.keys()
        if new:
            frame = self.data.frame[self.data.frame[ROW].isin(new)]
            model = self.spec.teacher.model
            for row in frame.to_dict("records"):
                body = request_body(self.spec, row, self.data.labels, model)
                self._known[int(row[ROW])] = prompt_hash(body)
        return {r: self._known[r] for r in row_ids if r in self._known}

    def count(self, keys: list[tuple[int, str]]) -> int:
        known = self.of({row for row, _ in keys})
        return sum(known.get(row) == digest for row, digest in keys)


def _probe(path: Path, hashes: _Hashes) -> Candidate | None:
    """What workspace `path` holds of this spec's teacher answers, read without writing to it.

    Only the teacher's answers are compared: a workspace of another spec that shares only the
    student (or the data) is another experiment, not this spec under another path.
    """
    model = hashes.spec.teacher.model
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        answers = db.execute("SELECT COUNT(*) FROM answers WHERE status='ok' AND model=?", (model,)).fetchone()[0]
        if not answers:
            return None
        # Ordered by hash: a spread of rows that is the same on every look.
        sample = db.execute(
            "SELECT row_id, prompt_hash FROM answers WHERE status='ok' AND model=? ORDER BY prompt_hash LIMIT ?",
            (model, SAMPLE),
        ).fetchall()
    finally:
        db.close()
    keys = [(int(r), h) for r, h in sample]
    return Candidate(path, meta.get("spec_path"), int(answers), len(keys), hashes.count(keys), _mtime(path),
                     meta.get(MOVED_TO))


def _superseded(candidate: Candidate, own: Path) -> bool:
    """Whether a candidate's answers already live on in the workspace its spec moved to."""
    from distill_tui import locations

    if candidate.moved_to is None:
        return False
    target = locations.workspace_db(Path(candidate.moved_to))
    return target.resolve() != own and target.is_file()


def _mtime(path: Path) -> float:
    stamps = []
    for suffix in ("", "-wal"):
        try:
            stamps.append(Path(str(path) + suffix).stat().st_mtime)
        except OSError:
            pass
    return max(stamps, default=0.0)


def _copy(store: "Store", source: Path, *, move: bool) -> int | None:
    """Copy every table of `source` into `store` (rows already there are kept).

    Returns:
        The number of answers copied, or None when `store` needed nothing any more.
    """
    store.execute("ATTACH DATABASE ? AS src", (str(source),))
    try:
        with store.transaction():
            if not needs_check(store):
                return None
            before = store.execute("SELECT COUNT(*) FROM main.answers")[0][0]
            tables = [r[0] for r in store.execute("SELECT name FROM src.sqlite_master WHERE type='table'")]
            for table in tables:
                if table in _NOT_COPIED or (table in MOVE_ONLY and not move):
                    continue
                _copy_table(store, table)
            store.execute("INSERT OR REPLACE INTO main.meta VALUES (?, ?)", (REUSED_FROM, str(source)))
            store.execute("INSERT OR REPLACE INTO main.meta VALUES ('reused_at', ?)", (str(time.time()),))
            store.execute("DELETE FROM main.meta WHERE key=?", (MOVED_TO,))
            return int(store.execute("SELECT COUNT(*) FROM main.answers")[0][0] - before)
    finally:
        store.execute("DETACH DATABASE src")


def _copy_table(store: "Store", table: str) -> None:
    """INSERT OR IGNORE the rows of `src.table` into the same table here, by column name."""
    ours = store.execute(f'PRAGMA main.table_info("{table}")')
    if not ours:  # a table this version does not know: leave it
        return
    theirs = {r["name"] for r in store.execute(f'PRAGMA src.table_info("{table}")')}
    # An AUTOINCREMENT key only numbers rows (runs, exports): let this workspace number the copies.
    sql = store.execute("SELECT sql FROM main.sqlite_master WHERE type='table' AND name=?", (table,))[0][0] or ""
    counter = [r["name"] for r in ours if r["pk"] == 1 and "AUTOINCREMENT" in sql.upper()]
    columns = [r["name"] for r in ours if r["name"] in theirs and r["name"] not in counter]
    names = ", ".join(f'"{c}"' for c in columns)
    store.execute(f'INSERT OR IGNORE INTO main."{table}" ({names}) SELECT {names} FROM src."{table}"')


def _mark_moved(source: Path, spec_path: Path) -> None:
    """Note in a moved spec's old workspace where its answers went (best effort: it may be read-only)."""
    try:
        db = sqlite3.connect(str(source), timeout=5)
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           (MOVED_TO, str(Path(spec_path).expanduser().resolve())))
        finally:
            db.close()
    except sqlite3.Error:
        pass


def _clear_moved(store: "Store") -> None:
    """A spec back at a path it had left, with nowhere else holding its answers: its workspace is its own again."""
    try:
        if store.meta(MOVED_TO) is not None:
            store.execute("DELETE FROM meta WHERE key=?", (MOVED_TO,))
    except sqlite3.Error:
        pass


def _matching(store: "Store", hashes: _Hashes) -> int:
    """How many successful answers in `store` are to this spec's requests as they are now."""
    rows = store.execute("SELECT row_id, prompt_hash FROM answers WHERE status='ok'")
    return hashes.count([(int(r[0]), r[1]) for r in rows])
