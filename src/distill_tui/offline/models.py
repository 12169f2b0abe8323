"""The offline models: a teacher and a base student learned from a knowledge file, plus fine-tunes.

The teacher learns from every row of the knowledge file, the base student from a small seeded
sample of it, so the student knows less and answers worse: measured, not configured. Base models
are trained lazily on first use and cached per process (several servers share them).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import random
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

from distill_tui.core.task.prompts import MISSING
from distill_tui.offline import learner as learner_module
from distill_tui.offline import skills
from distill_tui.offline.common import ORGANIZATION, now
from distill_tui.offline.judge import JUDGE, Judge
from distill_tui.offline.learner import NaiveBayes, features, row_text
from distill_tui.offline.mind import Mind
from distill_tui.offline.state import StateStore

TEACHER = "offline-teacher"
STUDENT = "offline-student"
LEGACY = "offline-legacy"
REASONER = "offline-reasoner"  # a reasoning teacher: thinks in reasoning tokens before it answers, like o3
LEGACY_SHUTDOWN = "2027-01-14"
DEFAULT_LABEL = "variety"
STUDENT_FRACTION = 0.004  # of the knowledge rows (80 of 20,000); tuned with assets/measure_offline_models.py
SMOOTHING = 1000.0
_CREATED = 1_767_225_600  # 2026-01-01: a fixed "created" for the built-in models
CONTEXT_WINDOW = 128_000  # tokens of prompt + max_completion_tokens, like gpt-4o (data/models.toml says the same)
MAX_OUTPUT_TOKENS = 16_384
REASONER_CONTEXT_WINDOW = 200_000  # like o3 (data/models.toml says the same)
REASONER_MAX_OUTPUT_TOKENS = 100_000


def bundled_knowledge() -> Path:
    """The knowledge file shipped with the package."""
    return Path(str(resources.files("distill_tui") / "assets" / "knowledge.csv"))


@dataclass
class ModelEntry:
    """A model the server can answer with; its learner is built on first use."""

    id: str
    owned_by: str
    created: int
    shutdown_date: str | None = None
    listed: bool = True
    factory: Callable[[], Mind] | None = None
    learner: Mind | None = None
    context_window: int = CONTEXT_WINDOW
    max_output_tokens: int = MAX_OUTPUT_TOKENS
    reasoning: bool = False  # takes reasoning_effort, refuses temperature/top_p but the default and max_tokens
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self) -> Mind:
        with self._lock:
            if self.learner is None:
                assert self.factory is not None
                self.learner = self.factory()
                self.factory = None
            return self.learner

    def public(self) -> dict:
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": self.owned_by,
                "shutdown_date": self.shutdown_date}


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _plain_text_table(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".tsv")


def _read_rows(path: Path) -> list[dict[str, str]]:
    """Every row as strings: UTF-8 CSV/TSV read directly (fast), anything else (JSONL, Parquet,
    other encodings) through the app's own loader."""
    if _plain_text_table(path):
        try:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            with _open_text(path) as handle:
                return list(csv.DictReader(handle, delimiter=delimiter))
        except UnicodeDecodeError:
            pass
    return _rows_from_frame(path)


def _read_header(path: Path) -> list[str]:
    if _plain_text_table(path):
        try:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            with _open_text(path) as handle:
                reader = csv.reader(handle, delimiter=delimiter)
                header = next(reader, [])
                if next(reader, None) is None:
                    raise KnowledgeError(f"{path}: the knowledge file has no rows")
                return header
        except UnicodeDecodeError:
            pass
    rows = _rows_from_frame(path)
    return list(rows[0]) if rows else []


def _rows_from_frame(path: Path) -> list[dict[str, str]]:
    from distill_tui.core.common.errors import DataError
    from distill_tui.core.task import prompts
    from distill_tui.core.task.dataset import ROW, load_table

    try:
        frame = load_table(path).frame.drop(columns=[ROW])
    except DataError as exc:
        raise KnowledgeError(str(exc)) from None
    text = {c: [("" if prompts.format_value(v) == prompts.MISSING else prompts.format_value(v)) for v in frame[c].tolist()]
            for c in frame.columns}
    return [dict(zip(text, values)) for values in zip(*text.values())]


