"""`[[graders]]` in a task spec: how every answer is scored against its reference.

Each grader gives an answer a score in [0, 1] and passes it at `threshold`. The types, their options
and their default thresholds are listed in `TYPES`; `core.evaluate.graders` computes them.

```toml
[[graders]]
name = "chrf"        # unique; the key of the grader's scores in `eval --json`
type = "chrf"
threshold = 0.5      # optional: the type's default
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from distill_tui.core.common.errors import SpecError
from distill_tui.core.task.kinds import CLASSIFICATION, EXTRACTION, GENERATION, KINDS

DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"


@dataclass(frozen=True)
class GraderType:
    """What a grader type needs and where it fits."""

    threshold: float  # the default pass mark
    options: tuple[str, ...] = ()  # keys beyond name, type and threshold
    kinds: tuple[str, ...] = KINDS  # the task kinds it can grade
    about: str = ""


TYPES: dict[str, GraderType] = {
    "exact": GraderType(1.0, about="normalised equality (case, whitespace, punctuation, unicode, numbers)"),
    "contains": GraderType(1.0, about="the normalised reference appears in the normalised answer"),
    "regex": GraderType(1.0, ("pattern",), about="the answer matches `pattern` (Python regex, searched)"),
    "fuzzy": GraderType(0.8, about="rapidfuzz ratio of the normalised texts"),
    "chrf": GraderType(0.5, about="sacrebleu sentence chrF / 100"),
    "bleu": GraderType(0.3, about="sacrebleu sentence BLEU / 100"),
    "rouge_l": GraderType(0.5, about="ROUGE-L F1 over words"),
    "json_fields": GraderType(1.0, ("fields",), (EXTRACTION,), "share of the JSON fields equal to the reference's"),
    "embedding": GraderType(0.8, ("model",), about="cosine of the provider's embeddings"),
    "rubric": GraderType(0.75, ("model", "rubric", "scale"),
                         about="a judge model grades each answer by `rubric` on `scale` (pass_fail or 1-5)"),
    "pairwise": GraderType(1.0, ("model", "rubric", "opponent"),
                           about="a judge model prefers each model's answer or the opponent's (the teacher's, "
                                 "or the base student's), in both orders: win 1, tie 0.5, loss 0; a win passes"),
}
OPPONENTS = ("teacher", "base")
SCALES = ("pass_fail", "1-5")
"""A rubric judge's scales: pass/fail scores 1 or 0; 1-5 scores (grade - 1) / 4, so 0.75 passes 4 and 5."""

DEFAULTS: dict[str, tuple[str, ...]] = {
    CLASSIFICATION: ("exact",),
    EXTRACTION: ("json_fields",),
    GENERATION: ("chrf", "rouge_l"),
}
"""The graders a kind gets when the spec names none."""


