"""Curation's selection flags: a row per flag for small changes, one compact snapshot for large ones.
`Store` mixes this in.

A keypress can change every row at once (invert, select all over 100k answers). Written as one
row per flag that costs about a second per million rows; so a change of `COMPACT_AT` flags or more
folds every flag into one snapshot (sorted row ids as zlib'd deltas, flags as bits) and empties the
per-row table. Reading merges the two: the per-row flags are all newer than the snapshot.
"""

from __future__ import annotations

import time
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

SELECTION_SCHEMA = """
CREATE TABLE IF NOT EXISTS selection_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    row_ids BLOB NOT NULL,
    flags BLOB NOT NULL,
    updated_at REAL NOT NULL
);
"""

COMPACT_AT = 2000
"""Flags changed at once from which they are written as one snapshot instead of row by row."""


def _pack(ids: "np.ndarray", flags: "np.ndarray") -> tuple[bytes, bytes]:
    import numpy as np

    deltas = np.diff(ids, prepend=np.int64(0)).astype("<i8")
    return zlib.compress(deltas.tobytes(), 1), np.packbits(flags.astype(bool)).tobytes()


def _unpack(row_ids: bytes, flags: bytes) -> tuple["np.ndarray", "np.ndarray"]:
    import numpy as np

    ids = np.cumsum(np.frombuffer(zlib.decompress(row_ids), dtype="<i8")).astype(np.int64)
    bits = np.unpackbits(np.frombuffer(flags, dtype=np.uint8), count=len(ids)).astype(bool)
    return ids, bits


class SelectionStore:
    """Selection flags of `Store` (needs its `execute`, `transaction`, `_db`, `_lock` and `tables`)."""

    tables: set[str]

    def _selection_arrays(self) -> tuple["np.ndarray", "np.ndarray"]:
        """Every explicit flag, sorted by row id (inside the caller's lock)."""
        import numpy as np

        snap = None
        if "selection_snapshot" in self.tables:  # not in a read-only workspace of schema 2
            snap = self._db.execute("SELECT row_ids, flags FROM selection_snapshot WHERE id=1").fetchone()
        ids, flags = _unpack(snap[0], snap[1]) if snap else (np.zeros(0, np.int64), np.zeros(0, bool))
        rows = self._db.execute("SELECT row_id, selected FROM selections").fetchall()
        if not rows:
            return ids, flags
        newer_ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        newer = np.fromiter((r[1] for r in rows), bool, len(rows))
        return _merge(ids, flags, newer_ids, newer)

    def selections(self) -> dict[int, bool]:
        """Every row's explicit flag (rows without one take curation's default)."""
        with self._lock:
            own = not self._db.in_transaction
            if own:  # snapshot and rows read as of one moment (deferred: a read-only store too)
                self._db.execute("BEGIN")
            try:
                ids, flags = self._selection_arrays()
            finally:
                if own:
                    self._db.execute("COMMIT")
        return dict(zip(ids.tolist(), flags.tolist()))

    def set_selections(self, changes: dict[int, bool]) -> None:
        """Save many selection flags in one transaction."""
        import numpy as np

        now = time.time()
        with self.transaction():
            if len(changes) < COMPACT_AT:
                self._db.executemany(
                    "INSERT OR REPLACE INTO selections VALUES (?, ?, ?)",
                    [(int(r), int(bool(s)), now) for r, s in changes.items()],
                )
                return
            ids, flags = self._selection_arrays()
            new_ids = np.fromiter(changes.keys(), np.int64, len(changes))
            new = np.fromiter(changes.values(), bool, len(changes))
            ids, flags = _merge(ids, flags, new_ids, new)
            packed_ids, packed_flags = _pack(ids, flags)
            self._db.execute("INSERT OR REPLACE INTO selection_snapshot VALUES (1, ?, ?, ?)",
                             (packed_ids, packed_flags, now))
            self._db.execute("DELETE FROM selections")

    def selections_changed_at(self) -> float | None:
        """When a selection flag last changed (None: never)."""
        snapshot = ""
        if "selection_snapshot" in self.tables:
            snapshot = " UNION ALL SELECT MAX(updated_at) FROM selection_snapshot"
        rows = self.execute(f"SELECT MAX(updated_at) FROM selections{snapshot}")
        stamps = [r[0] for r in rows if r[0] is not None]
        return max(stamps, default=None)


def _merge(ids: "np.ndarray", flags: "np.ndarray", new_ids: "np.ndarray", new: "np.ndarray") -> Any:
    """Flags of `ids` updated by `new` for `new_ids` (the new ones win), sorted by row id."""
    import numpy as np

    both = np.concatenate([new_ids, ids])  # new first: np.unique keeps each id's first occurrence
    values = np.concatenate([new, flags])
    merged, first = np.unique(both, return_index=True)
    return merged, values[first]