_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}
_cache: dict[tuple, object] = {}


def _cached(key: tuple, build: Callable[[], object]) -> object:
    """Build once per process per key, even when several threads ask at the same time."""
    with _cache_lock:
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


class KnowledgeError(ValueError):
    """The knowledge file cannot be read or lacks the label column."""


def cache_dir() -> Path:
    """Where trained base models are kept between runs (see `locations.cache_dir`)."""
    from distill_tui import locations

    return locations.cache_dir() / "offline-models"


class Knowledge:
    """The labelled rows base models learn from, read once per process.

    The teacher, trained on every row, is also cached on disk keyed by the file's content, the
    label, the columns and the learner's source, so later runs start in milliseconds.
    """

    def __init__(self, path: Path | None, label: str | None, text_columns: list[str] | None) -> None:
        self.path = Path(path) if path else bundled_knowledge()
        self.label = label or DEFAULT_LABEL
        self.text_columns = list(text_columns) if text_columns else None
        try:
            stat = self.path.stat()
            header = _read_header(self.path)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise KnowledgeError(f"cannot read the knowledge file {self.path}: {exc}") from None
        if self.label not in header:
            raise KnowledgeError(f"{self.path}: no column '{self.label}' (columns: {', '.join(header)})")
        missing = [c for c in self.text_columns or () if c not in header]
        if missing:
            raise KnowledgeError(f"{self.path}: no column(s) {', '.join(missing)}")
        self.key = (str(self.path.resolve()), stat.st_mtime_ns, stat.st_size, self.label,
                    tuple(self.text_columns or ()))

    def rows(self) -> tuple[list[dict[str, str]], list[str]]:
        """The labelled rows and the columns models read."""
        return _cached(("rows",) + self.key, self._load)  # type: ignore[return-value]

    def _load(self) -> tuple[list[dict[str, str]], list[str]]:
        rows = _read_rows(self.path)
        if not rows:
            raise KnowledgeError(f"{self.path}: no rows")
        if self.label not in rows[0]:
            raise KnowledgeError(f"{self.path}: no column '{self.label}' (columns: {', '.join(rows[0])})")
        columns = self.text_columns or [c for c in rows[0] if c not in (self.label, "id")]
        missing = [c for c in columns if c not in rows[0]]
        if missing:
            raise KnowledgeError(f"{self.path}: no column(s) {', '.join(missing)}")
        return [r for r in rows if (r.get(self.label) or "").strip()], columns

    def _train(self, rows: list[dict[str, str]], columns: list[str]) -> NaiveBayes:
        model = NaiveBayes(SMOOTHING)
        for row in rows:
            model.learn_features(features(row_text(row, columns, MISSING)), row[self.label].strip())
        return model

    def teacher(self) -> NaiveBayes:
        """A model trained on every row."""
        build = lambda: self._disk_cached("teacher", lambda: self._train(*self.rows()))  # noqa: E731
        return _cached(("teacher",) + self.key, build)  # type: ignore[return-value]

    def student(self, seed: int) -> NaiveBayes:
        """A model trained on a seeded sample of STUDENT_FRACTION of the rows."""

        def build() -> NaiveBayes:
            rows, columns = self.rows()
            size = max(1, round(len(rows) * STUDENT_FRACTION))
            chosen = sorted(random.Random(seed).sample(range(len(rows)), size))
            return self._train([rows[i] for i in chosen], columns)

        name = f"student-{seed}-{STUDENT_FRACTION}"
        return _cached(("student", seed) + self.key, lambda: self._disk_cached(name, build))  # type: ignore[return-value]

    def router(self) -> NaiveBayes:
        """The router the base models share (see `skills.router`)."""

        def label_texts() -> list[str]:
            rows, columns = self.rows()
            return [row_text(row, columns, MISSING) for row in rows]

        return skills.router(self.key, label_texts)

    def teacher_mind(self) -> Mind:
        """The teacher: the classifier on every row, and every row of the task knowledge."""
        return skills.teacher_mind(self.teacher(), self.router)

    def student_mind(self, seed: int) -> Mind:
        """The base student: the classifier and the task skills on small seeded samples."""
        return skills.student_mind(self.student(seed), self.router, seed)

    def _disk_cached(self, name: str, build: Callable[[], NaiveBayes]) -> NaiveBayes:
        digest = hashlib.sha256()
        digest.update(self.path.read_bytes())
        digest.update(Path(learner_module.__file__).read_bytes())
        digest.update(repr((name, self.label, self.text_columns, SMOOTHING, MISSING)).encode())
        cached = cache_dir() / f"{name}-{digest.hexdigest()[:32]}.json"
        try:
            return NaiveBayes.from_state(json.loads(cached.read_text("utf-8")))
        except (OSError, ValueError, KeyError):
            pass
        model = build()
        try:
            from distill_tui import locations

            locations.make_private_dir(cached.parent)
            partial = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            partial.write_text(json.dumps(model.to_state(), ensure_ascii=False, separators=(",", ":")), "utf-8")
            os.replace(partial, cached)
        except OSError:  # a read-only home only costs the next start some time
            pass
        return model


