"""Near-duplicate texts: MinHash signatures and LSH (datasketch), checked by exact Jaccard.

A text becomes a set of word shingles (lower-cased words, punctuation dropped; n-grams of `ngram`
words). Two texts are near-duplicates when the Jaccard similarity of their shingle sets reaches
`threshold`. LSH proposes candidate pairs in about linear time; every candidate is then checked
with the exact Jaccard of the two sets, so a reported pair really is that similar. LSH looks for
candidates from 0.2 below the threshold, so it misses a pair at the threshold with a probability
under 2 % (fixed by the seed: the same texts give the same groups).

Prompts rendered from one template share the template's words, which would make every pair look
alike. With `common` set (and at least `MIN_TEXTS_FOR_COMMON` texts), two texts are near-duplicates
when both their whole texts (without the shingles in more than `TEMPLATE_SHARE` of the texts) and
their content (also without those in more than `common` of them and in more than `MIN_COMMON_COUNT`)
reach `threshold`. The content tells "Which varieties is Pomerol known for?" from "…Tavel…" (one
content word each, a different one; as whole texts they share 5 of 7 words), the whole text tells
it from "Where is Pomerol?" (the same content word in two templates). A text made only of common
words is compared as a whole.

Defaults follow distilabel's MinHashDedup (word unigrams, 128 permutations), with a lower threshold
(0.7 rather than 0.9): one word changed in a ten-word prompt is a Jaccard of 9/11 = 0.82.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

DEFAULT_THRESHOLD = 0.7
DEFAULT_NGRAM = 1
NUM_PERM = 128
SEED = 1
DEFAULT_COMMON = 0.05
MIN_COMMON_COUNT = 5
TEMPLATE_SHARE = 0.5
LSH_MARGIN = 0.2
MIN_TEXTS_FOR_COMMON = 10
_WORD = re.compile(r"\w+")


def shingles(text: str, ngram: int = DEFAULT_NGRAM) -> frozenset[str]:
    """The set of word n-grams of `text`, case and punctuation ignored (NFKC-normalised)."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if ngram <= 1 or len(words) <= ngram:
        return frozenset([" ".join(words)] if ngram > 1 and words else words)
    return frozenset(" ".join(words[i:i + ngram]) for i in range(len(words) - ngram + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|; 0.0 when both are empty (nothing to compare is not a duplicate)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _check(threshold: float, ngram: int) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be above 0 and at most 1, not {threshold!r}")
    if ngram < 1:
        raise ValueError(f"ngram must be at least 1, not {ngram!r}")


def _shingle_sets(texts: Sequence[str], ngram: int, common: float | None
                  ) -> tuple[list[frozenset[str]], list[frozenset[str]]]:
    """(content shingles, whole-text shingles) of each text: the whole text without the shingles in
    more than `TEMPLATE_SHARE` of the texts, the content also without those in more than `common` of
    them (and in more than `MIN_COMMON_COUNT`); a text whose every word is common is its whole text."""
    sets = [shingles(t or "", ngram) for t in texts]
    if common is None or len(sets) < MIN_TEXTS_FOR_COMMON:
        return sets, sets
    df = Counter(s for one in sets for s in one)
    template = {s for s, k in df.items() if k > TEMPLATE_SHARE * len(sets)}
    frequent = {s for s, k in df.items() if k > max(common * len(sets), MIN_COMMON_COUNT)}
    whole = [frozenset(one - template) for one in sets] if template else sets
    return [frozenset(one - frequent) or all_of for one, all_of in zip(sets, whole)], whole


def _alike(content: Sequence[frozenset[str]], whole: Sequence[frozenset[str]], i: int, j: int,
           threshold: float) -> float | None:
    """The content Jaccard of texts i and j when both it and the whole texts' reach `threshold`."""
    similarity = jaccard(content[i], content[j])
    if similarity < threshold or (whole[i] is not content[i] or whole[j] is not content[j]) \
            and jaccard(whole[i], whole[j]) < threshold:
        return None
    return similarity


class _Index:
    """MinHash signatures of shingle sets in an LSH index (datasketch imported only when used)."""

    def __init__(self, threshold: float) -> None:
        from datasketch import MinHashLSH

        # At its own threshold LSH finds a pair only about half the time (0.44 at 0.7 with 128
        # permutations); asked from LSH_MARGIN lower it finds a pair at the threshold with p >= 0.98,
        # and the extra candidates cost only an exact Jaccard each.
        self.lsh = MinHashLSH(threshold=max(0.1, threshold - LSH_MARGIN), num_perm=NUM_PERM)

    @staticmethod
    def signatures(sets: Sequence[frozenset[str]]) -> list:
        from datasketch import MinHash

        return MinHash.bulk([[s.encode("utf-8") for s in one] for one in sets], num_perm=NUM_PERM, seed=SEED)


def near_duplicate_groups(texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD, *,
                          ngram: int = DEFAULT_NGRAM, common: float | None = DEFAULT_COMMON) -> list[list[int]]:
    """Groups of near-duplicate texts.

    Args:
        texts: The texts; an empty one (or one with only common words) is in no group.
        threshold: The Jaccard similarity from which two texts are near-duplicates.
        ngram: Words per shingle (1 ignores word order; 2 or more tells reorderings apart).
        common: Ignore shingles in more than this share of the texts (template words); None keeps all.

    Returns:
        Groups of two or more indices into `texts` (a pair's groups merge transitively), each in
        ascending order, the groups ordered by their first index.
    """
    _check(threshold, ngram)
    sets, whole = _shingle_sets(texts, ngram, common)
    live = [i for i, s in enumerate(whole) if s]
    if len(live) < 2:
        return []
    index = _Index(threshold)
    signatures = index.signatures([sets[i] for i in live])
    parent = {i: i for i in live}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, sig in zip(live, signatures):
        for j in index.lsh.query(sig):
            if _alike(sets, whole, i, j, threshold) is not None:
                a, b = root(i), root(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        index.lsh.insert(i, sig)
    members: dict[int, list[int]] = {}
    for i in live:
        members.setdefault(root(i), []).append(i)
    return sorted((g for g in members.values() if len(g) > 1), key=lambda g: g[0])


def drop_all_but_first(groups: Iterable[Sequence[int]]) -> list[int]:
    """Indices to drop so that one member (the first) of every group is kept."""
    return sorted(i for g in groups for i in g[1:])


@dataclass(frozen=True)
class CrossMatch:
    """A query text (an eval row) and its nearest near-duplicate in the corpus (a train row)."""

    query: int
    match: int
    similarity: float


def near_duplicates_across(queries: Sequence[str], corpus: Sequence[str], threshold: float = DEFAULT_THRESHOLD, *,
                           ngram: int = DEFAULT_NGRAM, common: float | None = DEFAULT_COMMON) -> list[CrossMatch]:
    """Queries that have a near-duplicate in the corpus (e.g. eval rows that nearly repeat a train row).

    Common shingles are counted over both lists together.

    Returns:
        One `CrossMatch` per query that has one, with its most similar corpus text (lowest index on
        a tie), in query order.
    """
    _check(threshold, ngram)
    sets, whole = _shingle_sets([*corpus, *queries], ngram, common)
    corpus_sets, query_sets = sets[:len(corpus)], sets[len(corpus):]
    live = [j for j, s in enumerate(whole[:len(corpus)]) if s]
    asked = [i for i, s in enumerate(whole[len(corpus):]) if s]
    if not live or not asked:
        return []
    index = _Index(threshold)
    for j, sig in zip(live, index.signatures([corpus_sets[j] for j in live])):
        index.lsh.insert(j, sig)
    found = []
    for i, sig in zip(asked, index.signatures([query_sets[i] for i in asked])):
        at = len(corpus) + i
        scored = [(similarity, -j) for j in index.lsh.query(sig)
                  if (similarity := _alike(sets, whole, at, j, threshold)) is not None]
        best = max(scored, default=None)
        if best is not None:
            found.append(CrossMatch(i, -best[1], best[0]))
    return found
