"""Statistics for model judges: agreement with a person, and pairwise verdicts in both orders.

- **Cohen's kappa** for labels (pass/fail, categories): (p_o − p_e) / (1 − p_e), with Cohen's (1960)
  large-sample standard error √(p_o(1 − p_o) / (n(1 − p_e)²)) for a normal 95 % interval, clipped to
  [−1, 1].
- **Spearman's rho** for scores: Pearson's r of the ranks, ties given their average rank (as
  `scipy.stats.spearmanr`), with a Fisher-z interval using Bonett & Wright's (2000) standard error
  √((1 + rho²/2) / (n − 3)).
- **Pairwise judging**: the judge sees A and B in both orders. A verdict names the *position* it
  preferred ("first", "second" or "tie"); `reconcile` turns the two verdicts into A's win, tie or
  loss. When the orders disagree it is a tie, and the row counts as a flip: the flip rate measures
  position bias. Win, tie, loss and flip rates carry Wilson 95 % intervals.

Pairs where either side is missing (no human grade, an unparseable judge answer) are left out of n;
`invalid` says how many.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Hashable, Iterable, Sequence

import numpy as np

from distill_tui.core.evaluate.stats import normal_quantile, wilson_interval

FIRST, SECOND, TIE = "first", "second", "tie"
"""A judge's verdict: the answer shown first is better, the one shown second, or neither."""
VERDICTS = (FIRST, SECOND, TIE)
WIN, LOSS = "win", "loss"
"""Outcomes from A's side (A is the model under test; TIE is shared with the verdicts)."""

LOW_N = 30
"""Fewer graded pairs than this and an agreement figure is too uncertain to lean on."""
LOW_KAPPA = 0.4
"""Below this kappa ("fair" or worse on Landis & Koch's scale) a judge's labels are not trusted."""
LOW_RHO = 0.5


@dataclass(frozen=True)
class Agreement:
    """Agreement of a judge with a person: kappa (labels) or Spearman's rho (scores).

    `value`, `ci_low` and `ci_high` are None when the statistic is not defined (no pairs, or one
    side gave the same grade to every row). `observed` and `expected` are kappa's p_o and p_e.
    """

    kind: str  # "kappa" or "spearman"
    value: float | None
    n: int
    ci_low: float | None
    ci_high: float | None
    invalid: int = 0
    observed: float | None = None
    expected: float | None = None

    def warning(self) -> str | None:
        """One line when the figure is too weak or too uncertain to trust the judge, else None."""
        name = "kappa" if self.kind == "kappa" else "Spearman"
        if self.value is None:
            return f"{name} is not defined on these {self.n} grades (need two different grades on each side)"
        low = LOW_KAPPA if self.kind == "kappa" else LOW_RHO
        if self.value < low:
            return f"judge agrees poorly with the person: {name} {self.value:.2f} (n={self.n})"
        if self.n < LOW_N:
            return f"only {self.n} rows graded by a person: {name} {self.value:.2f} is uncertain (grade {LOW_N}+)"
        return None


def _pairs(a: Sequence[Any], b: Sequence[Any]) -> tuple[list[Any], list[Any], int]:
    if len(a) != len(b):
        raise ValueError(f"sequences differ in length: {len(a)} and {len(b)}")
    kept = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    return [x for x, _ in kept], [y for _, y in kept], len(a) - len(kept)


