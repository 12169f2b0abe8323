"""A COMMIT that fails (a full disk: in WAL mode pages are written at commit) leaves nothing of its
transaction behind, and the prompt codec forgets what it made in it (a dictionary, a block), so
the prompts saved next stay readable."""

import sqlite3

import pytest

from distill_tui.core.store.database import Answer, Store


class _FullAtCommit:
    """The connection, whose next COMMIT rolls back and fails as SQLite may on a full disk."""

    def __init__(self, db):
        self._db, self.fail = db, True

    def execute(self, sql, *args):
        if sql == "COMMIT" and self.fail:
            self.fail = False
            self._db.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._db, name)


def _answer(row: int) -> Answer:
    text = f"Review {row}: " + "a wine with dark cherry, oak and a long finish; " * 10
    return Answer(model="m", row_id=row, prompt_hash=f"{row:040x}", split="train", status="ok",
                  messages=[{"role": "user", "content": text}], content="x", created_at=1.0)


def test_prompts_saved_after_a_failed_commit_stay_readable(tmp_path):
    store = Store(tmp_path / "ws.sqlite")
    real = store._db
    store._db = _FullAtCommit(real)
    with pytest.raises(sqlite3.OperationalError):
        store.record_answer(_answer(1))  # its prompt made the workspace's first dictionary
    store._db = real
    for row in range(2, 300):  # past a block's worth, so one is made too
        store.record_answer(_answer(row))
    store.close()
    store = Store(tmp_path / "ws.sqlite")  # another process reads the workspace
    assert [(a.row_id, a.messages) for a in store.answers()] == [(r, _answer(r).messages) for r in range(2, 300)]
    store.close()
