"""Prompts compacted into blocks (schema 4): every prompt reads back as saved, whether loose or in a
block, shared by several models, migrated from schema 2 or 3, after a rollback or while a run writes."""

import hashlib
import json
import sqlite3
import threading

import pytest

from distill_tui.core.store import prompts
from distill_tui.core.store.database import SCHEMA_VERSION, Answer, Store
from distill_tui.core.store.prompt_blocks import Block, pack_block, prompt_key

BLOCK = 16

TEMPLATE = ("You are a sommelier. Guess the grape variety from the review. Choose from: "
            + ", ".join(f"Variety number {i}" for i in range(80)) + ". Answer with the name only.")


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch):
    monkeypatch.setattr(prompts, "BLOCK", BLOCK)


def _messages(row: int) -> list[dict[str, str]]:
    return [{"role": "system", "content": TEMPLATE},
            {"role": "user", "content": f"Review {row}: a wine of cherry {row * 7919 % 1000} and oak, {row} points ✓."}]


def _hash(row: int) -> str:
    return hashlib.sha1(f"prompt {row}".encode()).hexdigest()


def _answer(model: str, row: int, messages=None) -> Answer:
    return Answer(model, row, _hash(row), "train", "ok", gold="A", messages=messages or _messages(row),
                  content='{"v":"A"}', label="A", valid=True)


def _save(store: Store, rows, model: str = "teacher") -> None:
    with store.transaction():
        for row in rows:
            store.record_answer(_answer(model, row))


