"""Curation filters: what narrows the list of teacher answers, the CLI's `--filter KEY=VALUE`, and
the two actions applied to what is selected (dedupe, cap per label)."""

from __future__ import annotations

import difflib
import random
import shlex
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable, Protocol

import numpy as np

from distill_tui.core.common.errors import UserError


class AnswerColumns(Protocol):
    """What the two actions read of the answers (the selection model, `Curation`, has it): parallel arrays,
    one position per answer, and the seed of the curation context."""

    ids: np.ndarray
    valid: np.ndarray
    agrees: np.ndarray
    group_size: np.ndarray
    group_codes: np.ndarray
    answer_codes: np.ndarray
    context: Any


@dataclass(frozen=True)
class Filters:
    """Conditions that narrow the list; all given conditions must hold."""

    agrees: str | None = None  # "yes", "no" or "unknown" (no gold label)
    valid: bool | None = None
    labels: tuple[str, ...] = ()  # gold labels
    answers: tuple[str, ...] = ()  # teacher labels
    finish: tuple[str, ...] = ()
    status: str | None = None
    source: str | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    text: str = ""
    dups: bool | None = None  # only rows whose prompt occurs more than once (or only once)
    refusal: bool | None = None  # only answers that read as a refusal (or only those that do not)
    edited: bool | None = None  # only answers corrected in curation (or only originals)
    score: tuple[str, float | None, float | None] | None = None  # (grader, min, max) on the grader's score
    length: tuple[int | None, int | None] | None = None  # (min, max) tokens of the answer alone
    sort: str = ""  # "" (row order) or one of SORTS: "long"/"short" (answer tokens), "score"/"-score"

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Filters":
        data = dict(data or {})
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("labels", "answers", "finish"):
            if key in known:
                known[key] = tuple(known[key] or ())
        for key in ("score", "length"):
            if known.get(key) is not None:
                known[key] = tuple(known[key])
        return cls(**known)

    @property
    def active(self) -> bool:
        return self != Filters()

    def expressions(self) -> list[str]:
        """The filters as `KEY=VALUE` expressions that `parse_filters` reads back."""
        out = []
        if self.agrees:
            out.append(f"agrees={self.agrees}")
        if self.valid is not None:
            out.append(f"valid={'yes' if self.valid else 'no'}")
        for name, values in (("label", self.labels), ("answer", self.answers), ("finish", self.finish)):
            if values:
                out.append(f"{name}={','.join(values)}")
        for name in ("status", "source"):
            if getattr(self, name):
                out.append(f"{name}={getattr(self, name)}")
        if self.min_tokens is not None or self.max_tokens is not None:
            low = "" if self.min_tokens is None else self.min_tokens
            high = "" if self.max_tokens is None else self.max_tokens
            out.append(f"tokens={low}..{high}")
        if self.dups is not None:
            out.append(f"dup={'yes' if self.dups else 'no'}")
        for name in ("refusal", "edited"):
            if getattr(self, name) is not None:
                out.append(f"{name}={'yes' if getattr(self, name) else 'no'}")
        if self.length is not None:
            low, high = ("" if v is None else v for v in self.length)
            out.append(f"length={low}..{high}")
        if self.score is not None:
            grader, low, high = self.score
            out.append(f"score={grader}:{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}")
        if self.sort:
            out.append(f"sort={self.sort}")
        if self.text:
            out.append(f"text={self.text}")
        return out

    def describe(self) -> str:
        """One line, e.g. `agrees=yes 'label=Pinot Noir' text=oak`, that `parse_filter_line` reads back."""
        return " ".join(shlex.quote(e) for e in self.expressions()) or "none"


_YES, _NO = ("yes", "y", "true", "1", "on"), ("no", "n", "false", "0", "off")
FILTER_KEYS = ("agrees", "valid", "label", "answer", "finish", "status", "source", "tokens", "text", "dup",
               "refusal", "edited", "length", "score", "sort", "dedupe", "cap")
SORTS = ("long", "short", "score", "-score")
"""Orders of the list besides row order: longest or shortest answer first (its tokens), highest or
lowest grader score first (the score filter's grader, else the first grader with scores)."""


