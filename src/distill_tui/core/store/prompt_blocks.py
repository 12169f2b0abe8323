"""Prompt blocks: many saved prompts deflated together, each kept as what it does not share with
the block's first prompt.

A block's raw bytes are: the number of prompts n (u32), then n × (shared prefix, shared suffix,
length of the rest) (u32 each, little-endian), then each prompt's rest, one after the other. The
first prompt is the block's reference and is kept whole (prefix = suffix = 0); prompt i is
`ref[:prefix] + rest + ref[len(ref) - suffix:]`. Cutting what a template puts before and after a
row's fields leaves ~440 of a cookbook prompt's ~4,800 bytes; deflate then finds the template's
inner glue and the fields' repeats (countries, tasters, wording of reviews) across the block's
prompts, where one prompt alone has nothing to match them against. The stored block is a raw
deflate stream (`wbits=-15`) of those bytes, named by the blake2b of that stream (8 bytes as a
signed integer), so blocks copied between workspaces keep their meaning.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from collections.abc import Sequence

BLOCKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS prompt_blocks (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS prompt_slots (
    prompt_key NOT NULL PRIMARY KEY, block INTEGER NOT NULL, slot INTEGER NOT NULL
) WITHOUT ROWID;
"""

LEVEL = 6
"""zlib level of a block: 1-3 leave a third more bytes for a third less CPU (bench_storage)."""

_HEX_SHA1 = re.compile(r"[0-9a-f]{40}")


def prompt_key(prompt_hash: str) -> bytes | str:
    """The key of a prompt hash in `prompt_slots`: a SHA-1 written in lower-case hex as its 20
    bytes (a BLOB), any other hash as it is (TEXT; SQLite never finds a BLOB equal to a TEXT)."""
    return bytes.fromhex(prompt_hash) if _HEX_SHA1.fullmatch(prompt_hash) else prompt_hash


def block_id(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def _shared_prefix(a: bytes, b: bytes, guess: int) -> int:
    most = min(len(a), len(b))
    # Prompts of one template mostly share as much as the last one did: two memcmp instead of ~12.
    if guess <= most and a[:guess] == b[:guess] and (guess == most or a[guess] != b[guess]):
        return guess
    low, high = 0, most  # halving on slices, not a Python loop over every byte
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _shared_suffix(a: bytes, b: bytes, most: int, guess: int) -> int:
    if guess <= most and a[len(a) - guess:] == b[len(b) - guess:] and (
            guess == most or a[len(a) - guess - 1] != b[len(b) - guess - 1]):
        return guess
    low, high = 0, most
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle:] == b[len(b) - middle:]:
            low = middle
        else:
            high = middle - 1
    return low


def pack_block(texts: Sequence[str]) -> bytes:
    """The stored bytes of a block holding `texts` (slot i is texts[i])."""
    data = [t.encode("utf-8") for t in texts]
    ref = data[0]
    heads = [0, 0, len(ref)]
    rests = [ref]
    prefix = suffix = 0
    for text in data[1:]:
        prefix = _shared_prefix(ref, text, prefix)
        suffix = _shared_suffix(ref, text, min(len(ref), len(text)) - prefix, suffix)
        rest = text[prefix:len(text) - suffix]
        heads += (prefix, suffix, len(rest))
        rests.append(rest)
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return packer.compress(struct.pack(f"<I{len(heads)}I", len(data), *heads) + b"".join(rests)) + packer.flush()


class Block:
    """A block read back: any slot's text on demand."""

    def __init__(self, stored: bytes) -> None:
        unpacker = zlib.decompressobj(-15)
        self._raw = unpacker.decompress(stored) + unpacker.flush()
        (count,) = struct.unpack_from("<I", self._raw)
        self._heads = struct.unpack_from(f"<{3 * count}I", self._raw, 4)
        self._starts = [4 + 12 * count]
        for slot in range(count):
            self._starts.append(self._starts[-1] + self._heads[3 * slot + 2])
        self._ref = self._raw[self._starts[0]:self._starts[1]]

    def __len__(self) -> int:
        return len(self._starts) - 1

    def text(self, slot: int) -> str:
        prefix, suffix, _ = self._heads[3 * slot: 3 * slot + 3]
        rest = self._raw[self._starts[slot]:self._starts[slot + 1]]
        return (self._ref[:prefix] + rest + self._ref[len(self._ref) - suffix:]).decode("utf-8")
