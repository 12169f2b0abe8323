"""Judge statistics (core/evaluate/agreement.py) against published and hand-computed values."""

from __future__ import annotations

import math
import random

import pytest

from distill_tui.core.evaluate.agreement import (
    FIRST,
    LOSS,
    SECOND,
    TIE,
    WIN,
    average_ranks,
    cohen_kappa,
    pairwise_summary,
    reconcile,
    spearman,
)


def _table(yy: int, yn: int, ny: int, nn: int) -> tuple[list[str], list[str]]:
    """Two raters' labels from a 2x2 table (rows: rater A yes/no, columns: rater B yes/no)."""
    a = ["yes"] * (yy + yn) + ["no"] * (ny + nn)
    b = ["yes"] * yy + ["no"] * yn + ["yes"] * ny + ["no"] * nn
    return a, b


def test_kappa_wikipedia_worked_example() -> None:
    # Wikipedia "Cohen's kappa", simple example: 50 proposals, 20 yes/yes, 5 A-yes/B-no, 10 A-no/B-yes,
    # 15 no/no: p_o = 0.7, p_e = 0.5, kappa = 0.4. Interval by hand with Cohen's (1960) SE:
    # sqrt(0.7*0.3 / (50*0.5**2)) = 0.129615; 0.4 -/+ 1.959964*0.129615 = (0.145960, 0.654040).
    got = cohen_kappa(*_table(20, 5, 10, 15))
    assert (got.n, got.observed, got.expected) == (50, pytest.approx(0.7), pytest.approx(0.5))
    assert got.value == pytest.approx(0.4)
    assert (got.ci_low, got.ci_high) == (pytest.approx(0.145960, abs=1e-6), pytest.approx(0.654040, abs=1e-6))


@pytest.mark.parametrize(("table", "expected"), [
    # Wikipedia "Cohen's kappa", "same percentages but different numbers": both tables agree on 60 %
    # of 100 items, yet kappa is 0.1304 and 0.2593.
    ((45, 15, 25, 15), 0.1304),
    ((25, 35, 5, 35), 0.2593),
])
def test_kappa_same_agreement_different_marginals(table: tuple[int, int, int, int], expected: float) -> None:
    got = cohen_kappa(*_table(*table))
    assert got.observed == pytest.approx(0.6)
    assert got.value == pytest.approx(expected, abs=5e-5)


def test_kappa_perfect_constant_and_missing() -> None:
    assert cohen_kappa(["p", "f", "p"], ["p", "f", "p"]).value == pytest.approx(1.0)
    constant = cohen_kappa(["p", "p"], ["p", "p"])  # p_e = 1: not defined, never 1 or 0
    assert constant.value is None and constant.warning() is not None
    # A row with no human grade is left out of n and counted as invalid, never as disagreement.
    got = cohen_kappa(["p", "f", None, "p"], ["p", "f", "f", None])
    assert (got.n, got.invalid, got.value) == (2, 2, pytest.approx(1.0))
    with pytest.raises(ValueError):
        cohen_kappa(["p"], ["p", "f"])


def test_kappa_warns_when_low_or_small() -> None:
    assert "poorly" in cohen_kappa(*_table(45, 15, 25, 15)).warning()  # kappa 0.13
    good_small = cohen_kappa(*_table(9, 0, 1, 10))
    assert good_small.value > 0.8 and "only 20 rows" in good_small.warning()
    assert cohen_kappa(*_table(30, 1, 1, 30)).warning() is None


def test_spearman_wikipedia_example_without_ties() -> None:
    # Wikipedia "Spearman's rank correlation coefficient": IQ against hours of TV per week, rho = -29/165.
    iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110]
    tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17]
    got = spearman(iq, tv)
    assert got.value == pytest.approx(-29 / 165) and got.n == 10
    # Bonett & Wright (2000) interval by hand: z = atanh(-0.175758) = -0.177600,
    # se = sqrt((1 + 0.175758**2/2) / 7) = 0.381921; tanh(z -/+ 1.959964*se) = (-0.727830, 0.514547).
    assert (got.ci_low, got.ci_high) == (pytest.approx(-0.727830, abs=1e-6), pytest.approx(0.514547, abs=1e-6))


