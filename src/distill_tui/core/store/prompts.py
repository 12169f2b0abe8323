"""Prompts stored once: each distinct prompt's messages kept under its hash, first alone (loose),
then compacted with its neighbours into a compressed block.

Every answer of a run repeats the spec's template (system message, instructions, the list of labels)
and differs only in the row's fields, and evaluation asks several models the same prompt. So an
answer row keeps only its `prompt_hash`, and the messages live once per hash.

Why stored, not re-rendered from the data and the template: an answer is paid for, and must stay
readable when the data file moves or changes, when the spec is edited, and for answers imported
from the provider, which no template made. Storing by hash keeps the workspace self-contained.

Loose (`prompts`): a prompt is saved the moment its answer is, in the answer's transaction, deflated
against a preset dictionary (the first prompt saved, or a new one when the template changed enough
that the old one stops helping), at zlib level 1 since it stays loose only briefly. Alone, a prompt
costs about what its row's own fields cost deflated alone, which is poorly: ~260-300 bytes for a
wine review prompt whose description is ~240 bytes.

Blocks (`prompt_blocks`, `prompt_slots`; `prompt_blocks.py`): once `BLOCK` prompts wait loose,
the save that makes them so also moves them, ordered by row, into one block in the same transaction
(a crash or a rollback leaves them loose and readable; nothing is ever half moved). A block keeps
each prompt as what it does not share with the block's first prompt and deflates them together, so
the reviews' words, the wineries and tasters repeat within reach of each other; a slot row maps the
hash (its 20 bytes) to (block, position). Reading decompresses a block once per read of many answers
(`blocks_of`), and keeps the last few for the lookups of evaluation, which asks another model
the same prompts in the same order.

Measured (`benchmarks/bench_storage.py --rows 10000`, cookbook prompt, real head rows / bundled):
706 -> 506 / 566 -> 420 bytes per answer (702 -> 487 at 100,000), the prompts' share 384 -> 172 /
245 -> 93; making the blocks costs 24-36 CPU us per answer, on the group-commit writer's thread (not
the workers'), zlib and SQLite releasing the GIL. A schema 2 or 3 workspace compacts its prompts on
its first open, once: 12 s for 100,000 answers; the file keeps its size, its freed pages holding the
next answers. Tried and left: level 9 saves 2 bytes for 25 % more CPU, 512 prompts a block 6 for
twice the inflating to read one prompt; bz2 saves ~28 for +22 us and slower reads; lzma less for
more. What is left per answer is the answer row itself (~310 bytes with its two indexes); `answers`
WITHOUT ROWID would save only ~4, since `answers_by_split` would then repeat the 40-character hash.

Packed format of a loose prompt (also used for Batch API request bodies): 8 bytes naming the
dictionary (blake2b of its bytes, so rows copied between workspaces keep meaning the same
dictionary), then a raw deflate stream (`zlib.compressobj(wbits=-15, zdict=…)`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from distill_tui.core.store.prompt_blocks import (
    BLOCKS_SCHEMA,
    Block,
    block_id,
    pack_block,
    prompt_key,
)

PROMPTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS prompt_dicts (id BLOB PRIMARY KEY, data BLOB NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS prompts (prompt_hash TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
""" + BLOCKS_SCHEMA

STORED_ONCE = ""
"""`answers.messages` of an answer whose messages are in `prompts` under its prompt_hash (NULL: none;
JSON text: kept inline, as schema 2 kept them or when another prompt holds that hash)."""

