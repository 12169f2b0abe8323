"""Prompt templates: render chat messages from a data row, the answer schema, and answer parsing.

Templates use `{column}` placeholders (`{{` and `}}` for literal braces). `{labels}` stands for the
comma-separated list of allowed labels unless the data has a column of that name.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from distill_tui.core.common.normalise import normalise

MISSING = "(missing)"
"""What a missing value renders as in a prompt: visible to a reader, unlike `nan`."""

LABELS_PLACEHOLDER = "labels"

_TOKEN_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True)
class Field:
    """A placeholder in a template."""

    name: str


def parse_template(template: str) -> list[str | Field]:
    """Split a template into literal strings and `Field`s, in order (cached: see `_parse`)."""
    return list(_parse(template))


@lru_cache(maxsize=64)
def _parse(template: str) -> tuple[str | Field, ...]:
    """Split a template into literal strings and `Field`s, in order.

    Adjacent literals are merged, so literals and fields alternate.

    Raises:
        ValueError: on an empty `{}` or a lone brace.
    """
    parts: list[str | Field] = []
    buf: list[str] = []
    pos = 0
    for match in _TOKEN_RE.finditer(template):
        buf.append(template[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token == "{{":
            buf.append("{")
        elif token == "}}":
            buf.append("}")
        elif token in ("{", "}"):
            raise ValueError(f"lone '{token}' at character {match.start()} (write '{token * 2}' for a literal brace)")
        else:
            name = match.group(1).strip()
            if not name:
                raise ValueError(f"empty placeholder '{{}}' at character {match.start()}")
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(Field(name))
    buf.append(template[pos:])
    literal = "".join(buf)
    if literal or not parts:
        parts.append(literal)
    return tuple(parts)


def placeholders(template: str) -> list[str]:
    """The placeholder names of a template, in order of first use."""
    seen: dict[str, None] = {}
    for part in parse_template(template):
        if isinstance(part, Field):
            seen.setdefault(part.name, None)
    return list(seen)


def format_value(value: Any) -> str:
    """Render one cell for a prompt: missing values visibly, whole floats without `.0`."""
    if type(value) is str:
        return value
    if value is None:
        return MISSING
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if value.is_integer():
            return str(int(value))
        return repr(value)
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return MISSING
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    text = str(value)
    return text


def labels_text(labels: Sequence[str]) -> str:
    return ", ".join(labels)


def render(template: str | list[str | Field], row: Mapping[str, Any], labels: Sequence[str] = ()) -> str:
    """Fill a template from a row (a mapping of column to value)."""
    parts = _parse(template) if isinstance(template, str) else template
    out: list[str] = []
    for part in parts:
        if isinstance(part, Field):
            if part.name in row:
                out.append(format_value(row[part.name]))
            elif part.name == LABELS_PLACEHOLDER:
                out.append(labels_text(labels))
            else:
                raise KeyError(part.name)
        else:
            out.append(part)
    return "".join(out)


def build_messages(system: str, user: str, row: Mapping[str, Any], labels: Sequence[str] = ()) -> list[dict[str, str]]:
    """The chat messages for one row: an optional system message, then the user message."""
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": render(system, row, labels)})
    messages.append({"role": "user", "content": render(user, row, labels)})
    return messages


def schema_name(answer_field: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", answer_field).strip("_") or "answer"
    return name[:64]


def response_format(answer_field: str, labels: Sequence[str]) -> dict[str, Any]:
    """A strict json_schema response format whose one property is an enum of the labels."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": schema_name(answer_field),
            "schema": {
                "type": "object",
                "properties": {answer_field: {"type": "string", "enum": list(labels)}},
                "additionalProperties": False,
                "required": [answer_field],
            },
            "strict": True,
        },
    }


def assistant_content(answer_field: str, label: str, structured: bool) -> str:
    """What a correct assistant message looks like for a label (used for training lines)."""
    if structured:
        return json.dumps({answer_field: label}, ensure_ascii=False)
    return label


@dataclass(frozen=True)
class ParsedAnswer:
    """A model's answer, parsed and checked against the allowed labels."""

    label: str | None
    valid: bool
    problem: str | None = None


def parse_answer(content: str | None, answer_field: str, labels: Iterable[str], structured: bool) -> ParsedAnswer:
    """Read the label out of a model's message content.

    Structured answers are JSON objects holding `answer_field`; free-text answers are taken whole,
    stripped. An answer is valid when it is one of the labels (exact match after stripping); a
    free-text answer is also matched after normalising case, punctuation, whitespace, unicode and
    numbers ("Pinot noir." is "Pinot Noir"), as long as only one label matches.
    """
    labels = tuple(labels)
    allowed = set(labels)
    if content is None:
        return ParsedAnswer(None, False, "no content (refusal or empty answer)")
    text = content.strip()
    if structured:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return ParsedAnswer(text[:200] or None, False, "answer is not JSON")
        if not isinstance(data, dict) or answer_field not in data:
            return ParsedAnswer(None, False, f"answer has no '{answer_field}' field")
        value = data[answer_field]
        if not isinstance(value, str):
            return ParsedAnswer(str(value), False, f"'{answer_field}' is not a string")
        text = value.strip()
    if not text:
        return ParsedAnswer(None, False, "empty answer")
    if allowed and text not in allowed and not structured:
        text = _normalised_labels(labels).get(normalise(text), text)
    if allowed and text not in allowed:
        return ParsedAnswer(text, False, "answer is not one of the labels")
    return ParsedAnswer(text, True, None)


@lru_cache(maxsize=8)
def _normalised_labels(labels: tuple[str, ...]) -> dict[str, str]:
    """Normalised label → the label, leaving out forms that two labels share (ambiguous)."""
    found: dict[str, str | None] = {}
    for label in labels:
        key = normalise(label)
        found[key] = None if key in found and found[key] != label else label
    return {k: v for k, v in found.items() if v is not None and k}