def test_spearman_with_ties_by_hand() -> None:
    # Ranks (1, 2.5, 2.5, 4) and (1, 3, 2, 4): deviations (-1.5, 0, 0, 1.5) and (-1.5, .5, -.5, 1.5),
    # sum of products 4.5, sums of squares 4.5 and 5: rho = 4.5 / sqrt(22.5) = 3 / sqrt(10).
    assert average_ranks([1, 2, 2, 3]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]).value == pytest.approx(3 / math.sqrt(10))


def test_spearman_matches_scipy_on_heavily_tied_scores() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(7)
    for _ in range(20):
        person = [rng.randint(1, 5) for _ in range(40)]
        judge = [min(5, max(1, p + rng.choice([-1, 0, 0, 1]))) for p in person]
        assert spearman(person, judge).value == pytest.approx(stats.spearmanr(person, judge).statistic)
        assert average_ranks(judge).tolist() == pytest.approx(stats.rankdata(judge).tolist())


def test_spearman_undefined_and_small() -> None:
    assert spearman([3, 3, 3], [1, 2, 3]).value is None  # one score for every row: no ranking
    small = spearman([1, 2, 3], [1, 3, 2])
    assert small.value == pytest.approx(0.5) and small.ci_low is None  # n - 3 = 0: no interval
    assert spearman([1, None, 3, 4, 5], [2, 1, None, 4, 5]).n == 3


@pytest.mark.parametrize(("a_first", "b_first", "outcome", "flipped"), [
    (FIRST, SECOND, WIN, False),   # A preferred in both orders
    (SECOND, FIRST, LOSS, False),  # B preferred in both orders
    (TIE, TIE, TIE, False),
    (FIRST, FIRST, TIE, True),     # always the first shown: position bias, a tie
    (SECOND, SECOND, TIE, True),   # always the second shown
    (FIRST, TIE, TIE, True),
    (TIE, FIRST, TIE, True),
])
def test_reconcile_both_orders(a_first: str, b_first: str, outcome: str, flipped: bool) -> None:
    got = reconcile(a_first, b_first)
    assert (got.outcome, got.flipped) == (outcome, flipped)


def test_reconcile_invalid_is_never_a_tie() -> None:
    assert reconcile(FIRST, None) is None
    assert reconcile("A is better", SECOND) is None


def test_pairwise_summary_rates_and_wilson_intervals() -> None:
    # 263 rows: 81 wins, 100 ties (40 of them flips), 82 losses, plus 3 unparseable verdicts.
    rows = ([(FIRST, SECOND)] * 81 + [(TIE, TIE)] * 60 + [(FIRST, FIRST)] * 40
            + [(SECOND, FIRST)] * 82 + [(None, FIRST)] * 3)
    got = pairwise_summary(rows)
    assert (got.n, got.invalid, got.win.count, got.tie.count, got.loss.count, got.flip.count) == (263, 3, 81, 100,
                                                                                                82, 40)
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table II: 81/263, Wilson 95 % 0.2553 to 0.3662.
    assert got.win.rate == pytest.approx(81 / 263)
    assert (got.win.ci_low, got.win.ci_high) == (pytest.approx(0.2553, abs=5e-5), pytest.approx(0.3662, abs=5e-5))
    # Verdicts choosing the first-shown answer: 81 + 82 (one each) + 40 * 2 out of 526.
    assert got.first.count == 81 + 82 + 80
    d = got.to_dict()
    assert {"win_rate", "tie_rate", "loss_rate", "flip_rate", "win_ci_low", "flips"} <= set(d)
    assert d["flip_rate"] == pytest.approx(40 / 263)


def test_pairwise_summary_empty() -> None:
    got = pairwise_summary([])
    assert got.n == 0 and got.win.rate is None and (got.win.ci_low, got.win.ci_high) == (0.0, 1.0)
