"""What the Results screen's workers post: the comparison table built (or not), coalesced evaluation
progress, each model evaluated, and the evaluation's end. Workers never touch widgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class TableReady(Message):
    table: Any
    models: list[Any]
    fingerprint: Any = None


@dataclass
class TableFailed(Message):
    error: str


@dataclass
class EvalProgress(Message):
    """The engine's progress on one model; a newer one replaces one not yet handled."""

    index: int
    count: int
    progress: Any

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EvalProgress)


@dataclass
class JudgeProgressed(Message):
    """A model grader's judge run's progress (`judging.JudgeProgress`); a newer one replaces one not yet handled."""

    progress: Any

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JudgeProgressed)


@dataclass
class ModelEvaluated(Message):
    model: Any
    result: Any


@dataclass
class EvalFinished(Message):
    run: Any = None
    error: str | None = None
