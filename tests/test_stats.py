"""Tests for distill_tui.core.evaluate.stats against known values and independent computations."""

from __future__ import annotations

import ast
import math
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from distill_tui.core.evaluate import stats
from distill_tui.core.evaluate.stats import (
    NO_ANSWER,
    agreement,
    confusion,
    mcnemar_exact,
    normal_quantile,
    paired_counts,
    per_class,
    percentile,
    top_confusions,
    wilson_interval,
)

Z95 = 1.959963984540054


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _wilson_by_bisection(correct: int, n: int, z: float) -> tuple[float, float]:
    """Wilson bounds found a second way: the p where |p_hat - p| = z * sqrt(p(1-p)/n)."""
    p_hat = correct / n

    def gap(p: float) -> float:
        return (p_hat - p) ** 2 - z * z * p * (1 - p) / n

    def root(lo: float, hi: float) -> float:
        for _ in range(200):
            mid = (lo + hi) / 2
            if (gap(lo) > 0) == (gap(mid) > 0):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    low = 0.0 if correct == 0 else root(0.0, p_hat)
    high = 1.0 if correct == n else root(p_hat, 1.0)
    return low, high


@pytest.mark.parametrize(
    "p", [1e-12, 1e-6, 0.001, 0.02, 0.024, 0.025, 0.1, 0.3, 0.5, 0.7, 0.975, 0.99, 0.999999]
)
def test_normal_quantile_inverts_the_cdf(p: float) -> None:
    assert _normal_cdf(normal_quantile(p)) == pytest.approx(p, rel=1e-12)


def test_normal_quantile_known_values() -> None:
    assert normal_quantile(0.975) == pytest.approx(Z95, abs=1e-14)
    assert normal_quantile(0.5) == pytest.approx(0.0, abs=1e-15)
    assert normal_quantile(0.995) == pytest.approx(2.5758293035489004, abs=1e-13)
    assert normal_quantile(0.05) == pytest.approx(-1.6448536269514722, abs=1e-13)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5])
def test_normal_quantile_rejects_out_of_range(p: float) -> None:
    with pytest.raises(ValueError):
        normal_quantile(p)


@pytest.mark.parametrize(
    ("correct", "n", "expected"),
    [
        (8, 10, (0.4902, 0.9433)),
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (81, 100, (0.7222, 0.8749)),
    ],
)
def test_wilson_known_values(correct: int, n: int, expected: tuple[float, float]) -> None:
    low, high = wilson_interval(correct, n)
    assert low == pytest.approx(expected[0], abs=5e-5)
    assert high == pytest.approx(expected[1], abs=5e-5)


@pytest.mark.parametrize(
    ("correct", "n"), [(0, 1), (1, 1), (3, 7), (8, 10), (81, 100), (409, 500), (1, 1000)]
)
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_wilson_matches_second_computation(correct: int, n: int, confidence: float) -> None:
    z = normal_quantile(0.5 + confidence / 2)
    assert wilson_interval(correct, n, confidence) == pytest.approx(
        _wilson_by_bisection(correct, n, z), abs=1e-12
    )


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    narrow, wide = wilson_interval(50, 100, 0.9), wilson_interval(50, 100, 0.99)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]


@pytest.mark.parametrize(("correct", "n"), [(-1, 10), (11, 10), (0, -1)])
def test_wilson_rejects_bad_counts(correct: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson_interval(correct, n)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95])
def test_wilson_rejects_bad_confidence(confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(5, 10, confidence)


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (0, 5, 0.0625),
        (5, 0, 0.0625),
        (1, 5, 0.21875),
        (3, 3, 1.0),
        (0, 0, 1.0),
        (2, 10, 0.03857421875),  # 2 * (1 + 12 + 66) / 4096
        (0, 1, 1.0),
    ],
)
def test_mcnemar_exact_known_values(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-15)


def _mcnemar_fraction(b: int, c: int) -> Fraction:
    n = b + c
    tail = sum(Fraction(math.comb(n, i), 2**n) for i in range(min(b, c) + 1))
    return min(Fraction(1), 2 * tail)


