"""Reference graders over text: each takes an answer and a reference and returns a score in [0, 1].

Pure functions: no I/O, no state. A missing answer (None: no usable answer) scores 0.
"""

from __future__ import annotations

import re
import unicodedata

from distill_tui.core.common.normalise import normalise

__all__ = ["normalise", "exact", "contains", "regex", "fuzzy", "chrf", "bleu", "rouge_l"]

_WORD = re.compile(r"[^\W_]+")


def exact(answer: str | None, reference: str) -> float:
    """1.0 when the normalised texts are equal, else 0.0."""
    return float(answer is not None and normalise(answer) == normalise(reference))


def contains(answer: str | None, reference: str) -> float:
    """1.0 when the normalised reference appears in the normalised answer as whole words."""
    if answer is None:
        return 0.0
    needle = normalise(reference)
    return float(bool(needle) and f" {needle} " in f" {normalise(answer)} ")


def regex(answer: str | None, pattern: str) -> float:
    """1.0 when `pattern` is found in the answer (as written, not normalised)."""
    return float(answer is not None and re.search(pattern, answer) is not None)


def fuzzy(answer: str | None, reference: str) -> float:
    """rapidfuzz's ratio (1 - Indel distance / total length) of the normalised texts, in [0, 1]."""
    from rapidfuzz import fuzz

    if answer is None:
        return 0.0
    return _unit(fuzz.ratio(normalise(answer), normalise(reference)) / 100.0)


def chrf(answer: str | None, reference: str) -> float:
    """sacrebleu's sentence chrF (character 6-grams, beta 2, effective order) / 100."""
    import sacrebleu

    if answer is None:
        return 0.0
    return _unit(sacrebleu.sentence_chrf(answer, [reference]).score / 100.0)


def bleu(answer: str | None, reference: str) -> float:
    """sacrebleu's sentence BLEU (13a tokens, exp smoothing, effective order) / 100."""
    import sacrebleu

    if answer is None:
        return 0.0
    return _unit(sacrebleu.sentence_bleu(answer, [reference]).score / 100.0)


def rouge_l(answer: str | None, reference: str) -> float:
    """ROUGE-L F1: the longest common word subsequence (rapidfuzz's LCSseq) over both lengths.

    Words are runs of letters and digits after case folding, as rouge-score's default tokenizer
    (no stemming) for ASCII text, but letters of every script count: rouge-score drops non-ASCII
    words, so it scores French or Czech text 0.
    """
    from rapidfuzz.distance import LCSseq

    if answer is None:
        return 0.0
    hyp = _WORD.findall(unicodedata.normalize("NFKC", answer).casefold())
    ref = _WORD.findall(unicodedata.normalize("NFKC", reference).casefold())
    if not hyp or not ref:
        return 0.0
    lcs = LCSseq.similarity(hyp, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _unit(value: float) -> float:
    # sacrebleu scores a perfect match 100.00000000000004: clamp float noise into [0, 1].
    return min(1.0, max(0.0, value))
