"""The workspace database on disk: private to its owner, one line for a damaged, misplaced or
read-only file (never a traceback, never silence), and read-only folders still readable."""

from __future__ import annotations

import ctypes
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from distill_tui import locations
from distill_tui.cli import main
from distill_tui.core.store.database import Answer, Store
from distill_tui.core.store.jobs import JobRecord
from tests.helpers import write_spec


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _fill(store: Store, rows: int = 300) -> None:
    for i in range(rows):
        store.record_answer(Answer(model="offline-teacher", row_id=i, prompt_hash=f"h{i}", split="train",
                                   status="ok", content="Merlot " * 20, label="Merlot", valid=True))


def _damage_pages_of(path: Path, table: str) -> None:
    """Overwrite the header of one of `table`'s leaf pages, as a bad sector or a torn copy would."""
    db = sqlite3.connect(path)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = [p for (p,) in db.execute("SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf'", (table,))]
    db.close()
    with open(path, "r+b") as handle:
        handle.seek((pages[len(pages) // 2] - 1) * page_size)
        handle.write(b"GARBAGE!" * 16)


def test_the_data_folder_and_database_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        with Store(data / "workspaces" / "w.sqlite") as store:
            store.set_meta("k", "v")
            files = [store.path, store.path.with_name("w.sqlite-wal"), store.path.with_name("w.sqlite-shm")]
            assert [_mode(p) for p in files if p.exists()] == [0o600] * sum(p.exists() for p in files)
            assert _mode(data) == _mode(data / "workspaces") == 0o700
        older = tmp_path / "older.sqlite"  # made by an earlier version under umask 022
        sqlite3.connect(older).execute("CREATE TABLE t (x)").connection.close()
        older.chmod(0o644)
        Store(older).close()
        assert _mode(older) == 0o600
    finally:
        os.umask(old)


def test_exports_inside_the_data_folder_are_private_and_elsewhere_follow_the_umask(tmp_path, monkeypatch):
    old = os.umask(0o022)
    try:
        monkeypatch.setenv("DISTILL_TUI_DATA_DIR", str(tmp_path / "data"))
        assert _mode(locations.make_output_dir(tmp_path / "data" / "exports" / "w")) == 0o700
        assert _mode(tmp_path / "data") == 0o700
        assert _mode(locations.make_output_dir(tmp_path / "mine" / "out")) == 0o755
    finally:
        os.umask(old)


def test_a_page_damaged_deep_in_the_file_is_one_line_in_every_command(tmp_path, capsys):
    spec = write_spec(tmp_path, rows=40)
    with Store.for_spec(spec) as store:
        _fill(store)
        store.save_job(JobRecord(id="ftjob-1", backend="offline", base_model="m", status="running"))
    path = locations.workspace_db(spec)
    _damage_pages_of(path, "answers")
    for args in (["generate", str(spec), "--limit", "2"], ["export", str(spec), "-o", str(tmp_path / "t.jsonl")],
                 ["eval", str(spec)]):
        assert main(args) == 2, args  # a sqlite3.DatabaseError traceback before
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith(f"distill-tui: error: {path}: the workspace database is "
                                                       "damaged (database disk image is malformed)"), err


def test_a_damaged_jobs_table_is_one_line_in_jobs(tmp_path, capsys):
    spec = write_spec(tmp_path, rows=40)
    with Store.for_spec(spec) as store:
        for i in range(60):
            store.save_job(JobRecord(id=f"ftjob-{i}", backend="offline", base_model="m", status="running",
                                     error="x" * 200))
    _damage_pages_of(locations.workspace_db(spec), "jobs")
    for args in (["jobs", "--local"], ["jobs", str(spec), "--local"]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "the workspace database is damaged" in err


def test_a_database_that_is_a_folder_or_garbage_is_one_line(tmp_path):
    from distill_tui.core.common.errors import UserError

    folder = tmp_path / "w.sqlite"
    folder.mkdir()
    with pytest.raises(UserError, match="is a folder, not a workspace database"):
        Store(folder)
    garbage = tmp_path / "g.sqlite"
    garbage.write_bytes(b"\x13\x37 not sqlite at all " * 200)
    with pytest.raises(UserError, match="damaged"):
        Store(garbage)


def _drop_write_override() -> None:
    """In the child: give up root's right to write what its modes forbid (CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH leave the bounding set, so the program it runs is held to the modes)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "distill_tui.cli", *args], capture_output=True, text=True,
                          timeout=300, preexec_fn=_drop_write_override if os.geteuid() == 0 else None)


def test_a_read_only_workspace_says_so_and_still_exports_and_lists_jobs(tmp_path):
    spec = write_spec(tmp_path, rows=60)
    assert main(["generate", str(spec)]) == 0
    with Store.for_spec(spec) as store:
        store.save_job(JobRecord(id="ftjob-ro", backend="offline", base_model="m", status="succeeded"))
    path = locations.workspace_db(spec)
    path.chmod(0o444)
    path.parent.chmod(0o555)
    try:
        probe = subprocess.run([sys.executable, "-c", f"open({str(path.parent / 'probe')!r}, 'w')"],
                               capture_output=True, preexec_fn=_drop_write_override if os.geteuid() == 0 else None)
        if probe.returncode == 0:
            pytest.skip("a child here can write to a read-only folder (root that cannot drop the override)")
        result = _cli("generate", str(spec), "--limit", "1")
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"distill-tui: error: {path}: the workspace database cannot be written (the file is read-only); make it "
            "writable, or copy the data folder and point DISTILL_TUI_DATA_DIR at the copy (export and jobs still "
            "read it as it is)")
        assert "move it away" not in result.stderr
        out = tmp_path / "train.jsonl"
        result = _cli("export", str(spec), "-o", str(out))
        assert result.returncode == 0 and out.exists(), result.stderr
        assert "read-only, so this export is not recorded" in result.stderr
        for args in (["jobs", "--local"], ["jobs", str(spec), "--local"]):
            result = _cli(*args)
            assert result.returncode == 0 and "ftjob-ro" in result.stdout, result.stderr
    finally:
        path.parent.chmod(0o700)
        path.chmod(0o600)
