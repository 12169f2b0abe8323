"""Statistics for graded scores: a bootstrap interval for a mean and a paired comparison.

Scores are per-row numbers in [0, 1]. Intervals are percentile bootstraps (Efron & Tibshirani 1993,
ch. 13) with a seeded generator, so the same scores give the same interval on every run. The paired
comparison keeps each row's two scores together, as practitioners recommend when both models answered
the same items (Miller 2024, "Adding Error Bars to Evals"); its p-value is a paired permutation
(sign-flip) test's, and pass/fail results get McNemar's exact test (`stats.mcnemar_exact`), which is
the same test on differences of −1, 0 and 1. Its interval inverts the same sign-flip test (every shift
δ of the differences the test does not reject at 5 %; Lehmann & Romano 2005, §3.5), so the interval
and the verdict answer one question: a percentile bootstrap of the differences could exclude 0 while
the test said "not significant" (+0.168 (+0.004 to +0.332) with p = 0.057 on 26 rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from distill_tui.core.evaluate import stats

RESAMPLES = 10_000
MCNEMAR, PERMUTATION = "mcnemar", "paired permutation"
SEED = 20_241_101
ALPHA = 0.05
_CHUNK_INDICES = 4_000_000  # indices drawn at once (32 MB), whatever the number of rows


@dataclass(frozen=True, slots=True)
class MeanInterval:
    """A mean and its bootstrap 95 % interval over n rows."""

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """Mean of (model − base) over the rows both answered, its interval and a two-sided p-value.

    `test` names where the p-value comes from: "mcnemar" (exact, over pass/fail) or "paired
    permutation" (sign-flip); the interval inverts the sign-flip test either way.
    """

    diff: float
    low: float
    high: float
    p_value: float
    n: int
    test: str

    @property
    def covers_zero(self) -> bool:
        return self.low <= 0.0 <= self.high

    @property
    def significant(self) -> bool:
        """p < 0.05 and an interval without 0: a difference is claimed only when both say so."""
        return self.p_value < ALPHA and not self.covers_zero

    def verdict(self) -> str:
        """A plain sentence: better/worse than the base (p), or not significant."""
        if self.n == 0:
            return "no rows in common with the base student"
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.2g}"
        if not self.significant:
            why = ", but the 95 % interval includes 0" if self.p_value < ALPHA else ""
            return f"not significant ({p}{why}, n = {self.n})"
        word = "better" if self.diff > 0 else "worse"
        return f"{word} than the base student ({p}, n = {self.n})"


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = len(values)
    out = np.empty(resamples)
    chunk = max(1, _CHUNK_INDICES // n)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        out[start:start + size] = values[rng.integers(0, n, size=(size, n))].mean(axis=1)
    return out


def _percentiles(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_mean(
    values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED, confidence: float = 0.95
) -> MeanInterval | None:
    """The mean of `values` with its percentile-bootstrap interval; None for no values.

    Raises:
        ValueError: `confidence` outside (0, 1) or `resamples` below 1.
    """
    _check(confidence, resamples)
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return None
    mean = float(data.mean())
    if np.all(data == data[0]):
        return MeanInterval(mean, mean, mean, int(data.size))  # every resample is the same
    low, high = _percentiles(_bootstrap_means(data, resamples, seed), confidence)
    return MeanInterval(mean, min(low, mean), max(high, mean), int(data.size))


def paired_bootstrap(
    model: Sequence[float], base: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED,
    confidence: float = 0.95,
) -> PairedDifference | None:
    """Mean paired difference model − base, its interval and a two-sided p-value.

    The p-value is the paired permutation (sign-flip) test's (`sign_flip_p`), not a bootstrap one:
    a bootstrap p centred on the null is far too small for a few rows (three positive differences,
    0.1, 0.2 and 0.3, get p = 0.0001 from it and 0.25 from the exact test). The interval inverts
    the same test (`sign_flip_interval`), so it excludes 0 exactly when the test rejects (up to
    Monte Carlo noise at the boundary, which `PairedDifference.significant` settles by asking
    both). The name stays for its callers. None when there are no pairs.

    Raises:
        ValueError: sequences of different lengths, or bad `confidence`/`resamples`.
    """
    _check(confidence, resamples)
    if len(model) != len(base):
        raise ValueError(f"paired scores differ in length: {len(model)} and {len(base)}")
    diffs = np.asarray(model, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    if diffs.size == 0:
        return None
    mean = float(diffs.mean())
    p = sign_flip_p(diffs, resamples=resamples, seed=seed)
    if np.all(diffs == diffs[0]):
        return PairedDifference(mean, mean, mean, p, int(diffs.size), PERMUTATION)  # every resample is the same
    low, high = sign_flip_interval(diffs, resamples=resamples, seed=seed, confidence=confidence)
    low, high = _covering_zero_unless(p, min(low, mean), max(high, mean))
    return PairedDifference(mean, low, high, p, int(diffs.size), PERMUTATION)


def _covering_zero_unless(p_value: float, low: float, high: float) -> tuple[float, float]:
    """The interval widened to 0 when the test did not reject: Monte Carlo draws (or McNemar's exact
    p beside the sign-flip interval) can disagree at the boundary, and then the cautious side wins."""
    if p_value >= ALPHA:
        return min(low, 0.0), max(high, 0.0)
    return low, high


def sign_flip_interval(diffs: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED,
                       confidence: float = 0.95) -> tuple[float, float]:
    """The shifts δ the sign-flip test of (diffs − δ) does not reject at 1 − `confidence`.

    One set of sign patterns serves every δ (all 2ⁿ up to `EXACT_UP_TO` rows, else `resamples`
    seeded ones): a pattern's sum over (d − δ) is S·d − δ·S·1, so each δ costs one pass over the
    patterns, and each bound is found by bisection from the mean (where p = 1). Differences of
    scores in [0, 1] lie in [−1, 1]: a bound the test never reaches there (too few rows for any
    shift to be rejected) is −1 or 1.
    """
    d = np.asarray(diffs, dtype=np.float64)
    n = d.size
    alpha = 1.0 - confidence
    if n <= EXACT_UP_TO:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        with_d, with_one, extra = signs @ d, signs.sum(axis=1).astype(np.float64), 0
    else:
        rng = np.random.default_rng(seed)
        with_d, with_one = np.empty(resamples), np.empty(resamples)
        chunk = max(1, _CHUNK_INDICES // n)
        for start in range(0, resamples, chunk):
            size = min(chunk, resamples - start)
            signs = rng.integers(0, 2, size=(size, n)) * 2 - 1
            with_d[start:start + size], with_one[start:start + size] = signs @ d, signs.sum(axis=1)
        extra = 1  # the observed pattern itself, as in sign_flip_p's (1 + hits) / (1 + resamples)
    total, scale = float(d.sum()), float(np.abs(d).sum()) + n

    def p_at(delta: float) -> float:
        observed = abs(total - n * delta)
        hits = np.count_nonzero(np.abs(with_d - delta * with_one) >= observed - 1e-12 * scale)
        return (extra + int(hits)) / (extra + with_d.size)

    mean = total / n

    def bound(far: float) -> float:
        if p_at(far) >= alpha:
            return far
        inside, outside = mean, far
        for _ in range(60):
            middle = (inside + outside) / 2
            inside, outside = (middle, outside) if p_at(middle) >= alpha else (inside, middle)
        return round(inside, 9) + 0.0  # no −0.000 from a bound a rounding error below 0

    return bound(min(-1.0, float(d.min()))), bound(max(1.0, float(d.max())))


EXACT_UP_TO = 16
"""Differing rows up to which the sign-flip test enumerates all 2ⁿ sign patterns (65,536 at 16)."""


def sign_flip_p(diffs: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """Two-sided paired permutation test of "no difference": under the null each row's difference
    is as likely positive as negative, so p is the share of sign patterns whose mean is at least as
    far from 0 as the observed one. Rows with no difference cannot change a sum and are left out.
    Exact (every pattern) up to `EXACT_UP_TO` rows that differ; beyond, a seeded Monte Carlo
    estimate (1 + hits) / (1 + resamples). 1.0 when the mean difference is 0.

    Over pass/fail scores (differences −1, 0, 1) it is McNemar's exact test.
    """
    d = np.asarray(diffs, dtype=np.float64)
    d = d[d != 0]  # a zero difference is the same under either sign: it cannot change a sum
    observed = abs(float(d.sum()))
    if observed == 0.0:
        return 1.0
    n = d.size
    tolerance = 1e-9 * float(np.abs(d).sum())  # sums in another order differ in the last bits
    if n <= EXACT_UP_TO:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        return float(np.mean(np.abs(signs @ d) >= observed - tolerance))
    rng = np.random.default_rng(seed)
    hits, chunk = 0, max(1, _CHUNK_INDICES // n)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        signs = rng.integers(0, 2, size=(size, n)) * 2 - 1
        hits += int(np.count_nonzero(np.abs(signs @ d) >= observed - tolerance))
    return min(1.0, (1 + hits) / (1 + resamples))


def paired_comparison(
    model: Sequence[float], base: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED,
) -> PairedDifference | None:
    """The paired difference of scores, with the p-value of the test that fits them.

    Scores that are all 0 or 1 are pass/fail results, and get McNemar's exact test on the
    discordant rows (the same p as the accuracy table's); other scores get the paired permutation
    test's. The interval inverts the sign-flip test either way (`sign_flip_interval`).
    """
    result = paired_bootstrap(model, base, resamples=resamples, seed=seed)
    if result is None:
        return None
    if all(v in (0.0, 1.0) for v in (*model, *base)):
        wins, losses = stats.paired_counts([v == 1.0 for v in model], [v == 1.0 for v in base])
        p = stats.mcnemar_exact(wins, losses)
        return PairedDifference(result.diff, *_covering_zero_unless(p, result.low, result.high), p, result.n,
                                MCNEMAR)
    return result


def mcnemar_pass(model_pass: Sequence[bool], base_pass: Sequence[bool]) -> tuple[int, int, float]:
    """(rows only the model passed, rows only the base passed, McNemar's exact two-sided p)."""
    wins, losses = stats.paired_counts(list(model_pass), list(base_pass))
    return wins, losses, stats.mcnemar_exact(wins, losses)


def _check(confidence: float, resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, not {confidence!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples!r}")
