"""Opening a workspace database: private files, read-only folders, damaged files, each one line.

Every statement and fetch on the connection turns SQLite's own failures (a damaged page met halfway
through a run, a read-only file, a lock held too long, a full disk) into one line naming the file,
so no command ends in a traceback or goes quiet, however late the damage is found.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from distill_tui.core.common.errors import UserError, WorkFailed


class StoreUnusable(UserError):
    """The workspace database cannot be used as it is (damaged, read-only, locked): exit 2."""


def _read_only_why(path: Path) -> str | None:
    """Why `path` cannot be written (a read-only file or folder), or None when it can."""
    folder = path.parent
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only"
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return f"its folder {folder} is read-only"
    return None


def read_only_error(path: Path, why: str | None = None) -> StoreUnusable:
    why = why or _read_only_why(path) or "SQLite reports it read-only"
    return StoreUnusable(
        f"{path}: the workspace database cannot be written ({why}); make it writable, or copy the data "
        "folder and point DISTILL_TUI_DATA_DIR at the copy (export and jobs still read it as it is)"
    )


def translate(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    """One of our one-line errors for SQLite's `exc` on `path`, or `exc` itself for a program error."""
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return exc
    text = str(exc)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return read_only_error(path)
    if "locked" in lowered or "busy" in lowered:
        return WorkFailed(f"{path}: the workspace database stayed locked by another process ({text}); "
                          "try again when it is done")
    if "disk is full" in lowered or "i/o error" in lowered:
        return WorkFailed(f"{path}: cannot write the workspace database ({text})")
    if type(exc) is sqlite3.DatabaseError or "malformed" in lowered or "not a database" in lowered:
        return StoreUnusable(
            f"{path}: the workspace database is damaged ({text}); SQLite's `.recover` command may save its "
            "answers, or move it away to start afresh"
        )
    if "unable to open" in lowered:
        why = _read_only_why(path)
        if why:
            return read_only_error(path, why)
        if path.is_dir():
            return StoreUnusable(f"{path}: is a folder, not a workspace database; move it away to start afresh")
    return WorkFailed(f"{path}: workspace database error ({text})")


class _Cursor(sqlite3.Cursor):
    """A cursor whose fetches fail with one line naming the database (pages are read lazily)."""

    def _fail(self, exc: sqlite3.DatabaseError) -> Exception:
        return translate(self.connection.path, exc)  # type: ignore[attr-defined]

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc) from None

    def fetchmany(self, *args: Any) -> list[Any]:
        try:
            return super().fetchmany(*args)
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc) from None

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc) from None

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            raise self._fail(exc) from None


class Connection(sqlite3.Connection):
    """A connection whose statements fail with one line naming the database file."""

    path: Path

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise translate(self.path, exc) from None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        with self._translated():
            return self.cursor(_Cursor).execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        with self._translated():
            return self.cursor(_Cursor).executemany(sql, parameters)

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        with self._translated():
            return self.cursor(_Cursor).executescript(script)


def _connect(target: str, path: Path, *, uri: bool = False) -> Connection:
    db = sqlite3.connect(target, uri=uri, check_same_thread=False, isolation_level=None, timeout=30,
                         factory=Connection)
    db.path = path
    db.row_factory = sqlite3.Row
    return db


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only; SQLite gives its -wal and -shm
    files the same mode. An existing file is narrowed to the same (it holds paid answers)."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError:
        return  # not writable: the open that follows says why
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists() and side.stat().st_mode & 0o077:
                os.chmod(side, 0o600)


def open_read_write(path: Path) -> Connection:
    """Open (or create) `path` for writing, in WAL mode with every commit flushed.

    Raises:
        StoreUnusable: the file or its folder is read-only, or the file is damaged or not a database.
        WorkFailed: another SQLite failure (locked, disk full), named with the file.
    """
    if path.is_dir():
        raise StoreUnusable(f"{path}: is a folder, not a workspace database; move it away to start afresh")
    _create_private(path)
    db = _connect(str(path), path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=30000")
    except BaseException:
        db.close()
        raise
    return db


def open_read_only(path: Path) -> Connection:
    """Open an existing `path` for reading only (a read-only file, folder or file system).

    A WAL database in a folder nobody can write has no -shm file to share, so it is read as
    immutable: nothing can change it meanwhile.
    """
    url = "file:" + quote(str(path.resolve()))
    failure: Exception = read_only_error(path)
    for query in ("?mode=ro", "?mode=ro&immutable=1"):
        db = _connect(url + query, path, uri=True)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except (StoreUnusable, WorkFailed) as exc:
            db.close()
            failure = exc
    raise failure


def open_store(path: Path, *, allow_read_only: bool) -> tuple[Connection, bool]:
    """The connection of `Store(path)` and whether it is read-only (see `Store.__init__`)."""
    from distill_tui import locations

    try:
        locations.make_private_dir(path.parent)
    except OSError as exc:
        raise UserError(f"{path.parent}: cannot create the workspace folder ({exc.strerror or exc}); "
                        "set DISTILL_TUI_DATA_DIR to a writable folder") from None
    try:
        return open_read_write(path), False
    except (StoreUnusable, WorkFailed):
        if not (allow_read_only and path.is_file() and _read_only_why(path) is not None):
            raise
    return open_read_only(path), True
