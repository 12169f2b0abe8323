"""Curation of free-text answers: which read as a refusal, which were corrected, grader scores, and the
orders of the list (answer length, score).

The selection model (`selection.Curation`) keeps one array per property, one position per answer;
this module builds the arrays it adds for free text and applies their filters and orders.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from distill_tui.core.common.errors import UserError

if TYPE_CHECKING:
    from distill_tui.core.curate.filters import Filters
    from distill_tui.core.store.database import Answer

REFUSAL_HEAD = 300
"""Only the start of an answer is read for a refusal: a model says it will not help before anything
else, and a long answer that mentions "I cannot" later is an answer."""

# Refusal phrasings of today's chat models, apostrophes straight or curly. Practical, not a classifier:
# it reads the opening, as evaluation harnesses' refusal-substring lists do.
_REFUSAL = re.compile(
    r"""^\W*(?:
        (?:i'?m|i\ am)\ (?:so\ |very\ |really\ )?(?:sorry|afraid)\b
      | (?:unfortunately|sorry|apologies)\b
      | as\ an?\ (?:ai|language\ model|assistant)\b
      | i\ apologi[sz]e\b
    )
    | \b(?:i|we)\ (?:can'?t|cannot|can\ not|won'?t|will\ not|am\ unable\ to|'?m\ unable\ to|am\ not\ able\ to
                  |'?m\ not\ able\ to|must\ decline\ to|do\ not|don'?t)\ (?:help|assist|provide|comply|fulfil|answer
                  |share|create|generate|write|support|engage|do\ that|discuss|give)(?!\ but\b)
    | \bi\ (?:must|have\ to)\ (?:decline|refuse)\b
    | \bagainst\ (?:my|our|openai'?s)\ (?:guidelines|policy|policies|principles)\b
    | \bnot\ (?:able|allowed|permitted)\ to\ (?:help|assist|provide)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def is_refusal(content: str | None, finish_reason: str | None = None, problem: str | None = None) -> bool:
    """Whether an answer reads as a refusal: the provider's refusal field (kept in `problem`), a
    content filter stop, or a refusal phrasing at the start of the text."""
    if finish_reason == "content_filter" or (problem or "").startswith("refusal"):
        return True
    head = (content or "")[:REFUSAL_HEAD].replace("\u2019", "'")
    return bool(head.strip()) and _REFUSAL.search(head) is not None


def refusal_column(answers: Sequence["Answer"]) -> np.ndarray:
    """`is_refusal` of every answer, in order."""
    return np.fromiter((is_refusal(a.content, a.finish_reason, a.problem) for a in answers), dtype=bool,
                       count=len(answers))


def agreement(cur: Any, positions: Iterable[int] | None = None) -> None:
    """Fill `cur.agrees` (1 agrees, 0 does not, -1 nothing to compare) at `positions` (None: every row).

    A classification answer agrees when its label is the gold label. An extraction or generation answer
    is compared with its row's reference as the task compares answers: the first grader's pass where it
    scored the row (`cur.pass_mark`: a generation answer rarely equals its reference word for word, and
    chrF or ROUGE-L passing is what the user means by "agrees"), else `kinds.same_answer` (JSON by value,
    free text normalised). A row without a reference has nothing to compare with.
    """
    from distill_tui.core.task import kinds

    kind = cur.context.kind
    mark = getattr(cur, "pass_mark", None)
    scores = cur.scores.get(mark[0]) if mark is not None else None
    for p in range(cur.n) if positions is None else positions:
        a = cur.answers[p]
        if a.gold is None or (kind == kinds.CLASSIFICATION and a.label is None):
            cur.agrees[p] = -1
        elif kind == kinds.CLASSIFICATION:
            cur.agrees[p] = int(a.gold == a.label)
        elif scores is not None and scores[p] == scores[p]:
            cur.agrees[p] = int(scores[p] >= mark[1])
        else:
            cur.agrees[p] = int(kinds.same_answer(kind, a.label if a.valid else None, a.gold))


def score_columns(ids: np.ndarray, scores: Mapping[str, Mapping[int, float]]) -> dict[str, np.ndarray]:
    """Grader → score per position (NaN where the row has no score), from grader → row id → score."""
    out = {}
    for grader, by_row in scores.items():
        out[grader] = np.fromiter((by_row.get(int(r), np.nan) for r in ids.tolist()), dtype=np.float64,
                                  count=len(ids))
    return out


def _scores_of(cur: Any, grader: str | None) -> np.ndarray | None:
    scores: dict[str, np.ndarray] = cur.scores
    name = grader if grader is not None else next(iter(scores), None)
    return scores.get(name) if name is not None else None


def check(cur: Any, f: "Filters") -> None:
    """Refuse a score filter or order without the grader's scores (it would show nothing).

    Raises:
        UserError: naming the grader and the graders that have scores.
    """
    if f.score is None and f.sort not in ("score", "-score"):
        return
    grader = f.score[0] if f.score else None
    if not cur.scores:
        raise UserError("no grader scores for these answers yet: add [[graders]] to the spec and grade them")
    if grader is not None and grader not in cur.scores:
        raise UserError(f"score={grader}: no grader {grader!r}; graded by {', '.join(cur.scores)}")


def mask(cur: Any, f: "Filters") -> np.ndarray:
    """The rows the free-text filters of `f` keep (refusal, edited, answer length, score); a
    score filter without that grader's scores keeps nothing (`check` says why before it is set)."""
    m = np.ones(cur.n, dtype=bool)
    if f.refusal is not None:
        m &= cur.refusal == f.refusal
    if f.edited is not None:
        m &= cur.edited == f.edited
    if f.length is not None:
        low, high = f.length
        if low is not None:
            m &= cur.assistant_tokens >= low
        if high is not None:
            m &= cur.assistant_tokens <= high
    if f.score is not None:
        grader, low, high = f.score
        values = _scores_of(cur, grader)
        if values is None:
            return np.zeros(cur.n, dtype=bool)
        with np.errstate(invalid="ignore"):
            m &= ~np.isnan(values) & (values >= (low if low is not None else -np.inf)) & \
                (values <= (high if high is not None else np.inf))
    return m


def order(cur: Any, positions: np.ndarray, f: "Filters") -> np.ndarray:
    """`positions` in the order `f.sort` asks for (ties in list order; by score without scores: list order)."""
    if not f.sort or not len(positions):
        return positions
    if f.sort in ("long", "short"):
        key = cur.assistant_tokens[positions].astype(np.float64)
    else:
        scores = _scores_of(cur, f.score[0] if f.score else None)
        if scores is None:
            return positions
        values = scores[positions]
        key = np.where(np.isnan(values), -np.inf if f.sort == "score" else np.inf, values)
    if f.sort in ("long", "score"):
        key = -key
    return positions[np.argsort(key, kind="stable")]


LENGTH_BUCKETS = ((1, 5), (6, 10), (11, 20), (21, 40), (41, 80), (81, None))
"""Answer lengths in words the Curate screen's pane counts free-text answers by."""


def answer_distribution(cur: Any) -> list[tuple[str, int, int]]:
    """(what, rows selected, rows in the whole set) for free-text and JSON answers, which are not labels:
    by length in words (no answer and invalid ones apart), then by the first grader's pass where the
    rows were scored (`cur.pass_mark`)."""
    words = np.fromiter((len((a.content or "").split()) for a in cur.answers), dtype=np.int64, count=cur.n)
    chosen = cur.effective
    rows = []
    usable = cur.valid & (words > 0)
    for low, high in LENGTH_BUCKETS:
        inside = usable & (words >= low) & (words <= (high if high is not None else words.max(initial=0)))
        name = f"{low}-{high} words" if high is not None else f"{low}+ words"
        rows.append((name, int((inside & chosen).sum()), int(inside.sum())))
    rows.append(("(invalid or empty)", int((~usable & chosen).sum()), int((~usable).sum())))
    mark = getattr(cur, "pass_mark", None)
    scores = cur.scores.get(mark[0]) if mark is not None else None
    if scores is not None and (scores == scores).any():
        passed, failed = scores >= mark[1], scores < mark[1]  # NaN (not scored) is neither
        rows += [(f"{mark[0]} ≥ {mark[1]:g}", int((passed & chosen).sum()), int(passed.sum())),
                 (f"{mark[0]} < {mark[1]:g}", int((failed & chosen).sum()), int(failed.sum()))]
    return [r for r in rows if r[2]]
