"""Near-duplicate curation: keep one teacher answer per group of near-duplicate prompts or answers.

The groups come from `near_duplicates` (MinHash/LSH over word shingles, checked by exact Jaccard).
Which row of a group is kept follows the exact dedupe's preference: the answer that agrees with the
gold label, then a valid one, then the lowest row id. The others are deselected as exclusions, like
a hand deselection, so "select all matching" does not bring them back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from distill_tui.core.common.errors import UserError
from distill_tui.core.curate.near_duplicates import (
    DEFAULT_THRESHOLD,
    drop_all_but_first,
    near_duplicate_groups,
)
from distill_tui.core.curate.selection import prompt_text

if TYPE_CHECKING:
    from distill_tui.core.curate.selection import Curation

FIELDS = ("prompts", "answers")
"""What near-duplicates are looked for in: the prompts' non-system text, or the teacher's answers."""


def parse_fields(value: str) -> tuple[str, ...]:
    """`prompts`, `answers` or `both` (the CLI's `--near-dedupe`) as a tuple of FIELDS.

    Raises:
        UserError: naming the value that is none of these.
    """
    v = value.strip().lower()
    if v == "both":
        return FIELDS
    if v in FIELDS:
        return (v,)
    raise UserError(f"--near-dedupe {value}: use prompts, answers or both")


def check_threshold(threshold: float) -> float:
    """The Jaccard threshold, refused (one line) outside (0, 1]."""
    if not 0.0 < threshold <= 1.0:
        raise UserError(f"--near-threshold {threshold:g}: use a Jaccard similarity above 0 and at most 1, e.g. 0.7")
    return threshold


def texts(cur: Curation, positions: np.ndarray, field: str) -> list[str]:
    """The prompt text or answer of each position."""
    if field == "prompts":
        return [prompt_text(cur.answers[p].messages) for p in positions.tolist()]
    return [cur.answers[p].content or "" for p in positions.tolist()]


def near_drop(cur: Curation, among: np.ndarray, field: str, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Positions to drop so that one row per group of near-duplicates remains among `among` (a mask).

    A classification task's answers are never near-duplicates: each is one of a few labels, repeated
    by design (grouping them would keep one example per label). Nor are an extraction task's: records
    of a few fields differ in one field by design (word Jaccard grouped 140 of the demo's 420 records
    that differed only in their producer)."""
    if field == "answers" and (cur.context.labels or cur.context.kind == "extraction"):
        return np.empty(0, dtype=np.int64)
    where = np.flatnonzero(among)
    order = np.lexsort((np.abs(cur.ids[where]), ~cur.valid[where], cur.agrees[where] != 1))
    where = where[order]  # best first, so each group's first member is the one kept
    groups = near_duplicate_groups(texts(cur, where, field), threshold)
    return np.sort(where[np.asarray(drop_all_but_first(groups), dtype=np.int64)])


def dedupe_near(cur: Curation, fields: tuple[str, ...] = ("prompts",), threshold: float = DEFAULT_THRESHOLD) -> int:
    """Deselect (as exclusions) all but one selected row per group of near-duplicates.

    Returns:
        How many rows were deselected.
    """
    dropped = 0
    for field in fields:
        drop = near_drop(cur, cur.effective, field, threshold)
        dropped += cur.set_rows(cur.ids[drop].tolist(), False)
    return dropped