def _bool(key: str, value: str) -> bool:
    if value.lower() in _YES:
        return True
    if value.lower() in _NO:
        return False
    raise UserError(f"--filter {key}={value}: use yes or no")


def parse_filters(expressions: Iterable[str], base: Filters | None = None) -> tuple[Filters, dict[str, Any]]:
    """Parse `key=value` filter expressions (the CLI's `--filter`).

    Keys: agrees=yes|no|unknown, valid=yes|no, label=A,B (gold), answer=A,B (teacher), finish=stop,
    status=ok|failed, source=generated|imported, tokens=MIN..MAX, text=WORDS, dup=yes|no,
    refusal=yes|no, edited=yes|no, length=MIN..MAX (answer tokens), score=GRADER:MIN..MAX,
    sort=long|short|score|-score|row; and two
    actions applied to what matches: dedupe=yes, cap=N (per teacher label).

    Returns:
        The filters and the actions (`{"dedupe": bool, "cap": int | None}`).

    Raises:
        UserError: naming the expression that cannot be read.
    """
    f = base or Filters()
    actions: dict[str, Any] = {"dedupe": False, "cap": None}
    for expr in expressions:
        key, sep, value = expr.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or key not in FILTER_KEYS:
            raise UserError(f"--filter {expr!r}: expected KEY=VALUE with KEY one of {', '.join(FILTER_KEYS)}")
        items = tuple(v.strip() for v in value.split(",") if v.strip())
        if key == "agrees":
            if value.lower() not in ("yes", "no", "unknown"):
                raise UserError(f"--filter {expr}: agrees takes yes, no or unknown")
            f = replace(f, agrees=value.lower())
        elif key == "valid":
            f = replace(f, valid=_bool(key, value))
        elif key in ("label", "answer", "finish"):
            name = {"label": "labels", "answer": "answers", "finish": "finish"}[key]
            f = replace(f, **{name: getattr(f, name) + items})
        elif key in ("status", "source"):
            allowed = ("ok", "failed") if key == "status" else ("generated", "imported")
            if value.lower() not in allowed:
                raise UserError(f"--filter {expr}: {key} takes {' or '.join(allowed)}")
            f = replace(f, **{key: value.lower()})
        elif key == "tokens":
            low, dots, high = value.partition("..")
            try:
                f = replace(f, min_tokens=int(low) if low else None,
                            max_tokens=(int(high) if high else None) if dots else (int(low) if low else None))
            except ValueError:
                raise UserError(f"--filter {expr}: tokens takes MIN..MAX, e.g. tokens=10..500") from None
            _ordered(expr, f.min_tokens, f.max_tokens)
        elif key == "text":
            f = replace(f, text=value)
        elif key == "dup":
            f = replace(f, dups=_bool(key, value))
        elif key in ("refusal", "edited"):
            f = replace(f, **{key: _bool(key, value)})
        elif key == "length":
            low, dots, high = value.partition("..")
            try:
                f = replace(f, length=(int(low) if low else None, int(high) if high else None))
            except ValueError:
                raise UserError(f"--filter {expr}: length takes MIN..MAX answer tokens, e.g. length=20..") from None
            if not dots:
                raise UserError(f"--filter {expr}: length takes MIN..MAX answer tokens, e.g. length=20..")
            _ordered(expr, *f.length)
        elif key == "score":
            f = replace(f, score=_score_range(expr, value))
        elif key == "sort":
            if value.lower() not in (*SORTS, "row"):
                raise UserError(f"--filter {expr}: sort takes {', '.join(SORTS)} or row")
            f = replace(f, sort="" if value.lower() == "row" else value.lower())
        elif key == "dedupe":
            actions["dedupe"] = _bool(key, value)
        elif key == "cap":
            try:
                actions["cap"] = int(value)
            except ValueError:
                raise UserError(f"--filter {expr}: cap takes a number of examples per label") from None
            if actions["cap"] < 1:
                raise UserError(f"--filter {expr}: cap must be at least 1")
    return f, actions


