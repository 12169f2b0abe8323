"""Prompts stored once per hash (schema 3): answers keep their messages, the file stays small, and
workspaces of schema 2 are moved over on open."""

import json
import sqlite3

from distill_tui.core.store import database, migrate
from distill_tui.core.store.database import SCHEMA_VERSION, Answer, Store

TEMPLATE = ("You are a sommelier. Guess the grape variety from the review. Choose from: "
            + ", ".join(f"Variety number {i}" for i in range(80)) + ". Answer with the name only.")


def _messages(row: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": TEMPLATE},
            {"role": "user", "content": f"Review {row}: a wine of cherry {row * 7919 % 1000} and oak, {row} points."}]


def _answer(model: str, row: int, **kw) -> Answer:
    return Answer(model, row, f"hash{row}", "train", "ok", gold="A", messages=_messages(row), content='{"v":"A"}',
                  label="A", valid=True, **kw)


def _size(path) -> int:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size
    finally:
        db.close()


def test_a_prompt_asked_of_several_models_is_stored_once_and_read_back_whole(tmp_path):
    with Store(tmp_path / "ws.sqlite") as store:
        for model in ("teacher", "student", "distilled"):
            store.record_answer(_answer(model, 1))
        assert store.execute("SELECT COUNT(*) FROM prompts")[0][0] == 1
        assert {r[0] for r in store.execute("SELECT messages FROM answers")} == {""}
    with Store(tmp_path / "ws.sqlite") as store:
        assert [a.messages for a in store.answers()] == [_messages(1)] * 3


def test_answers_sharing_a_template_take_a_fraction_of_their_messages_size(tmp_path):
    path = tmp_path / "ws.sqlite"
    n = 600
    with Store(path) as store:
        with store.transaction():
            for row in range(n):
                store.record_answer(_answer("teacher", row))
    inline = sum(len(json.dumps(_messages(row), ensure_ascii=False)) for row in range(n))
    # Inline (schema 2) the file was larger than the messages alone; stored once it is a fraction.
    assert _size(path) < 0.3 * inline
    with Store(path) as store:
        assert [a.messages for a in store.answers()] == [_messages(row) for row in range(n)]


def test_a_hash_already_holding_other_messages_keeps_the_new_ones_inline(tmp_path):
    other = [{"role": "user", "content": "something else entirely"}]
    with Store(tmp_path / "ws.sqlite") as store:
        store.record_answer(_answer("teacher", 1))
        store.record_answer(Answer("student", 1, "hash1", "train", "ok", messages=other))
        store.record_answer(Answer("judge", 1, "hash1", "train", "failed"))
        got = {a.model: a.messages for a in store.answers()}
    assert got == {"teacher": _messages(1), "student": other, "judge": None}


def test_a_changed_template_gets_a_dictionary_of_its_own(tmp_path):
    from distill_tui.core.store import prompts

    path = tmp_path / "ws.sqlite"
    changed = [[{"role": "user", "content": f"{row} " + "".join(reversed(TEMPLATE)) + f" {row}"}]
               for row in range(prompts._CHECK_EVERY + 50)]
    with Store(path) as store:
        with store.transaction():
            store.record_answer(_answer("teacher", 0))
            for row, messages in enumerate(changed, start=1):
                store.record_answer(Answer("teacher", row, f"h{row}", "train", "ok", messages=messages))
        assert store.execute("SELECT COUNT(*) FROM prompt_dicts")[0][0] == 2
    with Store(path) as store:
        assert [a.messages for a in store.answers()] == [_messages(0), *changed]


def _schema_2_workspace(path, rows: int) -> None:
    db = sqlite3.connect(path)
    db.executescript(database._SCHEMA)
    db.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    for row in range(rows):
        db.execute("INSERT INTO answers (model, row_id, prompt_hash, split, status, messages, content, created_at) "
                   "VALUES ('teacher', ?, ?, 'train', 'ok', ?, 'A', 1.0)",
                   (row, f"hash{row}", json.dumps(_messages(row))))
    db.execute("INSERT INTO answers (model, row_id, prompt_hash, split, status, created_at) "
               "VALUES ('teacher', 999, 'h999', 'train', 'failed', 1.0)")
    db.commit()
    db.close()


