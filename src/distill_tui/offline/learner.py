"""A small, deterministic text classifier: multinomial naive Bayes over words and word pairs.

Every offline model is one of these. Its answers, and so every accuracy the app shows against the
offline provider, come from what it learned from data; nothing is configured per model.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Mapping, Sequence

# Word pairs are only formed inside a segment: punctuation and cell separators end one, so a pair
# never joins the last word of one column to the first word of the next.
_SEGMENT_RE = re.compile(r"[.,;:!?|\"()\[\]{}<>/\n\r\t]+")
_WORD_RE = re.compile(r"\w+(?:['’-]\w+)*")


def features(text: str) -> set[str]:
    """The features of a text: its lower-cased words and adjacent word pairs, each counted once."""
    found: set[str] = set()
    for segment in _SEGMENT_RE.split(text.lower()):
        words = _WORD_RE.findall(segment)
        found.update(words)
        found.update(f"{a} {b}" for a, b in zip(words, words[1:]))
    return found


class NaiveBayes:
    """Multinomial naive Bayes over binary word and word-pair features, with Dirichlet smoothing.

    A feature's probability under a label is pulled towards its frequency over all labels
    (Dirichlet smoothing, weight `mu`) rather than towards a uniform one (Laplace): text that
    every document shares, such as a prompt's fixed wording, then scores the same under every
    label instead of favouring the labels with the least data.

    Features the model never saw are ignored. Learning is incremental: a model can keep learning
    after it has answered, which is how fine-tuning works here.

    Args:
        mu: the weight of the background frequencies in the smoothing, in feature counts.
    """

    def __init__(self, mu: float = 200.0) -> None:
        self.mu = mu
        self._index: dict[str, dict[str, float]] = {}  # feature -> label -> weight
        self._feature_mass: dict[str, float] = {}  # feature -> weight over all labels
        self._docs: dict[str, float] = {}  # label -> weighted number of documents
        self._mass: dict[str, float] = {}  # label -> total feature weight
        self._total_docs = 0.0
        self._total_mass = 0.0

    @property
    def labels(self) -> list[str]:
        """The labels the model knows, sorted."""
        return sorted(self._docs)

    def knows(self, label: str) -> bool:
        return label in self._docs

    @property
    def vocabulary_size(self) -> int:
        return len(self._index)

    def copy(self) -> "NaiveBayes":
        """An independent copy that can keep learning without changing this one."""
        clone = NaiveBayes(self.mu)
        clone._index = {f: dict(per_label) for f, per_label in self._index.items()}
        clone._feature_mass = dict(self._feature_mass)
        clone._docs = dict(self._docs)
        clone._mass = dict(self._mass)
        clone._total_docs = self._total_docs
        clone._total_mass = self._total_mass
        return clone

    def to_state(self) -> dict:
        """Everything the model learned, as plain JSON-able data."""
        return {"mu": self.mu, "index": self._index, "docs": self._docs, "mass": self._mass}

    @classmethod
    def from_state(cls, state: dict) -> "NaiveBayes":
        """The model `to_state` described."""
        model = cls(state["mu"])
        model._index = state["index"]
        model._docs = state["docs"]
        model._mass = state["mass"]
        model._feature_mass = {f: sum(per_label.values()) for f, per_label in model._index.items()}
        model._total_docs = sum(model._docs.values())
        model._total_mass = sum(model._mass.values())
        return model

    def learn(self, text: str, label: str, weight: float = 1.0) -> None:
        """Learn one labelled text."""
        self.learn_features(features(text), label, weight)

    def learn_features(self, feats: Iterable[str], label: str, weight: float = 1.0) -> None:
        """Learn one labelled document given as its features (see `features`)."""
        index = self._index
        feature_mass = self._feature_mass
        n = 0
        for feat in feats:
            per_label = index.get(feat)
            if per_label is None:
                index[feat] = {label: weight}
                feature_mass[feat] = weight
            else:
                per_label[label] = per_label.get(label, 0.0) + weight
                feature_mass[feat] += weight
            n += 1
        self._docs[label] = self._docs.get(label, 0.0) + weight
        self._mass[label] = self._mass.get(label, 0.0) + weight * n
        self._total_docs += weight
        self._total_mass += weight * n

    def scores(self, text: str | set[str], labels: Sequence[str] | None = None) -> dict[str, float]:
        """Log joint probability of the text with each label (up to a shared constant).

        Args:
            text: the text, or its features.
            labels: restrict to these labels (those the model does not know are left out);
                None for every label the model knows.
        """
        feats = features(text) if isinstance(text, str) else text
        candidates = [l for l in (labels if labels is not None else self.labels) if l in self._docs]
        if not candidates:
            return {}
        # log P(f|c) = log(n_cf + mu*p_f) - log(M_c + mu), with p_f = N_f / M. Summed over the
        # known features, the log(mu*p_f) parts are the same for every label and are left out, so
        # only the (sparse) features a label has seen need visiting.
        mu_per_mass = self.mu / self._total_mass
        known = 0
        bonus = dict.fromkeys(candidates, 0.0)
        index = self._index
        feature_mass = self._feature_mass
        log = math.log
        for feat in sorted(feats):  # a fixed order: float sums, and so near-ties, repeat exactly
            per_label = index.get(feat)
            if per_label is None:
                continue
            known += 1
            background = mu_per_mass * feature_mass[feat]
            for label, count in per_label.items():
                if label in bonus:
                    bonus[label] += log(1.0 + count / background)
        n_labels = len(self._docs)
        out = {}
        for label in candidates:
            prior = log((self._docs[label] + 1.0) / (self._total_docs + n_labels))
            out[label] = prior - known * log(self._mass[label] + self.mu) + bonus[label]
        return out

    def predict(self, text: str | set[str], labels: Sequence[str] | None = None) -> str | None:
        """The most probable label (ties go to the earliest label in `labels`, or alphabetical)."""
        scored = self.scores(text, labels)
        best = None
        for label, score in scored.items():
            if best is None or score > scored[best]:
                best = label
        return best

    def posterior(
        self, text: str | set[str], labels: Sequence[str] | None = None, temperature: float | None = None
    ) -> dict[str, float]:
        """Probabilities over the labels.

        Naive Bayes treats every feature as independent evidence, so its raw posteriors are
        nearly always 0 or 1. Dividing the log scores by a temperature (by default one tenth of
        the number of known features) gives probabilities that behave like a real model's, which
        is what the training losses are computed from.
        """
        feats = features(text) if isinstance(text, str) else text
        scored = self.scores(feats, labels)
        if not scored:
            return {}
        if temperature is None:
            known = sum(1 for f in feats if f in self._index)
            temperature = max(1.0, known / 10.0)
        top = max(scored.values())
        weights = {label: math.exp((s - top) / temperature) for label, s in scored.items()}
        total = sum(weights.values())
        return {label: w / total for label, w in weights.items()}


def train(examples: Iterable[tuple[str, str]], mu: float = 200.0) -> NaiveBayes:
    """A model trained on (text, label) pairs."""
    model = NaiveBayes(mu)
    for text, label in examples:
        model.learn(text, label)
    return model


def row_text(row: Mapping[str, str], columns: Sequence[str], missing: str) -> str:
    """The text a model learns from a data row: its cells joined with separators.

    Empty cells read as `missing` (what a prompt shows for them), and whole numbers written as
    floats ("25.0") read as integers, as prompts render them.
    """
    cells = []
    for column in columns:
        value = (row.get(column) or "").strip()
        if not value:
            value = missing
        elif value.endswith(".0") and value[:-2].isdigit():
            value = value[:-2]
        cells.append(value)
    return " | ".join(cells)
