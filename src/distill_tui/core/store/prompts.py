"""Prompts stored once: each distinct prompt's messages in a `prompts` table, compressed against a
dictionary made from an earlier prompt of the same workspace.

Every answer of a run repeats the spec's template (system message, instructions, the list of labels)
and differs only in the row's fields, and evaluation asks several models the same prompt. So an
answer row keeps only its `prompt_hash`, and the messages live once per hash, deflated with zlib
against a preset dictionary: the first prompt saved (and a new one when the template changed
enough that the old one stops helping). A prompt then costs about what its row's own fields cost.

Why stored, not re-rendered from the data and the template: an answer is paid for, and must stay
readable when the data file moves or changes, when the spec is edited, and for answers imported
from the provider, which no template made. Storing by hash keeps the workspace self-contained.

Packed format (also used for Batch API request bodies): 8 bytes naming the dictionary (blake2b of
its bytes, so rows copied between workspaces keep meaning the same dictionary), then a raw deflate
stream (`zlib.compressobj(wbits=-15, zdict=…)`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import zlib
from typing import Any

PROMPTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS prompt_dicts (id BLOB PRIMARY KEY, data BLOB NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS prompts (prompt_hash TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
"""

STORED_ONCE = ""
"""`answers.messages` of an answer whose messages are in `prompts` under its prompt_hash (NULL: none;
JSON text: kept inline, as schema 2 kept them or when another prompt holds that hash)."""

_ID = 8
_HELPS = 0.7  # the dictionary helps when a prompt deflates to less than this share of its size without it
_CHECK_EVERY = 200  # prompts between checks that the dictionary still helps (so at most one new
# dictionary per this many prompts, when prompts share nothing and no dictionary helps)
_MIN_DICT_SIZE = 256


def messages_text(messages: Any) -> str:
    """The JSON a prompt's messages are stored as."""
    return json.dumps(messages, ensure_ascii=False)


class PromptCodec:
    """Packs and unpacks prompt text against the workspace's dictionaries (callers hold the store lock)."""

    def __init__(self) -> None:
        self._dicts: dict[bytes, bytes] = {}
        self._current: bytes | None = None
        self._loaded = False
        self._since_check = 0

    def forget(self) -> None:
        """Drop what it knows of the database (after a rollback: a dictionary it saved may be gone)."""
        self.__init__()  # type: ignore[misc]

    def _load(self, db: sqlite3.Connection) -> None:
        row = db.execute("SELECT id, data FROM prompt_dicts ORDER BY created_at DESC LIMIT 1").fetchone()
        if row is not None:
            self._dicts[bytes(row[0])] = bytes(row[1])
            self._current = bytes(row[0])
        self._loaded = True

    def _add_dict(self, db: sqlite3.Connection, data: bytes) -> bytes:
        key = hashlib.blake2b(data, digest_size=_ID).digest()
        db.execute("INSERT OR IGNORE INTO prompt_dicts VALUES (?, ?, ?)", (key, data, time.time()))
        self._dicts[key] = data
        self._current = key
        return key

    def _dict(self, db: sqlite3.Connection, key: bytes) -> bytes:
        data = self._dicts.get(key)
        if data is None:
            row = db.execute("SELECT data FROM prompt_dicts WHERE id=?", (key,)).fetchone()
            if row is None:
                raise ValueError("a stored prompt names a dictionary this workspace does not hold")
            data = self._dicts[key] = bytes(row[0])
        return data

    @staticmethod
    def _deflate(data: bytes, zdict: bytes) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15, **({"zdict": zdict} if zdict else {}))
        return packer.compress(data) + packer.flush()

    def pack(self, db: sqlite3.Connection, text: str) -> bytes:
        """`text` deflated against the current dictionary (made from `text` when there is none yet,
        or when the current one no longer helps); the dictionary is saved in the same transaction."""
        data = text.encode("utf-8")
        if not self._loaded:
            self._load(db)
        if self._current is None and len(data) >= _MIN_DICT_SIZE:
            self._add_dict(db, data)
        key = self._current or b"\0" * _ID
        packed = self._deflate(data, self._dicts.get(key, b""))
        self._since_check += 1
        if self._since_check >= _CHECK_EVERY and len(data) >= _MIN_DICT_SIZE:
            self._since_check = 0
            if len(packed) > _HELPS * len(self._deflate(data, b"")):  # the template changed
                key = self._add_dict(db, data)
                packed = self._deflate(data, data)
        return key + packed

    def unpack(self, db: sqlite3.Connection, blob: bytes) -> str:
        """The text `pack` was given."""
        key, body = bytes(blob[:_ID]), blob[_ID:]
        zdict = b"" if key == b"\0" * _ID else self._dict(db, key)
        unpacker = zlib.decompressobj(-15, zdict=zdict) if zdict else zlib.decompressobj(-15)
        return (unpacker.decompress(body) + unpacker.flush()).decode("utf-8")

    def store(self, db: sqlite3.Connection, prompt_hash: str, text: str) -> bool:
        """Save a prompt's text under its hash unless there; False when the hash already holds other
        text (the caller then keeps this text inline)."""
        row = db.execute("SELECT data FROM prompts WHERE prompt_hash=?", (prompt_hash,)).fetchone()
        if row is not None:  # evaluation asks every model the same prompt
            return self.unpack(db, row[0]) == text
        db.execute("INSERT INTO prompts VALUES (?, ?)", (prompt_hash, self.pack(db, text)))
        return True

    def load(self, db: sqlite3.Connection, prompt_hash: str) -> str | None:
        row = db.execute("SELECT data FROM prompts WHERE prompt_hash=?", (prompt_hash,)).fetchone()
        return None if row is None else self.unpack(db, row[0])


def move_inline_messages(db: sqlite3.Connection, codec: PromptCodec, batch: int = 5000) -> int:
    """Move answers' inline messages (schema 2 and copies from such workspaces) into `prompts`,
    inside the caller's transaction. Returns how many answers changed."""
    moved = 0
    last = 0
    while True:
        rows = db.execute(
            "SELECT rowid, prompt_hash, messages FROM answers WHERE rowid > ? AND messages IS NOT NULL "
            "AND messages != '' ORDER BY rowid LIMIT ?", (last, batch),
        ).fetchall()
        if not rows:
            return moved
        done = [(STORED_ONCE, r[0]) for r in rows if codec.store(db, r[1], r[2])]
        db.executemany("UPDATE answers SET messages=? WHERE rowid=?", done)
        moved += len(done)
        last = rows[-1][0]