def test_a_schema_2_workspace_moves_its_messages_into_prompts_on_open(tmp_path):
    path = tmp_path / "old.sqlite"
    _schema_2_workspace(path, 50)
    with Store(path) as store:
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "4"
        assert store.execute("SELECT COUNT(*) FROM answers WHERE messages != ''")[0][0] == 0
        assert store.execute("SELECT COUNT(*) FROM prompts")[0][0] == 50
        answers = store.answers()
    assert [a.messages for a in answers] == [_messages(row) for row in range(50)] + [None]


def test_answers_copied_from_another_workspace_keep_their_messages(tmp_path):
    from distill_tui.core.workspace import reuse

    old, new = tmp_path / "old.sqlite", tmp_path / "new.sqlite"
    _schema_2_workspace(old, 3)  # copied as it is (reuse only reads other workspaces)
    with Store(new) as store:
        for row in range(3):
            store.record_answer(_answer("teacher", row))
    for source in (old, new):
        with Store(tmp_path / f"from-{source.name}") as store:
            assert reuse._copy(store, source, move=False)
            answers = store.answers()
        assert [a.messages for a in answers[:3]] == [_messages(row) for row in range(3)]


def test_batch_request_bodies_are_packed_and_older_ones_still_read(tmp_path):
    from distill_tui.core.store.batches import BatchRecord

    bodies = [{"model": "gpt-4o", "messages": _messages(row), "max_completion_tokens": 64} for row in range(300)]
    with Store(tmp_path / "ws.sqlite") as store:
        store.add_batch(BatchRecord("file-1", "gpt-4o", "train", "submitting"),
                        [(f"row-{i}", i, f"hash{i}", "train", "A", body) for i, body in enumerate(bodies)])
        stored = store.execute("SELECT SUM(LENGTH(body)) FROM batch_rows")[0][0]
        assert stored < 0.2 * sum(len(json.dumps(b)) for b in bodies)
        store.execute("UPDATE batch_rows SET body=? WHERE row_id=0", (json.dumps(bodies[0]),))  # as schema 2 saved it
        assert [r["body"] for r in store.batch_rows("file-1")] == bodies


def test_a_dictionary_made_in_a_rolled_back_transaction_is_not_used_afterwards(tmp_path):
    import pytest

    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.record_answer(_answer("teacher", 1))  # the first prompt: it becomes the dictionary
            raise RuntimeError("the disk is full")
        store.record_answer(_answer("teacher", 2))
    with Store(path) as store:
        assert [a.messages for a in store.answers()] == [_messages(2)]


def test_a_long_upgrade_is_said_first_once(tmp_path, monkeypatch):
    said: list[str] = []
    monkeypatch.setattr(migrate, "upgrade_notice", said.append)
    monkeypatch.setattr(migrate, "UPGRADE_NOTICE_PROMPTS", 40)
    path, small = tmp_path / "old.sqlite", tmp_path / "small.sqlite"
    _schema_2_workspace(path, 50)
    _schema_2_workspace(small, 30)
    with Store(path):
        pass
    with Store(path), Store(small):  # upgraded already; too few to be worth a line
        pass
    assert len(said) == 1 and f"{path}: upgrading the workspace to schema 4: 50 prompts" in said[0], said


def test_the_cli_prints_the_upgrade_line_on_stderr(tmp_path, monkeypatch, capsys):
    from distill_tui import locations
    from distill_tui.cli import main
    from tests.helpers import write_spec

    monkeypatch.setattr(migrate, "UPGRADE_NOTICE_PROMPTS", 40)
    monkeypatch.setattr(migrate, "upgrade_notice", None)  # main() sets it; restored after the test
    spec = write_spec(tmp_path)
    db = locations.workspace_db(spec)
    db.parent.mkdir(parents=True, exist_ok=True)
    _schema_2_workspace(db, 50)
    main(["jobs", str(spec)])
    err = capsys.readouterr().err
    assert "distill-tui: " in err and "upgrading the workspace to schema 4: 50 prompts" in err, err
