"""Task kinds: what an answer is, how it is asked for and how it is read.

- **classification** (the default when `[dataset] label` is set): one of the labels, asked for with
  a strict enum schema (or as plain text with `[prompt] structured = false`); the label column is
  the reference.
- **extraction**: a JSON object following `[prompt] schema`, asked for as strict structured output;
  an answer is valid when it parses and validates against the schema.
- **generation** (the default when neither a label nor a schema is set): free text, no
  response_format; any non-empty answer that was not cut off is valid.

For extraction and generation the reference column (`[dataset] reference`, or `label` as another
name for it) is optional: without one the teacher's answers are the targets. `[prompt] structured`
and `answer_field` only shape classification answers.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

from distill_tui.core.common.errors import SpecError
from distill_tui.core.task import answer_schema, prompts

if TYPE_CHECKING:
    from distill_tui.core.task.spec import TaskSpec

CLASSIFICATION, EXTRACTION, GENERATION = "classification", "extraction", "generation"
KINDS = (CLASSIFICATION, EXTRACTION, GENERATION)

LABEL_MAX_TOKENS = 64
"""The output budget of a classification answer: a label takes a few tokens; 64 leaves room for long
labels and their JSON."""

FREE_TEXT_MAX_TOKENS = 1_024
"""The output budget of an extraction or generation answer when [generation] max_tokens is not set.
A label takes a few tokens (64 is the classification default); a free-text answer or a JSON object of
a few fields takes tens to hundreds, and 1,024 (about 750 words) leaves room for a long one without
cutting it off (finish_reason "length", an invalid row). It is a cap, not a charge: only the tokens
written are billed, but the engine reserves each request's cap against budget_usd while it is in
flight, so a much larger default (the model's 16k maximum) would hold back $0.16 a request at gpt-4o's
output price and stall small budgets. Longer answers: raise [generation] max_tokens."""

CUT_OFF = "cut off at the output budget (finish_reason length): raise [generation] max_tokens"


def resolve(kind: str | None, label: str | None, schema: Any) -> str:
    """The task's kind: the one written, else extraction with a schema, classification with a label
    column, generation otherwise."""
    if kind is not None:
        return kind
    if schema is not None:
        return EXTRACTION
    return CLASSIFICATION if label else GENERATION


def reference_column(spec: "TaskSpec") -> str | None:
    """The column holding each row's gold answer (classification: the label), or None."""
    ds = spec.dataset
    return ds.label if spec.kind == CLASSIFICATION else (ds.reference or ds.label)


def check(spec: "TaskSpec", where: str) -> dict[str, Any] | None:
    """Check the kind-specific keys of a spec and load its answer schema (extraction), or None.

    Raises:
        SpecError: one line naming the key and the problem.
    """
    ds, pr, written = spec.dataset, spec.prompt, spec.task.kind
    if written is not None and written not in KINDS:
        raise SpecError(f'{where}: [task] kind must be "classification", "extraction" or "generation", not {written!r}')
    kind = spec.kind
    for key in ("label", "reference"):
        value = getattr(ds, key)
        if value is not None and not value.strip():
            raise SpecError(f"{where}: [dataset] {key} is empty (remove the key, or name a column)")
    if kind == CLASSIFICATION:
        if not ds.label:
            raise SpecError(f'{where}: [dataset] label is missing: a classification task needs the label column '
                            '(for free-text answers set [task] kind = "generation")')
        if ds.reference is not None and ds.reference != ds.label:
            raise SpecError(f"{where}: [dataset] reference: in a classification task the label column is the "
                            "reference; remove reference")
    elif ds.label and ds.reference and ds.label != ds.reference:
        raise SpecError(f"{where}: [dataset] label and reference name different columns; a {kind} task has one "
                        "reference column: keep reference")
    if kind != CLASSIFICATION and ds.min_per_label is not None:
        raise SpecError(f"{where}: [dataset] min_per_label is for classification; a {kind} task has no labels")
    if pr.schema is not None and kind != EXTRACTION:
        raise SpecError(f'{where}: [prompt] schema is for [task] kind = "extraction", not {kind}')
    if kind != EXTRACTION:
        return None
    if not pr.structured:
        raise SpecError(f"{where}: [prompt] structured = false is for classification; an extraction answer is always "
                        'asked for as strict JSON (for free text set [task] kind = "generation")')
    if pr.schema is None:
        raise SpecError(f'{where}: [prompt] schema is missing: an extraction task needs the JSON schema of an answer '
                        '(a .json file beside the spec, or an inline table)')
    try:
        schema = answer_schema.load(pr.schema, spec.source.parent)
        answer_schema.check_strict(schema)
    except answer_schema.SchemaProblem as exc:
        raise SpecError(f"{where}: [prompt] schema: {exc}") from None
    return schema


def output_budget(kind: str) -> int:
    """The default max_completion_tokens of a kind (a non-reasoning model; see FREE_TEXT_MAX_TOKENS)."""
    return LABEL_MAX_TOKENS if kind == CLASSIFICATION else FREE_TEXT_MAX_TOKENS


FINE_TUNED_UNSUPPORTED = ("pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                          "multipleOf", "minItems", "maxItems")
"""Keywords Structured Outputs takes for base models but not, in strict mode, for fine-tuned models
(the guide's "Supported properties" note)."""


def fine_tune_warnings(spec: "TaskSpec") -> list[str]:
    """A line when an extraction schema uses keywords OpenAI's fine-tuned models refuse: the
    distilled student would be asked with a schema its provider refuses."""
    if spec.kind != EXTRACTION or spec.finetune.backend != "openai" or not spec.answer_schema:
        return []
    used: set[str] = set()
    stack: list[Any] = [spec.answer_schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            used |= {k for k in node if k in FINE_TUNED_UNSUPPORTED and not isinstance(node[k], dict)}
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if not used:
        return []
    return [f"[prompt] schema uses {', '.join(sorted(used))}: OpenAI's fine-tuned models refuse these in a strict "
            "schema, so the distilled student's requests would be refused; leave them out of the schema"]


def schema_name(spec: "TaskSpec") -> str:
    """The `json_schema.name` of an extraction request: the schema's title, its file's name, or "answer"."""
    title = (spec.answer_schema or {}).get("title")
    if isinstance(title, str) and re.sub(r"[^A-Za-z0-9_-]+", "", title):
        return prompts.schema_name(title)
    if isinstance(spec.prompt.schema, str):
        stem = spec.prompt.schema.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0]
        return prompts.schema_name(stem)
    return "answer"


def response_format(spec: "TaskSpec", labels: Sequence[str]) -> dict[str, Any] | None:
    """The response_format of a spec's requests, or None (free text)."""
    kind, pr = spec.kind, spec.prompt
    if kind == CLASSIFICATION:
        return prompts.response_format(pr.answer_field, labels) if pr.structured else None
    if kind == EXTRACTION:
        return {"type": "json_schema",
                "json_schema": {"name": schema_name(spec), "schema": spec.answer_schema, "strict": True}}
    return None


@lru_cache(maxsize=8)
def _validator(schema_text: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_text))


def parse_answer(spec: "TaskSpec", content: str | None, labels: Sequence[str],
                 finish_reason: str | None = None) -> prompts.ParsedAnswer:
    """Read a model's message content as an answer of the spec's kind.

    `label` is what the answer says: the label (classification), the JSON answer in canonical form
    (`answer_schema.canonical`: extraction), or the text stripped (generation).
    """
    kind, pr = spec.kind, spec.prompt
    if kind == CLASSIFICATION:
        return prompts.parse_answer(content, pr.answer_field, labels, pr.structured)
    if content is None:
        return prompts.ParsedAnswer(None, False, "no content (refusal or empty answer)")
    text = content.strip()
    if not text:
        return prompts.ParsedAnswer(None, False, CUT_OFF if finish_reason == "length" else "empty answer")
    if kind == GENERATION:
        # Only a finished answer is one ("stop"; None from servers that send no reason): "length" was
        # cut off, and "content_filter" was stopped by the provider partway.
        if finish_reason in (None, "stop"):
            return prompts.ParsedAnswer(text, True, None)
        problem = CUT_OFF if finish_reason == "length" else f"not finished (finish_reason {finish_reason})"
        return prompts.ParsedAnswer(text, False, problem)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return prompts.ParsedAnswer(text[:200], False, CUT_OFF if finish_reason == "length" else "answer is not JSON")
    error = next(iter(_validator(answer_schema.canonical(spec.answer_schema)).iter_errors(value)), None)
    if error is not None:
        return prompts.ParsedAnswer(answer_schema.canonical(value), False, answer_schema.describe(error))
    return prompts.ParsedAnswer(answer_schema.canonical(value), True, None)


def reference_text(kind: str, value: Any) -> str | None:
    """A reference cell as text (None when empty): for extraction a JSON value in canonical form
    when it parses, so it compares with answers whatever its spacing and key order."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if kind == EXTRACTION:
        if isinstance(value, (dict, list)):
            return answer_schema.canonical(value)
        text = str(value).strip()
        try:
            return answer_schema.canonical(json.loads(text)) if text else None
        except json.JSONDecodeError:
            return text
    text = prompts.format_value(value).strip()
    return text or None


_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


def match_text(text: str) -> str:
    """Text as exact match compares it: Unicode NFKC, case folded, punctuation and runs of spaces made
    one space, trimmed ("Pinot noir." and "pinot  NOIR" are the same answer)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _PUNCTUATION.sub(" ", folded).strip()


def same_answer(kind: str, answer: str | None, target: str | None) -> bool:
    """Exact match of an answer text with a target: labels as they are (classification), JSON by
    value (extraction: both are canonical), free text normalised (generation)."""
    if answer is None or target is None:
        return False
    if kind == CLASSIFICATION or kind == EXTRACTION:
        return answer == target
    return match_text(answer) == match_text(target)
