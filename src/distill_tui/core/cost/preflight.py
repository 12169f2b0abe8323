"""What would go wrong at the provider, said before anything is spent.

Three checks, each against dated data (`capabilities.py`), never constants: a structured-output
schema over the provider's limits (every request would be refused), rows whose prompt plus answer
budget exceed a model's context window (those requests would be refused: runs leave them out),
and the embedded offline provider asked about labels its models never learned.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from distill_tui.core.cost import tokens

if TYPE_CHECKING:
    from distill_tui.core.cost.capabilities import ModelTable, StructuredOutputLimits
    from distill_tui.core.task.requests import RowRequest
    from distill_tui.core.task.spec import TaskSpec

STRUCTURED_FIX = ("set [prompt] structured = false (answers are then parsed from plain text), or keep fewer labels "
                  "([dataset] min_per_label or filter)")
OFFLINE_KNOWLEDGE_LABEL = "variety"
"""The label column of the bundled knowledge file the embedded offline provider's models learn from
(the offline provider's DEFAULT_LABEL; a test keeps the two equal)."""


def provider_family(spec: "TaskSpec", base_url: str | None = None) -> str:
    """"offline", "azure", "openai" or "compatible" (another OpenAI-compatible endpoint), from the
    configuration alone (this never starts the offline provider)."""
    from distill_tui.core.provider.clients import is_offline, is_openai

    if is_offline(spec, base_url):
        return "offline"
    if spec.provider.kind == "azure":
        return "azure"
    return "openai" if is_openai(base_url or spec.provider.base_url or os.environ.get("OPENAI_BASE_URL")) else "compatible"


# structured outputs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchemaProblem:
    """One structured-output limit a schema breaks."""

    rule: str
    limit: int
    actual: int
    message: str


def _walk(node: Any) -> Iterable[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _schema_chars(schema: Any) -> int:
    """Characters of property names, definition names, enum values and const values (the sizes
    the providers' total-length limit counts)."""
    total = 0
    for node in _walk(schema):
        for key in ("properties", "$defs", "definitions"):
            if isinstance(node.get(key), dict):
                total += sum(len(name) for name in node[key])
        if isinstance(node.get("enum"), list):
            total += sum(len(str(v)) for v in node["enum"])
        if "const" in node:
            total += len(str(node["const"]))
    return total


def schema_problems(response_format: dict[str, Any] | None, limits: "StructuredOutputLimits") -> list[SchemaProblem]:
    """The limits a strict json_schema response format breaks (none for other formats)."""
    if not response_format or response_format.get("type") != "json_schema":
        return []
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    who = f"{limits.provider}'s structured outputs"
    enums = [(n.get("enum"), n) for n in _walk(schema) if isinstance(n.get("enum"), list)]
    problems = []
    count = sum(len(values) for values, _ in enums)
    if limits.max_enum_values and count > limits.max_enum_values:
        problems.append(SchemaProblem("max_enum_values", limits.max_enum_values, count,
                                      f"{who} take at most {limits.max_enum_values:,} enum values; "
                                      f"this schema has {count:,} (one per label)"))
    if limits.large_enum_values and limits.large_enum_max_chars:
        for values, _ in enums:
            chars = sum(len(v) for v in values if isinstance(v, str))
            if len(values) > limits.large_enum_values and chars > limits.large_enum_max_chars:
                problems.append(SchemaProblem(
                    "large_enum_max_chars", limits.large_enum_max_chars, chars,
                    f"{who} take at most {limits.large_enum_max_chars:,} characters of values in an enum of more "
                    f"than {limits.large_enum_values:,} values; the labels' enum has {len(values):,} values "
                    f"of {chars:,} characters"))
    chars = _schema_chars(schema)
    if limits.max_schema_chars and chars > limits.max_schema_chars:
        problems.append(SchemaProblem("max_schema_chars", limits.max_schema_chars, chars,
                                      f"{who} take at most {limits.max_schema_chars:,} characters of names and "
                                      f"enum values in a schema; this one has {chars:,}"))
    return problems


def structured_check(spec: "TaskSpec", labels: Sequence[str], table: "ModelTable",
                     base_url: str | None = None) -> dict[str, Any] | None:
    """The structured-output check of a spec, as the estimate reports it (None: not checked, because
    answers are not structured or the provider's limits are not known)."""
    from distill_tui.core.task import kinds

    fmt = kinds.response_format(spec, labels) if labels or spec.kind == kinds.EXTRACTION else None
    if fmt is None:
        return None
    limits = table.structured_outputs(provider_family(spec, base_url))
    if limits is None:
        return None
    problems = schema_problems(fmt, limits)
    return {
        "provider": limits.provider, "ok": not problems,
        "problems": [{"rule": p.rule, "limit": p.limit, "actual": p.actual, "message": p.message} for p in problems],
        "fix": STRUCTURED_FIX if problems else None, "as_of": limits.as_of, "source": limits.source,
    }


def structured_warnings(check: dict[str, Any] | None) -> list[str]:
    """One warning line per limit a `structured_check` found broken (none when it passed)."""
    if not check or check["ok"]:
        return []
    return [f"{p['message']}: every request would be refused; {check['fix']}" for p in check["problems"]]


# context windows ----------------------------------------------------------------------------------
def too_long_rows(prompt_tokens: Sequence[int], max_tokens: int, window: int | None) -> list[bool]:
    """Per row: whether its prompt plus the answer budget is over the context window (what the
    provider refuses: it counts `max_completion_tokens` into the window)."""
    if window is None:
        return [False] * len(prompt_tokens)
    return [n + max_tokens > window for n in prompt_tokens]


def context_note(model: str, count: int, total: int, window: int, max_tokens: int) -> str:
    """One line on rows left out for the context window."""
    rows = "rows is" if count == 1 else "rows are"
    return (f"{count:,} of {total:,} {rows} too long for {model}: prompt + max_tokens ({max_tokens:,}) over its "
            f"{window:,}-token context window; runs leave {'it' if count == 1 else 'them'} out")


def most_tokens(req: "RowRequest") -> int:
    """An upper bound of the request's prompt tokens that needs no vocabulary (a token is at least a byte)."""
    return _most_tokens(req, len(tokens.schema_text(req.body.get("response_format")).encode("utf-8")))


def _most_tokens(req: "RowRequest", schema_bytes: int, *, by_chars: bool = False) -> int:
    """An upper bound of `tokens.count_chat` that needs no encoding: a token is at least one byte (and
    a character at most four bytes, the looser bound `by_chars` takes without encoding the text)."""
    total = tokens.REPLY_PRIMING + schema_bytes
    for message in req.messages:
        total += tokens.TOKENS_PER_MESSAGE + tokens.TOKENS_PER_NAME
        if by_chars:
            total += 4 * sum(len(v) for v in message.values() if isinstance(v, str))
        else:
            total += sum(len(v.encode("utf-8")) for v in message.values() if isinstance(v, str))
    return total


def fitting_requests(
    reqs: list["RowRequest"], model: str, table: "ModelTable"
) -> tuple[list["RowRequest"], int, str | None]:
    """The requests that fit `model`'s context window, how many do not, and a note saying so.

    Only rows whose byte length could exceed the window are counted exactly, so this costs next to
    nothing when prompts are short. A model with no known window keeps every row.
    """
    check = WindowCheck(model, table)
    kept = [req for req in reqs if check.fits(req)]
    return (reqs, 0, None) if not check.left_out else (kept, check.left_out, check.note(len(reqs)))


class WindowCheck:
    """Whether each request fits `model`'s context window, one at a time (`fitting_requests` for a
    stream of requests); `left_out` counts those that do not."""

    def __init__(self, model: str, table: "ModelTable") -> None:
        limits = table.limits(model)
        self.model, self.window = model, limits.context_window if limits else None
        self.left_out, self._schema_bytes, self._budget = 0, -1, 0

    def fits(self, req: "RowRequest") -> bool:
        if self.window is None:
            return True
        if self._schema_bytes < 0:
            # Every request of a spec has the same response format (the labels' enum): measure it once.
            self._schema_bytes = len(tokens.schema_text(req.body.get("response_format")).encode("utf-8"))
            self._budget = int(req.body.get("max_completion_tokens") or 0)
        budget = int(req.body.get("max_completion_tokens") or 0)
        if _most_tokens(req, self._schema_bytes, by_chars=True) + budget <= self.window:
            return True
        if _most_tokens(req, self._schema_bytes) + budget <= self.window:
            return True
        if tokens.count_chat(req.messages, self.model, req.body.get("response_format")) + budget <= self.window:
            return True
        self.left_out += 1
        return False

    def note(self, total: int) -> str | None:
        """The line on the rows left out of `total`, or None when none were."""
        if not self.left_out or self.window is None:
            return None
        return context_note(self.model, self.left_out, total, self.window, self._budget)


# the embedded offline provider ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def offline_labels() -> frozenset[str]:
    """The labels the embedded offline provider's models learned (its bundled knowledge file)."""
    from distill_tui import locations

    with open(locations.package_assets() / "knowledge.csv", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        column = next(reader).index(OFFLINE_KNOWLEDGE_LABEL)
        return frozenset(row[column].strip() for row in reader if len(row) > column and row[column].strip())


def offline_note(spec: "TaskSpec", labels: Sequence[str], base_url: str | None = None) -> str | None:
    """A line when the embedded offline provider (`base_url = "offline"`) would answer about labels
    its models never learned; None otherwise."""
    from distill_tui.core.provider.clients import OFFLINE

    url = base_url or spec.provider.base_url or os.environ.get("OPENAI_BASE_URL")
    if url != OFFLINE or not labels or not offline_labels().isdisjoint(labels):
        return None
    return ("the embedded offline provider's models learned wine reviews and know none of your labels, so their "
            f"answers mean nothing here: serve models that learn your data with `distill-tui serve-offline "
            f"--knowledge {spec.dataset.path} --label {spec.dataset.label}` and set [provider] base_url to the URL "
            "it prints")


def reasoning_warnings(spec: "TaskSpec", table: "ModelTable", roles: Sequence[str] = ("teacher", "student")
                       ) -> list[str]:
    """What a spec asks of its teacher or student (`roles`) that a reasoning model does not take, one
    line each naming the key. Requests simply leave it out (`core.task.requests.fit_to_model`); a model not in
    the table is not known to reason, so nothing is said about it."""
    from distill_tui.core.task.spec import REASONING_MAX_TOKENS

    lines: list[str] = []
    gen = spec.generation
    for role in roles:
        model_spec = getattr(spec, role)
        model, rules = model_spec.model, table.rules(model_spec.model)
        if gen.temperature is not None and not rules.accepts("temperature"):
            lines.append(f"[generation] temperature = {gen.temperature:g} is not sent to the {role} {model}: a reasoning "
                         "model takes only the default")
        if rules.reasoning and gen.output_budget(reasoning=True) < REASONING_MAX_TOKENS:
            lines.append(f"[generation] max_tokens = {gen.max_tokens:,} leaves the {role} {model} little room: its "
                         "reasoning tokens count against it, and an answer with none left comes back empty (a "
                         f"failed row); {REASONING_MAX_TOKENS:,} or more is safer (leave the key out for that)")
        if model_spec.reasoning_effort is not None and not rules.reasoning:
            lines.append(f"[{role}] reasoning_effort = \"{model_spec.reasoning_effort}\" is not sent: {model} is not "
                         "known as a reasoning model (models.toml)")
    return lines


def reasoning_notes(spec: "TaskSpec", table: "ModelTable") -> list[str]:
    """What the estimate leaves out for reasoning models: the reasoning tokens, unknown until measured."""
    budget = spec.generation.output_budget(reasoning=True)
    return [f"{model} is a reasoning model: its reasoning tokens, billed as output, are not in the table (up to "
            f"{budget:,} a request with the answer; 'with reasoning' gives the range); a smoke run (generate --limit "
            "N) measures them for the estimate from pilot"
            for model in dict.fromkeys((spec.teacher.model, spec.student.model)) if table.rules(model).reasoning]
