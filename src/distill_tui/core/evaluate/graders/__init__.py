"""Reference graders: every answer gets a score in [0, 1] and passes at its grader's threshold.

`grade` runs one `[[graders]]` entry (core.task.graders_spec) over a list of answers and their
references. Texts: `text`; JSON fields: `fields`; embeddings through the provider: `embedding`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from distill_tui.core.evaluate.graders import text
from distill_tui.core.evaluate.graders.embedding import Embedder, cosine_scores
from distill_tui.core.evaluate.graders.fields import json_fields
from distill_tui.core.task.graders_spec import GraderSpec

__all__ = ["Embedder", "Grade", "grade", "TEXT_GRADERS"]


@dataclass(frozen=True, slots=True)
class Grade:
    """One answer's score under one grader."""

    score: float  # in [0, 1]
    passed: bool  # score >= threshold
    fields: dict[str, bool] | None = None  # json_fields: field → matched


TEXT_GRADERS: dict[str, Callable[[str | None, str], float]] = {
    "exact": text.exact, "contains": text.contains, "fuzzy": text.fuzzy, "chrf": text.chrf,
    "bleu": text.bleu, "rouge_l": text.rouge_l,
}


def grade(
    spec: GraderSpec,
    answers: Sequence[Any],
    references: Sequence[Any],
    embedder: Callable[[str], Embedder] | None = None,
) -> list[Grade]:
    """Grade `answers[i]` against `references[i]` for every i.

    Args:
        spec: the grader.
        answers: each answer's text (a dict for a parsed JSON answer); None for no usable answer,
            which scores 0.
        references: the reference of each row (the regex grader ignores them).
        embedder: embedding model name → `Embedder` (needed by the embedding grader only).

    Raises:
        ValueError: different lengths, an embedding grader without `embedder`, or a json_fields
            reference that is not a JSON object.
    """
    if len(answers) != len(references):
        raise ValueError(f"answers and references differ in length: {len(answers)} and {len(references)}")
    details: list[dict[str, bool] | None] = [None] * len(answers)
    if spec.type == "regex":
        scores = [text.regex(_as_text(a), spec.pattern or "") for a in answers]
    elif spec.type == "json_fields":
        scores = []
        for i, (answer, reference) in enumerate(zip(answers, references)):
            score, details[i] = json_fields(answer, reference, spec.fields)
            scores.append(score)
    elif spec.type == "embedding":
        if embedder is None:
            raise ValueError("the embedding grader needs an embedder (the provider's client)")
        scores = cosine_scores(embedder(spec.model or ""), [_as_text(a) for a in answers],
                               [_as_text(r) or "" for r in references])
    else:
        function = TEXT_GRADERS[spec.type]
        scores = [function(_as_text(a), _as_text(r) or "") for a, r in zip(answers, references)]
    return [Grade(s, s >= spec.threshold, d) for s, d in zip(scores, details)]


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)
