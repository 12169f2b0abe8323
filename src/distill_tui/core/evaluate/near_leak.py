"""Eval rows that nearly repeat a train row: the leak that exact matching misses.

A held-out prompt that differs from a training prompt by a word, the word order or punctuation
tests memory rather than skill. The user messages of both splits, as the current template renders
them, are compared with MinHash/LSH over word shingles (`core.curate.near_duplicates`); the
template's own words are ignored, so only what varies between rows is compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from distill_tui.core.curate.near_duplicates import (
    DEFAULT_THRESHOLD,
    near_duplicates_across,
)

if TYPE_CHECKING:
    from distill_tui.core.workspace.workspace import Workspace

MAX_TRAIN_ROWS = 20_000
"""Above this many train rows the check is skipped and says so (up to 8 s at 20k on one core)."""
_CACHE: dict[tuple[float, bytes], NearLeaks] = {}
"""Results by the texts compared: the comparison table is rebuilt often, the texts rarely change."""


@dataclass(frozen=True)
class NearPair:
    """An eval row and the train row it nearly repeats."""

    eval_row: int
    train_row: int
    similarity: float


@dataclass
class NearLeaks:
    """The eval rows with a near-duplicate among the train rows (`skipped` says why none were looked for)."""

    threshold: float
    pairs: list[NearPair] = field(default_factory=list)
    skipped: str | None = None

    @property
    def rows(self) -> list[int]:
        return [p.eval_row for p in self.pairs]

    def line(self) -> str | None:
        """A warning for the table's header, or None when there is nothing to say."""
        if self.skipped:
            return f"near-duplicates not checked: {self.skipped}"
        if not self.pairs:
            return None
        return (f"WARNING: {len(self.pairs)} eval row{'s' if len(self.pairs) != 1 else ''} nearly repeat a train row "
                f"(word Jaccard >= {self.threshold:g}; e.g. row {self.pairs[0].eval_row} ~ row "
                f"{self.pairs[0].train_row}): their scores may be optimistic")

    def to_json(self) -> dict:
        return {"threshold": self.threshold, "skipped": self.skipped,
                "pairs": [{"eval_row": p.eval_row, "train_row": p.train_row, "similarity": round(p.similarity, 4)}
                          for p in self.pairs]}


def _user_texts(ws: Workspace, split: str) -> tuple[list[int], list[str]]:
    from distill_tui.core.task.requests import iter_requests

    ids, texts = [], []
    for request in iter_requests(ws.spec, ws.data, ws.spec.student.model, split):
        user = [m["content"] for m in request.messages if m.get("role") == "user" and isinstance(m.get("content"), str)]
        ids.append(request.row_id)
        texts.append("\n".join(user))
    return ids, texts


def near_leaks(ws: Workspace, eval_ids: Iterable[int] | None = None,
               threshold: float = DEFAULT_THRESHOLD) -> NearLeaks:
    """Eval rows (all, or those in `eval_ids`) whose user message nearly repeats a train row's.

    Exact repeats are found too; the exact leak check already names them, this one adds the rest.
    """
    out = NearLeaks(threshold)
    train_ids, train_texts = _user_texts(ws, "train")
    if len(train_ids) > MAX_TRAIN_ROWS:
        out.skipped = f"{len(train_ids):,} train rows (over {MAX_TRAIN_ROWS:,})"
        return out
    eval_ids_all, eval_texts = _user_texts(ws, "eval")
    wanted = None if eval_ids is None else set(eval_ids)
    keep = [i for i, r in enumerate(eval_ids_all) if wanted is None or r in wanted]
    digest = hashlib.blake2b(repr((train_ids, train_texts, [eval_ids_all[i] for i in keep],
                                   [eval_texts[i] for i in keep])).encode("utf-8", "surrogatepass")).digest()
    cached = _CACHE.get((threshold, digest))
    if cached is not None:
        return cached
    found = near_duplicates_across([eval_texts[i] for i in keep], train_texts, threshold)
    out.pairs = [NearPair(eval_ids_all[keep[m.query]], train_ids[m.match], m.similarity) for m in found]
    if len(_CACHE) >= 8:
        _CACHE.clear()
    _CACHE[(threshold, digest)] = out
    return out
