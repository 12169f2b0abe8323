"""The json_fields grader: per-field match of a JSON answer against a JSON reference (extraction)."""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

from distill_tui.core.evaluate.graders.text import normalise


def as_object(value: Any) -> dict[str, Any] | None:
    """A JSON object from a dict or its text; None when it is neither (unparsable, a list, a string…)."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        return None
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def same_value(answer: Any, reference: Any) -> bool:
    """Whether two JSON values match: strings after `normalise`, numbers by value (1 == 1.0),
    lists item by item in order, objects key by key; null only matches null."""
    if isinstance(reference, bool) or isinstance(answer, bool):
        return isinstance(reference, bool) and isinstance(answer, bool) and answer == reference
    if isinstance(reference, (int, float)) and isinstance(answer, (int, float)):
        return math.isclose(answer, reference, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(reference, (int, float)) or isinstance(answer, (int, float)):
        # "1,000" written for 1000 still counts: compare the normalised texts.
        return normalise(str(answer)) == normalise(str(reference)) if None not in (answer, reference) else False
    if isinstance(reference, str) and isinstance(answer, str):
        return normalise(answer) == normalise(reference)
    if isinstance(reference, list) and isinstance(answer, list):
        return len(answer) == len(reference) and all(same_value(a, r) for a, r in zip(answer, reference))
    if isinstance(reference, dict) and isinstance(answer, dict):
        return answer.keys() == reference.keys() and all(same_value(answer[k], reference[k]) for k in reference)
    return answer is None and reference is None


def field_matches(answer: Any, reference: Any, fields: Sequence[str] | None = None) -> dict[str, bool]:
    """Field → whether the answer's value matches the reference's.

    Args:
        answer: the model's answer (JSON text or a dict); an unparsable answer misses every field.
        reference: the reference object (JSON text or a dict).
        fields: the fields to compare (default: every top-level field of the reference).

    Raises:
        ValueError: when the reference is not a JSON object (the data is wrong, not the answer).
    """
    ref = as_object(reference)
    if ref is None:
        raise ValueError("the reference is not a JSON object")
    got = as_object(answer) if answer is not None else None
    names = list(fields) if fields is not None else list(ref)
    return {name: got is not None and name in got and same_value(got[name], ref.get(name)) for name in names}


def json_fields(answer: Any, reference: Any, fields: Sequence[str] | None = None) -> tuple[float, dict[str, bool]]:
    """The share of fields that match (1.0 for a reference with no fields) and the per-field result."""
    matches = field_matches(answer, reference, fields)
    score = sum(matches.values()) / len(matches) if matches else 1.0
    return score, matches
