"""What one offline model knows: a label classifier, per-field classifiers, a memory of answers, a router.

- `labels` (naive Bayes) answers classification: an enum answer, or plain text that names a label.
- `fields` (one naive Bayes per JSON field) answers extraction: a strict json_schema's fields.
- `memory` (TF-IDF retrieval) answers free text: the answer of the nearest known question.
- `router` (naive Bayes over "label" and "text") decides, for a plain-text request, whether the
  prompt looks like the classification rows or the free-text questions it has learned from.

Everything is learned from data (knowledge files, fine-tuning files); nothing is configured per model.
"""

from __future__ import annotations

import json
from typing import Any, Callable, TypeVar, Union

from distill_tui.offline.learner import NaiveBayes
from distill_tui.offline.retrieval import Memory

LABEL, TEXT = "label", "text"
T = TypeVar("T")
Lazy = Union[T, Callable[[], T]]
FIELD_SMOOTHING = 200.0
_LABEL_WORDS = 6  # the longest a typical (median) label is, in words: "Bordeaux-style Red Blend" is 3


class Mind:
    """The learners of one model (see the module's docstring)."""

    def __init__(self, labels: NaiveBayes, fields: Lazy[dict[str, NaiveBayes]] | None = None,
                 memory: Lazy[Memory] | None = None, router: Lazy[NaiveBayes | None] = None) -> None:
        # A part may be given as a function that builds it: a base model builds its extraction and
        # free-text skills (seconds) only when a request first needs them.
        self.labels = labels
        self._fields = fields if fields is not None else {}
        self._memory = memory if memory is not None else Memory()
        self._router = router

    @property
    def fields(self) -> dict[str, NaiveBayes]:
        if callable(self._fields):
            self._fields = self._fields()
        return self._fields

    @property
    def memory(self) -> Memory:
        if callable(self._memory):
            self._memory = self._memory()
        return self._memory

    @property
    def router(self) -> NaiveBayes | None:
        if callable(self._router):
            self._router = self._router()
        return self._router

    @router.setter
    def router(self, value: NaiveBayes | None) -> None:
        self._router = value

    # --- answering --------------------------------------------------------------------------------
    def knows(self, label: str) -> bool:
        return self.labels.knows(label)

    def predict(self, text: str | set[str], labels: list[str] | None = None) -> str | None:
        """The classifier's label (see `NaiveBayes.predict`)."""
        return self.labels.predict(text, labels)

    def wants_text(self, text: str | set[str]) -> bool:
        """Whether a plain-text prompt is a free-text question rather than a classification row."""
        if self.router is None or not len(self.memory):
            return False
        return self.router.predict(text, [LABEL, TEXT]) == TEXT

    def answer_text(self, text: str) -> str:
        """A plain-text answer: the nearest known answer for a question, else the label."""
        if self.wants_text(text):
            found = self.memory.nearest(text)
            if found is not None:
                return found[0]
        return self.labels.predict(text) or ""

    def field(self, name: str, text: str | set[str], options: list[str] | None = None) -> str | None:
        """The value of one field (restricted to `options` when given), None when it never learned it."""
        model = self.fields.get(name)
        if model is None:
            return None
        known = [o for o in options if model.knows(o)] if options is not None else None
        if known == []:
            return None
        return model.predict(text, known)

    # --- learning ---------------------------------------------------------------------------------
    def learn(self, feats: set[str], content: str, weight: float = 1.0, plain: str = LABEL) -> str:
        """Learn one fine-tuning example (the user text's features and the assistant's content).

        Args:
            plain: what a plain-text answer is, as its training file shows (see `plain_kind`):
                LABEL (answers repeat: a class) or TEXT (free text).

        Returns the kind of answer it taught: "fields" (a JSON object of several fields), "label"
        (a JSON object of one field, or plain text naming a label) or "text" (free text).
        """
        kind, value = example_kind(content, plain)
        if kind == "fields":
            for name, item in value.items():
                model = self.fields.setdefault(name, NaiveBayes(FIELD_SMOOTHING))
                model.learn_features(feats, item, weight)
        elif kind == "label":
            self.labels.learn_features(feats, value, weight)
        else:
            self.memory.learn(feats, value, weight)
        if kind != "fields":
            self.router = self.router or NaiveBayes()
            self.router.learn_features(feats, LABEL if kind == "label" else TEXT, weight)
        return kind

    def copy(self) -> "Mind":
        return Mind(self.labels.copy(), {k: v.copy() for k, v in self.fields.items()}, self.memory.copy(),
                    self.router.copy() if self.router else None)

    def to_state(self) -> dict:
        return {"kind": "mind", "labels": self.labels.to_state(),
                "fields": {k: v.to_state() for k, v in self.fields.items()},
                "memory": self.memory.to_state(), "router": self.router.to_state() if self.router else None}

    @classmethod
    def from_state(cls, state: dict) -> "Mind":
        """The mind `to_state` described; a bare classifier's state (saved before minds) reads too."""
        if state.get("kind") != "mind":
            return cls(NaiveBayes.from_state(state))
        return cls(NaiveBayes.from_state(state["labels"]),
                   {k: NaiveBayes.from_state(v) for k, v in state.get("fields", {}).items()},
                   Memory.from_state(state.get("memory") or {}),
                   NaiveBayes.from_state(state["router"]) if state.get("router") else None)


def field_value(value: Any) -> str:
    """A JSON field's value as the label a field classifier learns."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def flatten(value: dict, prefix: str = "") -> dict[str, str]:
    """The leaf fields of a JSON object by path ("wine.grape"), each as the label its classifier learns."""
    out: dict[str, str] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, dict) and item:
            out.update(flatten(item, name))
        else:
            out[name] = field_value(item)
    return out


def plain_kind(answers: list[str]) -> str:
    """Whether the plain-text answers of a training file are labels (LABEL: short, and they repeat, as
    classes do: at most half distinct) or free text (TEXT: sentences, or mostly different)."""
    answers = [a.strip() for a in answers]
    if not answers:
        return LABEL
    words = sorted(len(a.split()) for a in answers)
    short = words[len(words) // 2] <= _LABEL_WORDS
    return LABEL if short and len(set(answers)) <= len(answers) / 2 else TEXT


def example_kind(content: str, plain: str = LABEL) -> tuple[str, Any]:
    """What an assistant message teaches: ("fields", {name: value}), ("label", str) or ("text", str)."""
    text = content.strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and (len(value) > 1 or any(isinstance(v, dict) for v in value.values())):
        return "fields", flatten(value)
    if isinstance(value, dict) and value:
        return "label", field_value(next(iter(value.values()))).strip()
    return (LABEL if plain == LABEL else TEXT), text
