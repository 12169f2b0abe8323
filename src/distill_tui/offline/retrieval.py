"""Free-text answers by retrieval: the answer of the most similar known question (TF-IDF cosine).

A `Memory` holds (question features, answer) items. Answering a text means finding the item whose
question is nearest by cosine similarity over TF-IDF weighted word and word-pair features, and
saying its answer. Learning adds items (or strengthens an item seen before), so a memory trained on
more (or better matched) questions answers better: what the teacher, the base student and a
fine-tune differ in.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterable

from distill_tui.offline.learner import features

IDF_POWER = 1.5  # idf weights raised further: a rare word (the subject asked about) outweighs the phrasing
_TOKEN_RE = re.compile(r"\w+(?:['’-]\w+)*")


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style token F1 of two texts (lower-cased words), in [0, 1]."""
    a = _TOKEN_RE.findall(answer.lower())
    b = _TOKEN_RE.findall(reference.lower())
    if not a or not b:
        return float(a == b)
    common = sum((Counter(a) & Counter(b)).values())
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)


class Memory:
    """Known questions and their answers, searched by TF-IDF cosine similarity.

    An item's weight grows each time it is learned again (epochs, the learning-rate multiplier);
    among near-equal matches the heavier item wins, so fine-tuned answers take precedence over
    what a base model knew for the same question.
    """

    def __init__(self) -> None:
        self._items: list[tuple[frozenset[str], str]] = []
        self._weights: list[float] = []
        self._where: dict[tuple[frozenset[str], str], int] = {}
        self._postings: dict[str, list[int]] = {}
        self._norms: list[float] | None = None  # cached for the current document frequencies

    def __len__(self) -> int:
        return len(self._items)

    def learn(self, text: str | Iterable[str], answer: str, weight: float = 1.0) -> None:
        """Remember that `text` (or its features) is answered by `answer`."""
        feats = frozenset(features(text) if isinstance(text, str) else text)
        if not feats or not answer:
            return
        key = (feats, answer)
        index = self._where.get(key)
        if index is not None:
            self._weights[index] += weight
            return
        index = len(self._items)
        self._where[key] = index
        self._items.append(key)
        self._weights.append(weight)
        for feat in feats:
            self._postings.setdefault(feat, []).append(index)
        self._norms = None

    def _idf(self, feat: str) -> float:
        postings = self._postings.get(feat)
        return math.log((len(self._items) + 1) / (len(postings) + 0.5)) if postings else 0.0

    def _item_norms(self) -> list[float]:
        if self._norms is None:
            idf = {f: self._idf(f) for f in self._postings}
            self._norms = [math.sqrt(sum(idf[f] ** (2 * IDF_POWER) for f in feats)) or 1.0 for feats, _ in self._items]
        return self._norms

    def nearest(self, text: str | Iterable[str]) -> tuple[str, float] | None:
        """The answer of the nearest item and its cosine similarity (None when nothing matches)."""
        feats = features(text) if isinstance(text, str) else set(text)
        if not self._items:
            return None
        norms = self._item_norms()
        scores: dict[int, float] = {}
        query_norm = 0.0
        for feat in sorted(feats):  # a fixed order: float sums repeat exactly
            postings = self._postings.get(feat)
            if not postings:
                continue
            weight = self._idf(feat) ** (2 * IDF_POWER)
            query_norm += weight
            for index in postings:
                scores[index] = scores.get(index, 0.0) + weight
        if not scores:
            return None
        query_norm = math.sqrt(query_norm) or 1.0
        best, best_score = -1, -1.0
        for index, dot in scores.items():
            cosine = dot / (query_norm * norms[index])
            # Weight breaks near-ties in favour of what was learned more (w/(w+1): 0.5 at 1, 0.75 at 3).
            score = cosine * (0.9 + 0.1 * self._weights[index] / (self._weights[index] + 1.0))
            if score > best_score or (score == best_score and index < best):
                best, best_score = index, score
        return self._items[best][1], dot_cosine(scores[best], query_norm, norms[best])

    def copy(self) -> "Memory":
        clone = Memory()
        clone._items = list(self._items)
        clone._weights = list(self._weights)
        clone._where = dict(self._where)
        clone._postings = {f: list(p) for f, p in self._postings.items()}
        return clone

    def to_state(self) -> dict:
        return {"items": [[sorted(feats), answer, weight]
                          for (feats, answer), weight in zip(self._items, self._weights)]}

    @classmethod
    def from_state(cls, state: dict) -> "Memory":
        memory = cls()
        for feats, answer, weight in state.get("items", ()):
            memory.learn(feats, answer, weight)
        return memory


def dot_cosine(dot: float, query_norm: float, item_norm: float) -> float:
    return dot / (query_norm * item_norm)
