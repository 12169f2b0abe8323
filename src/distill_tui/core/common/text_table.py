"""Plain-text tables for the CLI: every column as wide as its widest cell, two spaces between."""

from __future__ import annotations

from collections.abc import Container, Sequence


def column_widths(rows: Sequence[Sequence[str]]) -> list[int]:
    """The width of each column over `rows` (the header row included)."""
    return [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []


def aligned(rows: Sequence[Sequence[str]], *, right: Container[int] = ()) -> list[str]:
    """Each row as one line, its cells padded to their column's width (right-aligned for the column
    indexes in `right`), without trailing spaces."""
    widths = column_widths(rows)
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]