class ModelRegistry:
    """The models of one server: the built-in ones and those its fine-tuning jobs create."""

    def __init__(self, knowledge: Knowledge, seed: int = 0, state: StateStore | None = None,
                 judge_position_bias: float = 0.0) -> None:
        self.knowledge = knowledge
        self._state = state
        self._lock = threading.Lock()
        self._entries: dict[str, ModelEntry] = {}
        student = lambda: knowledge.student_mind(seed)  # noqa: E731
        self.add(ModelEntry(TEACHER, "offline", _CREATED, factory=knowledge.teacher_mind))
        self.add(ModelEntry(STUDENT, "offline", _CREATED, factory=student))
        self.add(ModelEntry(LEGACY, "offline", _CREATED - 86_400 * 365, LEGACY_SHUTDOWN, factory=student))
        self.add(ModelEntry(REASONER, "offline", _CREATED, factory=knowledge.teacher_mind, reasoning=True,
                            context_window=REASONER_CONTEXT_WINDOW, max_output_tokens=REASONER_MAX_OUTPUT_TOKENS))
        judge = lambda: Judge(knowledge.teacher_mind(), judge_position_bias, seed)  # noqa: E731
        self.add(ModelEntry(JUDGE, "offline", _CREATED, factory=judge))  # type: ignore[arg-type]
        for info, path in state.models() if state else ():
            load = lambda path=path: Mind.from_state(StateStore.model_learner(path))  # noqa: E731
            self.add(ModelEntry(info["id"], info["owned_by"], info["created"], listed=info.get("listed", True),
                                factory=load))

    def add(self, entry: ModelEntry) -> None:
        with self._lock:
            self._entries[entry.id] = entry

    def add_trained(self, name: str, learner: Mind, *, listed: bool = True) -> None:
        """Register a model trained by a fine-tuning job."""
        entry = ModelEntry(name, ORGANIZATION, now(), listed=listed, learner=learner)
        if self._state:
            self._state.save_model({**entry.public(), "listed": listed}, learner.to_state())
        self.add(entry)

    def entry(self, name: str) -> ModelEntry | None:
        with self._lock:
            return self._entries.get(name)

    def listed(self) -> list[ModelEntry]:
        with self._lock:
            return [e for e in self._entries.values() if e.listed]

    def delete(self, name: str) -> bool:
        with self._lock:
            found = self._entries.pop(name, None) is not None
        if found and self._state:
            self._state.delete_model(name)
        return found

    def can_fine_tune(self, name: str) -> bool:
        """Fine-tuning starts from the base student or from an earlier fine-tune of it."""
        return name == STUDENT or (name.startswith("ft:") and self.entry(name) is not None)


def root_model(name: str) -> str:
    """The base model a (possibly fine-tuned) model name descends from."""
    return name[3:].split(":", 1)[0] if name.startswith("ft:") else name