def _score_range(expr: str, value: str) -> tuple[str, float | None, float | None]:
    grader, colon, bounds = value.rpartition(":")
    low, dots, high = bounds.partition("..")
    try:
        out = (grader.strip(), float(low) if low else None, (float(high) if high else None) if dots else None)
    except ValueError:
        out = None
    if not colon or not grader.strip() or out is None or not dots:
        raise UserError(f"--filter {expr}: score takes GRADER:MIN..MAX, e.g. score=chrf:0.5.. or score=judge:..0.3")
    if any(v is not None and not 0 <= v <= 1 for v in out[1:]):
        raise UserError(f"--filter {expr}: score bounds are between 0 and 1")
    _ordered(expr, out[1], out[2])
    return out


def _ordered(expr: str, low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        raise UserError(f"--filter {expr}: the minimum is above the maximum, so nothing would match")


def check_known(filters: Filters, gold: Iterable[Any], answers: Iterable[Any], finish: Iterable[Any]) -> None:
    """Refuse label, answer and finish values that no row can have (a typo would match nothing).

    Args:
        filters: the filters to check.
        gold: the known gold labels; answers: the known teacher labels; finish: the known finish reasons.

    Raises:
        UserError: one line naming the first unknown value and the closest known ones.
    """
    for key, wanted, known, what in (("label", filters.labels, gold, "gold label"),
                                     ("answer", filters.answers, answers, "teacher answer"),
                                     ("finish", filters.finish, finish, "finish reason")):
        names = sorted({str(k) for k in known if k is not None})
        for value in wanted:
            if value not in names:
                raise UserError(f"--filter {key}={value}: no {what} {value!r}; {_suggest(value, names)}")


def _suggest(value: str, names: list[str]) -> str:
    """`did you mean X?` (any case first, then similar spelling), else the first known names."""
    folded = {n.lower(): n for n in names}
    close = [folded[c] for c in difflib.get_close_matches(value.lower(), list(folded), n=3, cutoff=0.6)]
    if value.lower() in folded:
        close = [folded[value.lower()], *(c for c in close if c != folded[value.lower()])]
    if close:
        return "did you mean " + " or ".join(close) + "?"
    if not names:
        return "there are none"
    return "known: " + ", ".join(names[:8]) + (", …" if len(names) > 8 else "")


def _preference(cur: AnswerColumns, where: np.ndarray) -> np.ndarray:
    """`where` ordered best first: agrees with gold, then valid, then lowest id."""
    order = np.lexsort((np.abs(cur.ids[where]), ~cur.valid[where], cur.agrees[where] != 1))
    return where[order]


def dedupe_drop(cur: AnswerColumns, among: np.ndarray) -> np.ndarray:
    """Positions to drop so that each prompt occurs once among the rows in `among`."""
    where = _preference(cur, np.flatnonzero(among & (cur.group_size > 1)))
    _, first = np.unique(cur.group_codes[where], return_index=True)
    keep = np.zeros(len(where), dtype=bool)
    keep[first] = True
    return where[~keep]


def cap_drop(cur: AnswerColumns, among: np.ndarray, cap: int, prefer: np.ndarray | None = None) -> np.ndarray:
    """Positions to drop so that no teacher label has more than `cap` rows in `among`.

    Rows in `prefer` (a mask, e.g. the rows just selected by hand) are kept first, then rows that
    agree with gold, then a seeded random order.
    """
    where = np.flatnonzero(among)
    rng = random.Random(cur.context.seed)
    shuffle = np.array(rng.sample(range(len(where)), len(where)), dtype=np.int64)
    preferred = np.zeros(len(where), dtype=bool) if prefer is None else prefer[where]
    order = np.lexsort((shuffle, cur.agrees[where] != 1, ~preferred, cur.answer_codes[where]))
    where = where[order]
    codes = cur.answer_codes[where]
    starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
    rank = np.arange(len(where)) - np.repeat(starts, np.diff(np.r_[starts, len(where)]))
    return where[rank >= cap] if len(where) else where


def parse_filter_line(line: str, base: Filters | None = None) -> tuple[Filters, dict[str, Any]]:
    """Parse a line of space-separated expressions (shell quoting for spaces), as typed in the TUI."""
    try:
        parts = shlex.split(line)
    except ValueError as exc:
        raise UserError(f"filter {line!r}: {exc}") from None
    return parse_filters([p for p in parts if p.lower() != "none"], base)
