"""Selection flags: a large change is one compact snapshot, not a row per flag, and reads the same."""

from types import SimpleNamespace

from distill_tui.core.store import selections
from distill_tui.core.store.database import Store


def test_a_large_change_is_one_snapshot_and_later_flags_win(tmp_path):
    n = selections.COMPACT_AT * 3
    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        store.set_selections({-1: True, n + 5: False})  # rows the next change does not touch
        store.set_selections({r: r % 3 == 0 for r in range(n)})
        assert store.execute("SELECT COUNT(*) FROM selections")[0][0] == 0
        assert store.execute("SELECT COUNT(*) FROM selection_snapshot")[0][0] == 1
        store.set_selections({0: False, 1: True})
    expected = {-1: True, n + 5: False, **{r: r % 3 == 0 for r in range(n)}, 0: False, 1: True}
    with Store(path) as store:
        assert store.selections() == expected
        store.set_selections({r: True for r in range(n)})  # folds the per-row flags in too
        assert store.selections() == {**expected, **{r: True for r in range(n)}}
        assert store.execute("SELECT COUNT(*) FROM selections")[0][0] == 0


def test_an_export_is_stale_after_a_large_change_too(tmp_path):
    from distill_tui.core.train.checks import stale_export_warning

    with Store(tmp_path / "ws.sqlite") as store:
        store.record_export(str(tmp_path / "train.jsonl"), 10, 100)
        workspace = SimpleNamespace(store=store)
        assert stale_export_warning(workspace, tmp_path / "train.jsonl") is None
        store.set_selections({r: False for r in range(selections.COMPACT_AT)})
        assert store.execute("SELECT COUNT(*) FROM selections")[0][0] == 0
        assert stale_export_warning(workspace, tmp_path / "train.jsonl")


def test_a_read_only_workspace_of_schema_2_is_read_as_it_is(tmp_path, monkeypatch):
    import json
    import sqlite3

    from distill_tui.core.store import connection, database

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(database._SCHEMA)
    db.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    db.execute("INSERT INTO answers (model, row_id, prompt_hash, split, status, messages, created_at) "
               "VALUES ('m', 1, 'h', 'train', 'ok', ?, 1.0)", (json.dumps([{"role": "user", "content": "x"}]),))
    db.execute("INSERT INTO selections VALUES (1, 0, 1.0)")
    db.commit()
    db.close()
    monkeypatch.setattr(connection, "open_read_write", lambda p: (_ for _ in ()).throw(connection.read_only_error(p)))
    monkeypatch.setattr(connection, "_read_only_why", lambda p: "the file is read-only")
    with Store(path, allow_read_only=True) as store:
        assert store.read_only
        assert store.answers()[0].messages == [{"role": "user", "content": "x"}]
        assert store.selections() == {1: False}
        assert store.selections_changed_at() == 1.0