@pytest.mark.parametrize(("b", "c"), [(7, 19), (40, 61), (100, 130), (250, 251)])
def test_mcnemar_matches_fraction_sum(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(float(_mcnemar_fraction(b, c)), rel=1e-14)


def test_mcnemar_large_tables_do_not_overflow() -> None:
    # 4,900 vs 5,100 discordant pairs: z ~ 2.0, so p is near 0.046 (normal approximation).
    p = mcnemar_exact(4900, 5100)
    approx = 2 * _normal_cdf((4900 + 0.5 - 5000) / math.sqrt(10000 * 0.25))
    assert 0.04 < p < 0.055
    assert p == pytest.approx(approx, rel=0.02)
    assert mcnemar_exact(5000, 5000) == 1.0
    assert mcnemar_exact(0, 20000) == 0.0  # 2 / 2**20000 underflows quietly
    assert mcnemar_exact(0, 1000) == pytest.approx(2.0**-999)


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_paired_counts() -> None:
    a = [True, True, False, False, True, False]
    b = [True, False, True, False, False, True]
    assert paired_counts(a, b) == (2, 2)
    assert paired_counts([True, True], [False, True]) == (1, 0)
    assert paired_counts([], []) == (0, 0)
    with pytest.raises(ValueError):
        paired_counts([True], [])


GOLD = ["a", "a", "a", "a", "b", "b", "c", "c", "c"]
PRED = ["a", "a", "b", None, "b", "a", "c", "c", "d"]


def test_per_class_hand_example() -> None:
    rows = {row.label: row for row in per_class(GOLD, PRED)}
    assert [row.label for row in per_class(GOLD, PRED)] == ["a", "c", "b", "d"]

    a = rows["a"]  # tp 2, fn 2 (one wrong, one unanswered), fp 1 (a "b" called "a")
    assert (a.n, a.correct, a.predicted) == (4, 2, 3)
    assert a.accuracy == a.recall == pytest.approx(0.5)
    assert a.precision == pytest.approx(2 / 3)
    assert a.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))

    b = rows["b"]  # tp 1, fn 1, fp 1
    assert (b.n, b.correct, b.predicted) == (2, 1, 2)
    assert (b.precision, b.recall, b.f1) == pytest.approx((0.5, 0.5, 0.5))

    c = rows["c"]  # tp 2, fn 1, fp 0
    assert (c.precision, c.recall) == pytest.approx((1.0, 2 / 3))
    assert c.f1 == pytest.approx(0.8)

    d = rows["d"]  # predicted only: no recall, precision 0
    assert (d.n, d.correct, d.predicted) == (0, 0, 1)
    assert d.recall is None and d.accuracy is None
    assert d.precision == 0.0 and d.f1 == 0.0


def test_per_class_label_never_predicted() -> None:
    (row,) = [r for r in per_class(["x", "y"], ["y", "y"]) if r.label == "x"]
    assert row.precision is None
    assert row.recall == 0.0 and row.f1 == 0.0


def test_per_class_empty_and_mismatch() -> None:
    assert per_class([], []) == []
    with pytest.raises(ValueError):
        per_class(["a"], [])


def test_confusion_and_top_confusions() -> None:
    table = confusion(GOLD, PRED)
    assert table[("a", "a")] == 2
    assert table[("a", None)] == 1
    assert table[("c", "d")] == 1
    assert sum(table.values()) == len(GOLD)

    gold = ["a"] * 5 + ["b"] * 4
    pred = ["b", "b", "b", None, "a", "a", "a", "a", None]
    assert top_confusions(gold, pred) == [
        ("a", "b", 3),
        ("b", "a", 3),
        ("a", NO_ANSWER, 1),
        ("b", NO_ANSWER, 1),
    ]
    assert top_confusions(gold, pred, k=1) == [("a", "b", 3)]
    assert top_confusions(gold, pred, k=0) == []
    assert top_confusions(["a"], ["a"]) == []


def test_percentile_matches_numpy_linear() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert percentile(values, 0) == 15.0
    assert percentile(values, 100) == 50.0
    assert percentile(values, 50) == 35.0
    assert percentile(values, 40) == pytest.approx(29.0)  # numpy.percentile(values, 40)
    assert percentile(values, 95) == pytest.approx(48.0)
    assert percentile(reversed(values), 25) == pytest.approx(20.0)
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 95) is None
    assert percentile(range(1, 101), 95) == pytest.approx(95.05)
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_agreement() -> None:
    assert agreement(["a", "b", None, None], ["a", "c", None, "d"]) == pytest.approx(0.25)
    assert agreement(["a"], ["a"]) == 1.0
    assert agreement([], []) is None
    with pytest.raises(ValueError):
        agreement(["a"], ["a", "b"])


def test_stats_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(stats.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