_ID = 8
_HELPS = 0.7  # the dictionary helps when a prompt deflates to less than this share of its size without it
_CHECK_EVERY = 200  # prompts between checks that the dictionary still helps (so at most one new
# dictionary per this many prompts, when prompts share nothing and no dictionary helps)
_MIN_DICT_SIZE = 256
BLOCK = 256
"""Prompts per block: 128 leave ~10 % more bytes, 512 ~5 % fewer for twice the inflating to read one."""
_CACHED_BLOCKS = 8


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
        self.blocks = False  # set by the store once `prompt_slots` exists (a read-only schema 3 lacks it)
        self._cache: OrderedDict[int, Block] = OrderedDict()
        self._order: dict[str, int] = {}  # loose prompt hash -> its row, for prompts saved this session
        self._texts: dict[str, str] = {}  # and its text, so compacting them inflates nothing
        self._new_loose = 0
        self._stuck: set[str] = set()

    def forget(self) -> None:
        """Drop what it knows of the database (after a rollback: a dictionary or block it saved may be
        gone, and prompts it moved into a block are loose again)."""
        blocks = self.blocks
        self.__init__()  # type: ignore[misc]
        self.blocks = blocks

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
    def _deflate(data: bytes, zdict: bytes, level: int = 9) -> bytes:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15, **({"zdict": zdict} if zdict else {}))
        return packer.compress(data) + packer.flush()

    def pack(self, db: sqlite3.Connection, text: str, level: int = 9) -> bytes:
        """`text` deflated against the current dictionary (made from `text` when there is none yet,
        or when the current one no longer helps); the dictionary is saved in the same transaction."""
        data = text.encode("utf-8")
        if not self._loaded:
            self._load(db)
        if self._current is None and len(data) >= _MIN_DICT_SIZE:
            self._add_dict(db, data)
        key = self._current or b"\0" * _ID
        packed = self._deflate(data, self._dicts.get(key, b""), level)
        self._since_check += 1
        if self._since_check >= _CHECK_EVERY and len(data) >= _MIN_DICT_SIZE:
            self._since_check = 0
            if len(packed) > _HELPS * len(self._deflate(data, b"", level)):  # the template changed
                key = self._add_dict(db, data)
                packed = self._deflate(data, data, level)
        return key + packed

    def unpack(self, db: sqlite3.Connection, blob: bytes) -> str:
        """The text `pack` was given."""
        key, body = bytes(blob[:_ID]), blob[_ID:]
        zdict = b"" if key == b"\0" * _ID else self._dict(db, key)
        unpacker = zlib.decompressobj(-15, zdict=zdict) if zdict else zlib.decompressobj(-15)
        return (unpacker.decompress(body) + unpacker.flush()).decode("utf-8")

    def store(self, db: sqlite3.Connection, prompt_hash: str, text: str, row_id: int | None = None) -> bool:
        """Save a prompt's text under its hash unless there; False when the hash already holds other
        text (the caller then keeps this text inline). `row_id` orders prompts into blocks; once a
        block's worth of prompts waits loose, one block is compacted in the same transaction."""
        held = self.load(db, prompt_hash)
        if held is not None:  # evaluation asks every model the same prompt
            return held == text
        # Loose only until its block is made: the fastest level (27 against 44 us a cookbook prompt).
        db.execute("INSERT INTO prompts VALUES (?, ?)", (prompt_hash, self.pack(db, text, 1 if self.blocks else 9)))
        if self.blocks:
            self._order[prompt_hash] = -1 if row_id is None else row_id
            self._texts[prompt_hash] = text
            self._new_loose += 1
            if self._new_loose >= BLOCK:
                self.compact(db)
        return True

    def load(self, db: sqlite3.Connection, prompt_hash: str) -> str | None:
        """The text saved under `prompt_hash`, loose or in a block; None when there is none."""
        row = db.execute("SELECT data FROM prompts WHERE prompt_hash=?", (prompt_hash,)).fetchone()
        if row is not None:
            return self.unpack(db, row[0])
        if not self.blocks:
            return None
        row = db.execute("SELECT block, slot FROM prompt_slots WHERE prompt_key=?",
                         (prompt_key(prompt_hash),)).fetchone()
        return None if row is None else self._block(db, row[0]).text(row[1])

    def _block(self, db: sqlite3.Connection, block: int) -> Block:
        found = self._cache.pop(block, None)
        if found is None:
            row = db.execute("SELECT data FROM prompt_blocks WHERE id=?", (block,)).fetchone()
            if row is None:
                raise ValueError("a stored prompt names a block this workspace does not hold")
            found = Block(row[0])
        self._cache[block] = found
        if len(self._cache) > _CACHED_BLOCKS:
            self._cache.popitem(last=False)
        return found

    def blocks_of(self, db: sqlite3.Connection, blocks: Iterable[int]) -> dict[int, Block]:
        """Each of these blocks read and inflated once, whatever the order its slots are read in
        (a block read back keeps ~440 bytes a prompt, a tenth of the prompts' text)."""
        return {block: self._block(db, block) for block in set(blocks)}

    def compact(self, db: sqlite3.Connection, *, every: bool = False) -> int:
        """Move loose prompts into blocks of `BLOCK` inside the caller's transaction: one block, or
        with `every` as many full blocks as wait. Returns how many prompts moved."""
        self._new_loose = 0
        loose = [r[0] for r in db.execute("SELECT prompt_hash FROM prompts").fetchall() if r[0] not in self._stuck]
        if len(loose) < BLOCK:
            return 0
        if every and sum(h not in self._order for h in loose) >= BLOCK:  # e.g. a schema 3 workspace
            waiting = set(loose)
            self._order.update((h, int(row)) for row, h in db.execute(
                "SELECT row_id, prompt_hash FROM answers WHERE messages = ''") if h in waiting)
        # Prompts of neighbouring rows share a block (reading one row's answers inflates one block);
        # ones left over from an earlier session go first, so none waits loose for ever.
        loose.sort(key=lambda h: (self._order.get(h, -1), h))
        moved = 0
        for start in range(0, len(loose) - BLOCK + 1 if every else 1, BLOCK):
            moved += self._compact_block(db, loose[start:start + BLOCK])
        return moved

    def _compact_block(self, db: sqlite3.Connection, hashes: list[str]) -> int:
        marks = ",".join("?" * len(hashes))
        texts = {h: self._texts[h] for h in hashes if h in self._texts}
        if len(texts) < len(hashes):
            texts.update((h, self.unpack(db, data)) for h, data in db.execute(
                f"SELECT prompt_hash, data FROM prompts WHERE prompt_hash IN ({marks})", hashes) if h not in texts)
        keys = {h: prompt_key(h) for h in texts}
        held = db.execute(f"SELECT prompt_key, block, slot FROM prompt_slots WHERE prompt_key IN "
                          f"({','.join('?' * len(keys))})", list(keys.values())).fetchall()
        for key, block, slot in held:  # a copy from another workspace brought the same hash
            h = next(h for h, k in keys.items() if k == key)
            if self._block(db, block).text(slot) != texts.pop(h):
                self._stuck.add(h)  # the same hash for other text: kept loose rather than lost
                keys.pop(h)
        order = [h for h in hashes if h in texts]
        if order:
            data = pack_block([texts[h] for h in order])
            block = block_id(data)
            db.execute("INSERT OR IGNORE INTO prompt_blocks VALUES (?, ?)", (block, data))
            db.executemany("INSERT INTO prompt_slots VALUES (?, ?, ?)",
                           [(keys[h], block, slot) for slot, h in enumerate(order)])
        gone = list(keys)
        db.executemany("DELETE FROM prompts WHERE prompt_hash=?", [(h,) for h in gone])
        for h in gone:
            self._order.pop(h, None)
            self._texts.pop(h, None)
        return len(gone)


def move_inline_messages(db: sqlite3.Connection, codec: PromptCodec, batch: int = 5000) -> int:
    """Move answers' inline messages (schema 2 and copies from such workspaces) into `prompts`,
    inside the caller's transaction. Returns how many answers changed."""
    moved = 0
    last = 0
    while True:
        rows = db.execute(
            "SELECT rowid, prompt_hash, messages, row_id FROM answers WHERE rowid > ? AND messages IS NOT NULL "
            "AND messages != '' ORDER BY rowid LIMIT ?", (last, batch),
        ).fetchall()
        if not rows:
            return moved
        done = [(STORED_ONCE, r[0]) for r in rows if codec.store(db, r[1], r[2], r[3])]
        db.executemany("UPDATE answers SET messages=? WHERE rowid=?", done)
        moved += len(done)
        last = rows[-1][0]