@dataclass(frozen=True)
class GraderSpec:
    """One validated `[[graders]]` entry."""

    name: str
    type: str
    threshold: float
    pattern: str | None = None  # regex
    fields: tuple[str, ...] | None = None  # json_fields: None means every field of the reference
    model: str | None = None  # embedding; rubric: the judge
    rubric: str | None = None  # rubric: what the judge checks
    scale: str | None = None  # rubric: one of SCALES
    opponent: str | None = None  # pairwise: one of OPPONENTS

    def to_toml(self) -> dict[str, Any]:
        """The entry as TOML-ready data (options left unset are left out)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "threshold": self.threshold}
        if self.pattern is not None:
            out["pattern"] = self.pattern
        if self.fields is not None:
            out["fields"] = list(self.fields)
        if self.model is not None:
            out["model"] = self.model
        for key in ("rubric", "scale", "opponent"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def default_graders(kind: str) -> list[GraderSpec]:
    """The graders of a kind whose spec names none (classification: exact)."""
    return [GraderSpec(name=t, type=t, threshold=TYPES[t].threshold) for t in DEFAULTS.get(kind, ("exact",))]


def parse_graders(raw: Any, kind: str, where: str, schema: dict[str, Any] | None = None) -> list[GraderSpec]:
    """Validate the `[[graders]]` array of a spec (None: the kind's defaults).

    Args:
        schema: the extraction answer schema, when there is one: json_fields `fields` must be among
            its properties.

    Raises:
        SpecError: one line naming the grader and the problem: an unknown type or key, a threshold
            outside [0, 1], a type that does not fit the kind, a bad regex, a duplicate name, a field
            the answer schema does not have.
    """
    if raw is None:
        return default_graders(kind)
    if not isinstance(raw, list) or not all(isinstance(g, dict) for g in raw):
        raise SpecError(f"{where}: graders must be an array of tables ([[graders]])")
    if not raw:
        raise SpecError(f"{where}: [[graders]] is empty (remove it for the defaults of a {kind} task)")
    graders = [_parse_one(g, i, kind, where) for i, g in enumerate(raw, 1)]
    properties = (schema or {}).get("properties")
    for number, grader in enumerate(graders, 1):
        unknown = [f for f in grader.fields or () if isinstance(properties, dict) and f not in properties]
        if unknown:
            raise SpecError(f"{where}: [[graders]] #{number} ({grader.name!r}) fields: {unknown[0]!r} is not a "
                            f"property of the answer schema (it has: {', '.join(properties)})")
    seen: set[str] = set()
    for grader in graders:
        if grader.name in seen:
            raise SpecError(f"{where}: [[graders]] name {grader.name!r} is used twice; names must be unique")
        seen.add(grader.name)
    return graders


def _parse_one(raw: dict[str, Any], number: int, kind: str, where: str) -> GraderSpec:
    kind_type = raw.get("type")
    label = f"[[graders]] #{number}" + (f" ({raw['name']!r})" if isinstance(raw.get("name"), str) else "")
    if not isinstance(kind_type, str):
        raise SpecError(f"{where}: {label} needs type = one of {', '.join(TYPES)}")
    if kind_type not in TYPES:
        raise SpecError(f"{where}: {label} unknown type {kind_type!r} (known: {', '.join(TYPES)})")
    info = TYPES[kind_type]
    known = ("name", "type", "threshold", *info.options)
    for key in raw:
        if key not in known:
            raise SpecError(f"{where}: {label} unknown key '{key}' for type {kind_type} (known: {', '.join(known)})")
    name = raw.get("name", kind_type)
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{where}: {label} name must be a non-empty string")
    threshold = raw.get("threshold", info.threshold)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise SpecError(f"{where}: {label} threshold must be a number from 0 to 1, not {threshold!r}")
    if kind not in info.kinds:
        fits = " or ".join(info.kinds)
        raise SpecError(f"{where}: {label} type {kind_type} does not fit a {kind} task (it grades {fits} answers)")
    rubric, scale = _rubric(raw, kind_type, label, where)
    return GraderSpec(name=name.strip(), type=kind_type, threshold=float(threshold),
                      pattern=_pattern(raw, kind_type, label, where), fields=_fields(raw, label, where),
                      model=_model(raw, kind_type, label, where), rubric=rubric, scale=scale,
                      opponent=_opponent(raw, kind_type, label, where))


def _pattern(raw: dict[str, Any], kind_type: str, label: str, where: str) -> str | None:
    if kind_type != "regex":
        return None
    pattern = raw.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise SpecError(f"{where}: {label} needs pattern = a regular expression the answer must match")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise SpecError(f"{where}: {label} pattern is not a valid regular expression: {exc}") from None
    return pattern


def _fields(raw: dict[str, Any], label: str, where: str) -> tuple[str, ...] | None:
    if "fields" not in raw:
        return None
    value = raw["fields"]
    if not isinstance(value, list) or not value or not all(isinstance(f, str) and f.strip() for f in value):
        raise SpecError(f"{where}: {label} fields must be a non-empty list of field names")
    if len(set(value)) != len(value):
        raise SpecError(f"{where}: {label} fields names a field twice")
    return tuple(value)


def _model(raw: dict[str, Any], kind_type: str, label: str, where: str) -> str | None:
    if kind_type in ("rubric", "pairwise"):
        model = raw.get("model")
        if not isinstance(model, str) or not model.strip():
            raise SpecError(f"{where}: {label} needs model = the judge model (any OpenAI-compatible chat model)")
        return model.strip()
    if kind_type != "embedding":
        return None
    model = raw.get("model", DEFAULT_EMBEDDING_MODEL)
    if not isinstance(model, str) or not model.strip():
        raise SpecError(f"{where}: {label} model must be the name of an embedding model")
    return model


def _opponent(raw: dict[str, Any], kind_type: str, label: str, where: str) -> str | None:
    if kind_type != "pairwise":
        return None
    opponent = raw.get("opponent", "teacher")
    if opponent not in OPPONENTS:
        raise SpecError(f"{where}: {label} opponent must be \"teacher\" or \"base\" (whose answers every "
                        f"other model's are compared with), not {opponent!r}")
    return opponent


def _rubric(raw: dict[str, Any], kind_type: str, label: str, where: str) -> tuple[str | None, str | None]:
    if kind_type == "pairwise":
        rubric = raw.get("rubric")
        if rubric is not None and (not isinstance(rubric, str) or not rubric.strip()):
            raise SpecError(f"{where}: {label} rubric must be what the judge compares (or left out)")
        return (rubric.strip() if rubric else None), None
    if kind_type != "rubric":
        return None, None
    rubric, scale = raw.get("rubric"), raw.get("scale")
    if not isinstance(rubric, str) or not rubric.strip():
        raise SpecError(f"{where}: {label} needs rubric = what the judge checks, e.g. \"names the grape and "
                        "nothing false\"")
    if scale is None:
        raise SpecError(f"{where}: {label} needs scale = \"pass_fail\" or \"1-5\" (how the judge grades)")
    if scale not in SCALES:
        raise SpecError(f"{where}: {label} scale must be \"pass_fail\" or \"1-5\", not {scale!r}")
    return rubric.strip(), scale


def judge_warnings(graders: Iterable[GraderSpec], teacher: str | None, student: str | None) -> list[str]:
    """One line per model judge that is also the teacher or the student: a model prefers its own answers."""
    out = []
    for grader in graders:
        if grader.type in ("rubric", "pairwise") and grader.model in (teacher, student):
            role = "teacher" if grader.model == teacher else "student"
            out.append(f"[[graders]] {grader.name!r}: the judge {grader.model} is also the {role}; models tend to "
                       "prefer their own answers (self-preference): use a judge of another family")
    return out
