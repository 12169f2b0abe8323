"""Bootstrap intervals and paired comparisons against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distill_tui.core.evaluate import score_stats, stats
from distill_tui.core.evaluate.score_stats import bootstrap_mean, paired_bootstrap, paired_comparison


def test_bootstrap_is_seeded_and_reproducible() -> None:
    values = [0.1, 0.4, 0.35, 0.8, 0.9, 0.05, 0.6]
    first = bootstrap_mean(values)
    assert first == bootstrap_mean(values)
    assert first != bootstrap_mean(values, seed=1)
    assert first.mean == pytest.approx(sum(values) / len(values))
    assert first.low < first.mean < first.high


def test_bootstrap_of_two_values_by_enumeration() -> None:
    # Resampling {0, 1} gives means 0, ½, 1 with probabilities ¼, ½, ¼: the 2.5th and 97.5th
    # percentiles are 0 and 1.
    result = bootstrap_mean([0.0, 1.0])
    assert (result.mean, result.low, result.high, result.n) == (0.5, 0.0, 1.0, 2)


def test_bootstrap_matches_the_normal_interval_for_a_large_sample() -> None:
    # For n = 2,000 the bootstrap distribution of the mean is close to normal with sd = s/√n
    # (s with ddof 0): the interval is mean ± 1.96·s/√n within a few per cent of its width.
    values = np.random.default_rng(7).uniform(0, 1, 2000)
    half = 1.959963984540054 * values.std() / math.sqrt(len(values))
    result = bootstrap_mean(values)
    assert result.low == pytest.approx(values.mean() - half, abs=0.05 * half)
    assert result.high == pytest.approx(values.mean() + half, abs=0.05 * half)


def test_bootstrap_of_constant_and_empty() -> None:
    assert bootstrap_mean([0.7] * 5) == score_stats.MeanInterval(0.7, 0.7, 0.7, 5)
    assert bootstrap_mean([]) is None
    with pytest.raises(ValueError):
        bootstrap_mean([1.0], confidence=1.0)


def test_paired_interval_by_enumeration() -> None:
    # Differences {0, 1}: sign flips of (0, 1) give means ±½ only, so the permutation p is 1; two rows
    # can reject no shift at all (the smallest p of 4 patterns is ½), so the interval is all of [−1, 1].
    result = paired_bootstrap([1.0, 1.0], [1.0, 0.0])
    assert (result.diff, result.low, result.high) == (0.5, -1.0, 1.0)
    assert result.p_value == 1.0 and result.test == "paired permutation"
    assert not result.significant
    assert result.verdict().startswith("not significant")


def test_sign_flip_p_by_hand() -> None:
    # (0.1, 0.2, 0.3): of the 8 sign patterns only +++ and −−− reach |mean| ≥ 0.2 → p = 2/8. A
    # bootstrap p centred on the null said 0.0001 here.
    assert score_stats.sign_flip_p([0.1, 0.2, 0.3]) == 0.25
    assert score_stats.sign_flip_p([0.5]) == 1.0  # one row proves nothing
    assert score_stats.sign_flip_p([0.2] * 6) == 2 / 64
    assert score_stats.sign_flip_p([0.0, 0.0]) == 1.0


@pytest.mark.parametrize("b, c", [(6, 1), (5, 5), (12, 3), (0, 9), (40, 25)])
def test_sign_flip_over_pass_fail_is_mcnemar(b: int, c: int) -> None:
    # Differences of +1 (b rows), −1 (c rows) and 0: the sign-flip test is the exact McNemar test.
    diffs = [1.0] * b + [-1.0] * c + [0.0] * 7
    expected = stats.mcnemar_exact(b, c)
    if b + c <= score_stats.EXACT_UP_TO:
        assert score_stats.sign_flip_p(diffs) == pytest.approx(expected, rel=1e-12)
    else:  # Monte Carlo beyond 16 rows: within its sampling error
        assert score_stats.sign_flip_p(diffs) == pytest.approx(expected, abs=0.01)


def test_paired_no_difference_and_constant_gain() -> None:
    same = paired_bootstrap([0.2, 0.5, 0.9], [0.2, 0.5, 0.9])
    assert (same.diff, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    gain = paired_bootstrap([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])
    assert gain.diff == pytest.approx(0.1) and (gain.low, gain.high) == pytest.approx((0.1, 0.1))
    assert gain.p_value == 2 / 8 and not gain.significant  # three rows cannot be significant at 5 %
    assert paired_bootstrap([], []) is None


def test_paired_bootstrap_finds_a_real_gain_and_not_noise() -> None:
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 1, 300)
    better = np.clip(base + 0.05 + rng.normal(0, 0.05, 300), 0, 1)
    noise = np.clip(base + rng.normal(0, 0.05, 300), 0, 1)
    real = paired_bootstrap(better, base)
    assert real.significant and real.low > 0 and real.verdict().startswith("better")
    assert not paired_bootstrap(noise, base).significant


def test_pass_fail_scores_get_mcnemar() -> None:
    # 6 rows only the model got right, 1 only the base: exact McNemar 2·(1 + 7)/2⁷ = 0.125.
    model = [1.0] * 6 + [0.0] + [1.0] * 3
    base = [0.0] * 6 + [1.0] + [1.0] * 3
    result = paired_comparison(model, base)
    assert result.test == "mcnemar"
    assert result.p_value == pytest.approx(0.125)
    assert result.diff == pytest.approx(0.5)
    assert paired_comparison([0.5, 1.0], [0.0, 1.0]).test == "paired permutation"


# 26 rows on which the paired percentile bootstrap said +0.168 (+0.004 to +0.332) while the sign-flip
# test said p = 0.057: "not significant" beside an interval without 0.
DISAGREED_MODEL = [0.84, 0.81, 0.36, 0.36, 0.13, 0.47, 0.13, 0.56, 0.64, 0.6, 0.08, 0.64, 0.77, 0.16, 0.61, 0.83,
                   0.21, 0.92, 0.97, 0.73, 0.88, 0.29, 0.68, 0.93, 0.05, 0.83]
DISAGREED_BASE = [0.58, 0.34, 0.58, 0.1, 0.14, 0.82, 0.0, 0.01, 0.93, 0.8, 0.01, 0.94, 0.04, 0.75, 0.78, 0.0, 0.0,
                  0.06, 0.84, 0.56, 0.1, 0.69, 0.05, 0.07, 0.02, 0.9]


def test_the_interval_and_the_verdict_agree() -> None:
    result = paired_bootstrap(DISAGREED_MODEL, DISAGREED_BASE)
    assert result.p_value >= 0.05 and not result.significant
    assert result.low <= 0.0 <= result.high, result  # the interval inverts the same test
    assert result.verdict().startswith("not significant (p = 0.05")


def test_the_inverted_interval_excludes_0_exactly_when_the_test_rejects() -> None:
    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(6, 40))
        model, base = rng.random(n) ** rng.uniform(0.3, 3), rng.random(n) ** rng.uniform(0.3, 3)
        for result in (paired_bootstrap(model, base), score_stats.paired_comparison(model, base),
                       score_stats.paired_comparison(model > 0.5, base > 0.5)):
            assert result.significant == (not result.low <= 0.0 <= result.high), result
            assert result.significant == (result.p_value < 0.05), result


def test_a_p_below_005_beside_an_interval_with_0_is_not_called_significant() -> None:
    shown = score_stats.PairedDifference(0.1, -0.01, 0.2, 0.04, 30, "mcnemar")
    assert not shown.significant
    assert shown.verdict() == "not significant (p = 0.04, but the 95 % interval includes 0, n = 30)"
