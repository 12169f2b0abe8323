"""The base models' skills beyond classification, learned from the bundled task knowledge.

- Extraction: `knowledge_extraction.csv` (a review, and the fields a reader takes from it). One
  naive Bayes per field column learns the field's value from the review's words.
- Free text: `knowledge_generation.csv` (questions and answers) fills a retrieval memory.

The teacher learns from every row, the base student from a small seeded sample, so it knows less
(fewer producers, places and price words; fewer questions) and answers worse: measured by
`tests/test_offline_tasks.py`, not configured.
"""

from __future__ import annotations

import csv
import random
import threading
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

from distill_tui.offline.learner import NaiveBayes, features
from distill_tui.offline.mind import FIELD_SMOOTHING, LABEL, TEXT, Mind
from distill_tui.offline.retrieval import Memory

EXTRACTION_INPUT = "review"
GENERATION_INPUT, GENERATION_ANSWER = "question", "answer"
STUDENT_EXTRACTION_ROWS = 60  # of 8,000
STUDENT_GENERATION_ROWS = 60  # of 692
ROUTER_LABEL_ROWS = 2000  # classification rows the router sees as "label" prompts
_SKIP = {"id", "topic"}

_lock = threading.RLock()  # builds nest (fields -> rows)
_cache: dict[tuple, object] = {}


def _cached(key: tuple, build: Callable[[], object]) -> object:
    with _lock:  # building takes about a second; several threads asking at once wait for one build
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


def _asset(name: str) -> Path:
    return Path(str(resources.files("distill_tui") / "assets" / name))


def _rows(name: str) -> list[dict[str, str]]:
    with open(_asset(name), encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _extraction() -> tuple[list[set[str]], list[dict[str, str]]]:
    rows = _rows("knowledge_extraction.csv")
    return [features(r[EXTRACTION_INPUT]) for r in rows], rows


def _disk_cached_fields(build: Callable[[], dict[str, NaiveBayes]]) -> dict[str, NaiveBayes]:
    """The teacher's field classifiers, kept on disk keyed by the data and the learners' source
    (building them takes seconds; reading them back a fraction of that), as `Knowledge` keeps its
    classifier."""
    import hashlib
    import json
    import os

    from distill_tui import locations
    from distill_tui.offline import learner, mind

    digest = hashlib.sha256(_asset("knowledge_extraction.csv").read_bytes())
    for module in (learner, mind):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(repr((FIELD_SMOOTHING, EXTRACTION_INPUT, sorted(_SKIP))).encode())
    cached = locations.cache_dir() / "offline-models" / f"fields-{digest.hexdigest()[:32]}.json"
    try:
        return {k: NaiveBayes.from_state(v) for k, v in json.loads(cached.read_text("utf-8")).items()}
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    models = build()
    try:
        locations.make_private_dir(cached.parent)
        partial = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_text(json.dumps({k: v.to_state() for k, v in models.items()}, ensure_ascii=False,
                                      separators=(",", ":")), "utf-8")
        os.replace(partial, cached)
    except OSError:  # a read-only home only costs the next start some time
        pass
    return models


def _fields(chosen: Sequence[int] | None) -> dict[str, NaiveBayes]:
    feats, rows = _cached(("extraction-rows",), _extraction)  # type: ignore[misc]
    indices = range(len(rows)) if chosen is None else chosen
    models: dict[str, NaiveBayes] = {}
    for name in rows[0]:
        if name in _SKIP or name == EXTRACTION_INPUT:
            continue
        model = models[name] = NaiveBayes(FIELD_SMOOTHING)
        for i in indices:
            if rows[i][name].strip():
                model.learn_features(feats[i], rows[i][name].strip())
    return models


def _memory(chosen: Sequence[int] | None) -> Memory:
    rows = _cached(("generation-rows",), lambda: _rows("knowledge_generation.csv"))
    memory = Memory()
    for i in range(len(rows)) if chosen is None else chosen:  # type: ignore[arg-type]
        memory.learn(rows[i][GENERATION_INPUT], rows[i][GENERATION_ANSWER])  # type: ignore[index]
    return memory


def _sample(total: int, size: int, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(total), min(size, total)))


def router(key: tuple, label_texts: Callable[[], list[str]]) -> NaiveBayes:
    """Tells classification rows ("label") from free-text questions ("text"), shared by the base models."""

    def build() -> NaiveBayes:
        model = NaiveBayes()
        texts = label_texts()
        for i in _sample(len(texts), ROUTER_LABEL_ROWS, 0):
            model.learn(texts[i], LABEL)
        for row in _cached(("generation-rows",), lambda: _rows("knowledge_generation.csv")):  # type: ignore[union-attr]
            model.learn(row[GENERATION_INPUT], TEXT)
        return model

    return _cached(("router",) + key, build)  # type: ignore[return-value]


def teacher_mind(labels: NaiveBayes, route: Callable[[], NaiveBayes]) -> Mind:
    """A mind with every extraction and free-text row of the task knowledge (built when first used)."""
    return Mind(labels, lambda: _cached(("fields", None),  # type: ignore[arg-type]
                                        lambda: _disk_cached_fields(lambda: _fields(None))),
                lambda: _cached(("memory", None), lambda: _memory(None)), route)  # type: ignore[arg-type]


def student_mind(labels: NaiveBayes, route: Callable[[], NaiveBayes], seed: int) -> Mind:
    """A mind with a small seeded sample of the task knowledge (built when first used)."""

    def fields() -> dict[str, NaiveBayes]:
        total = len(_cached(("extraction-rows",), _extraction)[1])  # type: ignore[index]
        return _fields(_sample(total, STUDENT_EXTRACTION_ROWS, seed))

    def memory() -> Memory:
        total = len(_cached(("generation-rows",), lambda: _rows("knowledge_generation.csv")))  # type: ignore[arg-type]
        return _memory(_sample(total, STUDENT_GENERATION_ROWS, seed))

    return Mind(labels, lambda: _cached(("fields", seed), fields),  # type: ignore[arg-type]
                lambda: _cached(("memory", seed), memory), route)  # type: ignore[arg-type]
