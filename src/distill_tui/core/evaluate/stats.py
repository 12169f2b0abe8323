"""Statistics for the comparison table: intervals, paired tests, per-class scores, percentiles.

Everything is exact or closed-form and uses the standard library only.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

NO_ANSWER = "(no answer)"
"""How a missing prediction is shown among the confusions."""

# Acklam's rational approximation of the inverse normal CDF (relative error < 1.15e-9 before the
# refinement step in `normal_quantile`).
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_P_LOW = 0.02425


@dataclass(frozen=True, slots=True)
class ClassStats:
    """Scores for one label.

    `accuracy` and `recall` are the same number (correct / n) under the names the table uses.
    A score whose denominator is zero is None ("not defined"), not 0.0: a label never predicted has
    no precision, and a label absent from the gold answers has no recall. `f1` is
    2·tp / (2·tp + fp + fn), which is defined for every label listed, and is 0.0 when tp is 0.
    """

    label: str
    n: int
    correct: int
    predicted: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None


def normal_quantile(p: float) -> float:
    """The standard normal quantile (inverse CDF) of `p`, accurate to about 1e-15.

    Raises:
        ValueError: unless 0 < p < 1.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be strictly between 0 and 1, not {p!r}")
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        x = _tail(q)
    elif p > 1.0 - _P_LOW:
        q = math.sqrt(-2.0 * math.log1p(-p))
        x = -_tail(q)
    else:
        q = p - 0.5
        r = q * q
        num = ((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]
        den = ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0
        x = num * q / den
    # One Halley step on the exact CDF takes Acklam's 1e-9 to machine precision.
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


def _tail(q: float) -> float:
    num = ((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]
    den = (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0
    return num / den


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a proportion `correct / n`.

    Returns:
        (low, high) within [0, 1]; (0.0, 1.0) when n is 0 (nothing is known).

    Raises:
        ValueError: when `correct` is outside 0..n or `confidence` outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, not {confidence!r}")
    if n < 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    z = normal_quantile(0.5 + confidence / 2.0)
    p = correct / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    # At 0/n and n/n the bound is exactly 0 or 1; rounding would otherwise leave 1e-17 off.
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == n else min(1.0, centre + half)
    return (low, high)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test on the discordant pairs of a paired comparison.

    Args:
        b: Pairs model A got right and model B got wrong.
        c: Pairs model A got wrong and model B got right.

    Returns:
        min(1, 2·P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2); 1.0 when b + c is 0. Exact
        integer arithmetic, so b + c in the tens of thousands neither overflows nor loses precision.
    """
    if b < 0 or c < 0:
        raise ValueError(f"counts must not be negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    term = 1  # C(n, 0)
    tail = 1
    for i in range(k):
        term = term * (n - i) // (i + 1)  # C(n, i+1), exact: the product is always divisible
        tail += term
    # int / int is correctly rounded in Python, however large the operands.
    return min(1.0, 2 * tail / (1 << n))


def paired_counts(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int]:
    """Discordant pairs of two models' per-row correctness.

    Returns:
        (rows only `a` got right, rows only `b` got right): McNemar's b and c.
    """
    _same_length(a, b)
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    return (only_a, only_b)


def per_class(gold: Sequence[str], pred: Sequence[str | None]) -> list[ClassStats]:
    """Per-label scores, most frequent gold label first (then by name).

    Labels that were predicted but never appear in `gold` are listed too, with n = 0, since they
    are the model's mistakes. A None prediction (no usable answer) counts as wrong.
    """
    _same_length(gold, pred)
    n = Counter(gold)
    predicted = Counter(p for p in pred if p is not None)
    correct = Counter(g for g, p in zip(gold, pred) if g == p)
    labels = sorted(set(n) | set(predicted), key=lambda label: (-n[label], label))
    rows = []
    for label in labels:
        tp, fn, fp = correct[label], n[label] - correct[label], predicted[label] - correct[label]
        recall = _ratio(tp, n[label])
        rows.append(
            ClassStats(
                label=label,
                n=n[label],
                correct=tp,
                predicted=predicted[label],
                accuracy=recall,
                precision=_ratio(tp, predicted[label]),
                recall=recall,
                f1=_ratio(2 * tp, 2 * tp + fp + fn),
            )
        )
    return rows


def confusion(gold: Sequence[str], pred: Sequence[str | None]) -> dict[tuple[str, str | None], int]:
    """Counts of (gold, predicted) pairs, the diagonal included; None stands for no answer."""
    _same_length(gold, pred)
    return dict(Counter(zip(gold, pred)))


def top_confusions(
    gold: Sequence[str], pred: Sequence[str | None], k: int = 10
) -> list[tuple[str, str, int]]:
    """The `k` most frequent mistakes as (gold, predicted, count), most frequent first.

    Correct answers are left out; a missing prediction shows as `NO_ANSWER`. Ties are ordered by
    gold label, then predicted label, so the table is stable from run to run.
    """
    mistakes = [
        (g, NO_ANSWER if p is None else p, count)
        for (g, p), count in confusion(gold, pred).items()
        if g != p
    ]
    mistakes.sort(key=lambda row: (-row[2], row[0], row[1]))
    return mistakes[: max(k, 0)]


def percentile(values: Iterable[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) with linear interpolation, as numpy's default method.

    Returns:
        None when there are no values.

    Raises:
        ValueError: when `q` is outside 0..100.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be between 0 and 100, not {q!r}")
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


def agreement(a: Sequence[str | None], b: Sequence[str | None]) -> float | None:
    """Fraction of rows where two models gave the same answer.

    Two missing answers do not agree: neither model said anything. Returns None for no rows.
    """
    _same_length(a, b)
    if not a:
        return None
    return sum(1 for x, y in zip(a, b) if x is not None and x == y) / len(a)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _same_length(a: Sequence[object], b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"sequences differ in length: {len(a)} and {len(b)}")