def cohen_kappa(a: Sequence[Hashable | None], b: Sequence[Hashable | None],
                confidence: float = 0.95) -> Agreement:
    """Cohen's kappa between two raters' labels of the same rows (None: not graded).

    Returns:
        The `Agreement`; its value is None when p_e is 1 (both raters used one and the same label).
    """
    x, y, invalid = _pairs(a, b)
    n = len(x)
    if n == 0:
        return Agreement("kappa", None, 0, None, None, invalid)
    observed = sum(1 for p, q in zip(x, y) if p == q) / n
    ca, cb = Counter(x), Counter(y)
    expected = sum(ca[label] * cb[label] for label in ca) / (n * n)
    if expected >= 1.0:
        return Agreement("kappa", None, n, None, None, invalid, observed, expected)
    kappa = (observed - expected) / (1.0 - expected)
    se = math.sqrt(observed * (1.0 - observed) / (n * (1.0 - expected) ** 2))
    z = normal_quantile(0.5 + confidence / 2.0)
    return Agreement("kappa", kappa, n, max(-1.0, kappa - z * se), min(1.0, kappa + z * se),
                     invalid, observed, expected)


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, tied values sharing the average of their ranks (scipy's `rankdata` 'average')."""
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind="mergesort")
    ordered = v[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    ends = np.r_[starts[1:], len(v)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1..ends, averaged
    ranks = np.empty(len(v), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def spearman(a: Sequence[float | None], b: Sequence[float | None], confidence: float = 0.95) -> Agreement:
    """Spearman's rank correlation between two raters' scores of the same rows (None: not graded).

    Returns:
        The `Agreement`; value None when either side has one score for every row; the interval is
        None below 4 pairs (Fisher's z needs n − 3 > 0).
    """
    x, y, invalid = _pairs(a, b)
    n = len(x)
    if n < 2:
        return Agreement("spearman", None, n, None, None, invalid)
    rx, ry = average_ranks(x), average_ranks(y)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if den == 0.0:
        return Agreement("spearman", None, n, None, None, invalid)
    rho = max(-1.0, min(1.0, float(dx @ dy) / den))
    if n < 4:
        return Agreement("spearman", rho, n, None, None, invalid)
    if abs(rho) == 1.0:
        return Agreement("spearman", rho, n, rho, rho, invalid)
    z = normal_quantile(0.5 + confidence / 2.0)
    se = math.sqrt((1.0 + rho * rho / 2.0) / (n - 3))
    centre = math.atanh(rho)
    return Agreement("spearman", rho, n, math.tanh(centre - z * se), math.tanh(centre + z * se), invalid)


@dataclass(frozen=True)
class Reconciled:
    """One row judged in both orders: A's outcome and whether the judge flipped with the order."""

    outcome: str  # WIN, TIE or LOSS, from A's side
    flipped: bool


def reconcile(a_first: str | None, b_first: str | None) -> Reconciled | None:
    """Combine the verdicts of the two orders into A's outcome.

    Args:
        a_first: The verdict when A was shown first (FIRST means A is better).
        b_first: The verdict when B was shown first (FIRST means B is better).

    Returns:
        None when either verdict is missing or not a verdict (the row is invalid, never a tie);
        otherwise the outcome: the common preference when both orders agree, else a tie with
        `flipped` set.
    """
    if a_first not in VERDICTS or b_first not in VERDICTS:
        return None
    one = {FIRST: WIN, SECOND: LOSS, TIE: TIE}[a_first]
    two = {FIRST: LOSS, SECOND: WIN, TIE: TIE}[b_first]
    if one == two:
        return Reconciled(one, False)
    return Reconciled(TIE, True)


@dataclass(frozen=True)
class Rate:
    """A count out of n with its Wilson interval (rate None when n is 0)."""

    count: int
    rate: float | None
    ci_low: float
    ci_high: float


def rate(count: int, n: int, confidence: float = 0.95) -> Rate:
    """`count / n` with its Wilson interval."""
    low, high = wilson_interval(count, n, confidence)
    return Rate(count, count / n if n else None, low, high)


@dataclass(frozen=True)
class PairwiseSummary:
    """Win/tie/loss of A against B over the rows judged in both orders, and the judge's position bias.

    `flip` counts rows whose two orders disagreed (they are ties in `tie`); `first` is the share of
    all valid verdicts (two per row) that chose the answer shown first: 0.5 for a judge without
    position bias, whatever the answers' quality.
    """

    n: int
    invalid: int
    win: Rate
    tie: Rate
    loss: Rate
    flip: Rate
    first: Rate

    def to_dict(self) -> dict[str, Any]:
        """The keys of `eval --json`'s pairwise entry (`win_rate`, …, `flip_rate`) and their intervals."""
        out: dict[str, Any] = {"n": self.n, "invalid": self.invalid}
        for name in ("win", "tie", "loss", "flip", "first"):
            r = getattr(self, name)
            out.update({f"{name}_rate": r.rate, f"{name}_ci_low": r.ci_low, f"{name}_ci_high": r.ci_high,
                        f"{name}s" if name != "first" else "first_chosen": r.count})
        return out


def pairwise_summary(verdicts: Iterable[tuple[str | None, str | None]],
                     confidence: float = 0.95) -> PairwiseSummary:
    """Summarise rows judged in both orders: (verdict with A first, verdict with B first) per row."""
    outcomes: list[Reconciled] = []
    invalid = first = 0
    for a_first, b_first in verdicts:
        got = reconcile(a_first, b_first)
        if got is None:
            invalid += 1
            continue
        outcomes.append(got)
        first += (a_first == FIRST) + (b_first == FIRST)
    n = len(outcomes)
    counts = Counter(o.outcome for o in outcomes)
    flips = sum(o.flipped for o in outcomes)
    return PairwiseSummary(
        n=n, invalid=invalid,
        win=rate(counts[WIN], n, confidence), tie=rate(counts[TIE], n, confidence),
        loss=rate(counts[LOSS], n, confidence), flip=rate(flips, n, confidence),
        first=rate(first, 2 * n, confidence),
    )


def as_dict(agreement: Agreement) -> dict[str, Any]:
    """An `Agreement` as plain JSON values."""
    return asdict(agreement)
