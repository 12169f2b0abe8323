"""Bringing an older workspace database forward on open, one schema step at a time.

The version lives in `meta.schema_version`. A newer workspace than this distill-tui knows is refused
with one line (it would misread rows); an older one is upgraded in place, and a long upgrade (a
million prompts to compact) is said first, so it does not look hung.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable, ContextManager

from distill_tui.core.store.prompts import PromptCodec, move_inline_messages

SCHEMA_VERSION = 4  # 2: answers.reasoning_tokens; 3: messages stored once per prompt; 4: in blocks (prompts.py)
UPGRADE_NOTICE_PROMPTS = 20_000
"""Prompts to compact from which opening an older workspace says so first (`upgrade_notice`)."""
UPGRADE_PROMPTS_PER_S = 8_000  # measured: 100,000 answers' prompts in 12 s (bench_storage, 2 vCPU)
upgrade_notice: Callable[[str], None] | None = None
"""Told one line before a long one-time upgrade of an older workspace (the CLI prints it on stderr),
so a first open that compacts a million prompts for minutes does not look hung."""


def upgrade(db: sqlite3.Connection, codec: PromptCodec, path: Path, *, read_only: bool,
            transaction: Callable[[], ContextManager[None]]) -> None:
    """Check the workspace's schema version and bring it to `SCHEMA_VERSION` (the tables of the
    current schema exist already, made by `Store`).

    Args:
        db: The workspace's connection.
        codec: Its prompt codec (compacts the prompts of the 3 -> 4 step).
        path: The database file, for the lines said.
        read_only: Opened read-only: only checked, never written.
        transaction: `Store.transaction`, for the steps that must be all or nothing.

    Raises:
        UserError: the workspace is of a newer schema than this distill-tui.
    """
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        from distill_tui.core.common.errors import UserError

        raise UserError(
            f"{path}: workspace schema {version} is newer than this distill-tui ({SCHEMA_VERSION}); upgrade distill-tui"
        )
    if read_only or version == SCHEMA_VERSION:
        return
    # One step at a time; an older distill-tui then says "upgrade" instead of misreading rows.
    columns = {r[1] for r in db.execute("PRAGMA table_info(answers)").fetchall()}
    if "reasoning_tokens" not in columns:  # 1 -> 2
        db.execute("ALTER TABLE answers ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0")
    if version < 4:  # 2 -> 3 -> 4 (the freed pages hold the next answers; the file does not shrink)
        _say_upgrade(db, path)
        with transaction():
            move_inline_messages(db, codec)
            codec.compact(db, every=True)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    if not row:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('created_at', ?)", (str(time.time()),))


def _say_upgrade(db: sqlite3.Connection, path: Path) -> None:
    """Tell `upgrade_notice` before an upgrade long enough to look like a hang."""
    if upgrade_notice is None:
        return
    count = db.execute("SELECT (SELECT COUNT(*) FROM answers WHERE messages IS NOT NULL AND messages != '')"
                       " + (SELECT COUNT(*) FROM prompts)").fetchone()[0]
    if count >= UPGRADE_NOTICE_PROMPTS:
        upgrade_notice(f"{path}: upgrading the workspace to schema {SCHEMA_VERSION}: {count:,} prompts "
                       f"compacted into blocks, once (about {max(1, round(count / UPGRADE_PROMPTS_PER_S))} s)")