def _counts(store: Store) -> tuple[int, int, int]:
    return tuple(store.execute(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("prompts", "prompt_slots", "prompt_blocks"))


def test_a_block_gives_back_every_text_it_was_given():
    texts = [json.dumps(_messages(row)) for row in range(40)] + ["", "short", json.dumps(_messages(3)) + " tail"]
    block = Block(pack_block(texts))
    assert len(block) == len(texts)
    assert [block.text(i) for i in range(len(texts))] == texts


def test_a_block_of_texts_sharing_more_or_less_than_the_last_one_reads_back_whole():
    import random

    rng = random.Random(7)
    for _ in range(300):  # short texts over two letters: every length of shared prefix and suffix
        texts = ["".join(rng.choice("ab") for _ in range(rng.randint(0, 12))) for _ in range(6)]
        block = Block(pack_block(texts))
        assert [block.text(i) for i in range(len(texts))] == texts


def test_prompt_keys_keep_hex_sha1_as_bytes_and_any_other_hash_as_text():
    assert prompt_key("ab" * 20) == bytes.fromhex("ab" * 20)
    assert prompt_key("AB" * 20) == "AB" * 20  # another hash, not the same as the lower-case one
    assert prompt_key("hash1") == "hash1"


def test_prompts_move_into_blocks_as_they_arrive_and_read_back_whole(tmp_path):
    path = tmp_path / "ws.sqlite"
    n = 5 * BLOCK + 3
    with Store(path) as store:
        _save(store, range(n))
        loose, slots, blocks = _counts(store)
        assert (loose, slots, blocks) == (n - 5 * BLOCK, 5 * BLOCK, 5)
        assert [a.messages for a in store.answers()] == [_messages(row) for row in range(n)]
    with Store(path) as store:
        assert [a.messages for a in store.answers()] == [_messages(row) for row in range(n)]
        assert store._codec.load(store._db, _hash(1)) == prompts.messages_text(_messages(1))


def test_models_asked_the_same_prompts_share_them_once_compacted(tmp_path):
    path = tmp_path / "ws.sqlite"
    n = 3 * BLOCK
    with Store(path) as store:
        _save(store, range(n))
    with Store(path) as store:
        for model in ("student", "distilled"):
            _save(store, range(n), model)
        assert _counts(store) == (0, n, 3)
        assert {r[0] for r in store.execute("SELECT messages FROM answers")} == {""}
        got = {(a.model, a.row_id): a.messages for a in store.answers()}
    assert got == {(m, row): _messages(row) for m in ("teacher", "student", "distilled") for row in range(n)}


def test_a_hash_whose_block_holds_other_messages_keeps_the_new_ones_inline(tmp_path):
    other = [{"role": "user", "content": "something else entirely"}]
    with Store(tmp_path / "ws.sqlite") as store:
        _save(store, range(BLOCK))
        assert _counts(store)[1] == BLOCK
        store.record_answer(_answer("student", 1, other))
        got = {(a.model, a.row_id): a.messages for a in store.answers(model="student")}
        assert store.execute("SELECT messages FROM answers WHERE model='student'")[0][0] == json.dumps(other)
    assert got == {("student", 1): other}


def _schema_2_workspace(path, rows: int) -> None:
    from distill_tui.core.store import database

    db = sqlite3.connect(path)
    db.executescript(database._SCHEMA)
    db.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    for row in range(rows):
        db.execute("INSERT INTO answers (model, row_id, prompt_hash, split, status, messages, content, created_at) "
                   "VALUES ('teacher', ?, ?, 'train', 'ok', ?, 'A', 1.0)", (row, _hash(row), json.dumps(_messages(row))))
    db.commit()
    db.close()


def test_a_schema_2_workspace_ends_in_blocks_on_open(tmp_path):
    path = tmp_path / "old.sqlite"
    _schema_2_workspace(path, 3 * BLOCK + 5)
    with Store(path) as store:
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "4"
        assert _counts(store) == (5, 3 * BLOCK, 3)
        assert [a.messages for a in store.answers()] == [_messages(row) for row in range(3 * BLOCK + 5)]


def _schema_3_workspace(path, rows: int) -> None:
    with Store(path) as store:
        store._codec.blocks = False  # as schema 3 saved them: every prompt loose
        _save(store, range(rows))
        store.execute("DROP TABLE prompt_slots")
        store.execute("DROP TABLE prompt_blocks")
        store.set_meta("schema_version", "3")


def test_a_schema_3_workspace_moves_its_loose_prompts_into_blocks_on_open(tmp_path):
    path = tmp_path / "old.sqlite"
    _schema_3_workspace(path, 4 * BLOCK + 1)
    with Store(path) as store:
        assert store.meta("schema_version") == "4"
        assert _counts(store) == (1, 4 * BLOCK, 4)
        assert [a.messages for a in store.answers()] == [_messages(row) for row in range(4 * BLOCK + 1)]


def test_a_read_only_schema_3_workspace_is_read_as_it_is(tmp_path, monkeypatch):
    from distill_tui.core.store import connection

    path = tmp_path / "old.sqlite"
    _schema_3_workspace(path, BLOCK + 1)
    monkeypatch.setattr(connection, "open_store", lambda p, allow_read_only: (connection.open_read_only(p), True))
    with Store(path, allow_read_only=True) as store:
        assert store.read_only and "prompt_slots" not in store.tables
        assert [a.messages for a in store.answers()] == [_messages(row) for row in range(BLOCK + 1)]


def test_a_rolled_back_compaction_leaves_every_prompt_loose_and_readable(tmp_path):
    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        _save(store, range(BLOCK - 1))
        with pytest.raises(RuntimeError), store.transaction():
            store.record_answer(_answer("teacher", BLOCK))  # the block's worth: compacted in this transaction
            assert _counts(store)[1] == BLOCK
            raise RuntimeError("the disk is full")
        assert _counts(store) == (BLOCK - 1, 0, 0)
        assert [a.messages for a in store.answers()] == [_messages(row) for row in range(BLOCK - 1)]
        _save(store, range(BLOCK, 3 * BLOCK))  # the store forgot the block it had cached
        assert _counts(store)[1] >= BLOCK
    expected = [_messages(row) for row in [*range(BLOCK - 1), *range(BLOCK, 3 * BLOCK)]]
    with Store(path) as store:
        assert [a.messages for a in store.answers()] == expected


def test_answers_copied_from_a_workspace_with_blocks_keep_their_messages(tmp_path):
    from distill_tui.core.workspace import reuse

    old, new = tmp_path / "old.sqlite", tmp_path / "new.sqlite"
    with Store(old) as store:
        _save(store, range(2 * BLOCK + 2))
    with Store(new) as store:
        _save(store, range(BLOCK + 3, 2 * BLOCK + 4))  # some of the same prompts, in blocks of their own
        store.execute("DELETE FROM answers")  # (answers are copied only into a workspace that holds none)
        assert reuse._copy(store, old, move=False)
        assert [a.messages for a in store.answers()] == [_messages(row) for row in range(2 * BLOCK + 2)]
        _save(store, range(2 * BLOCK + 2, 4 * BLOCK), "teacher")  # loose ones copied over compact too
        assert [a.messages for a in store.answers()] == [_messages(row) for row in range(4 * BLOCK)]


def test_answers_read_while_a_run_writes_always_have_their_messages(tmp_path):
    from distill_tui.core.store.group_commit import GroupCommit

    path = tmp_path / "ws.sqlite"
    n = 20 * BLOCK
    problems: list[str] = []
    with Store(path) as store, Store(path) as other:
        writer = GroupCommit(store, store.record_answer, max_delay_s=0.0, max_group=7)
        done = threading.Event()

        def read(reader: Store) -> None:
            while not done.is_set():
                for a in reader.answers():
                    if a.messages != _messages(a.row_id):
                        problems.append(f"row {a.row_id}: {a.messages!r}")

        readers = [threading.Thread(target=read, args=(r,)) for r in (store, other)]
        for t in readers:
            t.start()
        for row in range(n):
            writer.submit(_answer("teacher", row))
        writer.close()
        done.set()
        for t in readers:
            t.join()
        assert _counts(store)[1] >= n - BLOCK
        assert [a.messages for a in other.answers()] == [_messages(row) for row in range(n)]
    assert problems == []


def test_a_loose_prompt_whose_hash_a_copied_block_holds_with_other_text_stays_loose(tmp_path):
    from distill_tui.core.workspace import reuse

    other = [{"role": "user", "content": "the same hash, other text"}]
    old, new = tmp_path / "old.sqlite", tmp_path / "new.sqlite"
    with Store(old) as store:
        _save(store, range(BLOCK))
    with Store(new) as store:
        store.record_answer(_answer("judge", 0, other))
        store.execute("DELETE FROM answers")
        assert reuse._copy(store, old, move=False)
        _save(store, range(BLOCK, 3 * BLOCK))
        assert _hash(0) in store._codec._stuck  # met by a compaction, and left loose
        assert store.execute("SELECT COUNT(*) FROM prompts WHERE prompt_hash=?", (_hash(0),))[0][0] == 1
        assert store._codec.load(store._db, _hash(0)) == prompts.messages_text(other)
        assert [a.messages for a in store.answers()][BLOCK:] == [_messages(row) for row in range(BLOCK, 3 * BLOCK)]
