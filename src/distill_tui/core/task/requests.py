"""How a data row becomes a chat request, and the hash that identifies that request.

The hash covers everything that changes the answer (messages, response format, token limit,
temperature) and nothing that does not (model is a separate key; store/metadata are bookkeeping).
A saved answer is reused only for the same model, row and hash, so editing the prompt never reuses
stale answers, and re-running never pays twice for the same request.

The hash is taken of the request as the spec asks it, before it is fitted to one model (`ModelRules`:
a reasoning model gets no temperature, and its role's reasoning_effort). So it stays the same for
every model, as evaluation expects when one pass over the eval rows picks every model's answers, and
specs written before reasoning models were known keep their saved answers; reasoning_effort, like the
model itself, is a per-role setting outside it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from distill_tui.core.task import kinds, prompts

if TYPE_CHECKING:
    from distill_tui.core.task.dataset import PreparedData
    from distill_tui.core.task.spec import TaskSpec


@dataclass(frozen=True)
class ModelRules:
    """What a request to one model may carry (from `core.cost.capabilities`; the default knows nothing,
    so nothing is left out)."""

    reasoning: bool = False
    sampling: frozenset[str] | None = None  # the sampling parameters it accepts; None: not known

    def accepts(self, parameter: str) -> bool:
        return self.sampling is None or parameter in self.sampling


@dataclass(frozen=True)
class RowRequest:
    """One row's request, ready to send."""

    row_id: int
    split: str
    gold: str | None  # the reference answer (classification: the label); None when the task has none
    body: dict[str, Any]
    prompt_hash: str

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.body["messages"]


def request_body(spec: "TaskSpec", row: Mapping[str, Any], labels: Sequence[str], model: str,
                 rules: ModelRules | None = None) -> dict[str, Any]:
    """The keyword arguments of `client.chat.completions.create` for one row, fitted to what `model`
    accepts when its `rules` are given (see `fit_to_model`).

    The response format follows the task kind (`kinds.response_format`): the labels' enum
    (classification), the answer schema (extraction, strict), or none (generation: free text)."""
    pr, gen = spec.prompt, spec.generation
    body: dict[str, Any] = {
        "model": model,
        "messages": prompts.build_messages(pr.system, pr.user, row, labels),
        "max_completion_tokens": gen.output_budget(),
    }
    response_format = kinds.response_format(spec, labels)
    if response_format is not None:
        body["response_format"] = response_format
    if gen.temperature is not None:
        body["temperature"] = gen.temperature
    if model == spec.teacher.model and spec.teacher.service_tier is not None:
        body["service_tier"] = spec.teacher.service_tier
    if gen.store:
        body["store"] = True
        if gen.metadata:
            body["metadata"] = dict(gen.metadata)
    return body if rules is None else fit_to_model(body, spec, rules)


def fit_to_model(body: Mapping[str, Any], spec: "TaskSpec", rules: ModelRules) -> dict[str, Any]:
    """`body` without the sampling parameters the model refuses (reasoning models answer 400
    `unsupported_value` to any temperature or top_p but the default), and with its role's
    reasoning_effort when it is a reasoning model (the teacher's for the teacher, else the student's), whose
    output budget, when [generation] max_tokens is not set, leaves room for reasoning."""
    fitted = {k: v for k, v in body.items() if k not in ("temperature", "top_p") or rules.accepts(k)}
    if rules.reasoning:
        role = spec.teacher if body["model"] == spec.teacher.model else spec.student
        if role.reasoning_effort is not None:
            fitted["reasoning_effort"] = role.reasoning_effort
        fitted["max_completion_tokens"] = spec.generation.output_budget(reasoning=True)
    return fitted


def prompt_hash(body: Mapping[str, Any]) -> str:
    """A stable id of what was asked (see the module docstring)."""
    key = {k: body.get(k) for k in ("messages", "response_format", "max_completion_tokens", "temperature")}
    text = json.dumps(key, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def iter_requests(spec: "TaskSpec", data: "PreparedData", model: str, split: str | None = None,
                  rules: ModelRules | None = None) -> Iterator[RowRequest]:
    """The requests for every row of a split ("train", "eval" or None for all), in row order, fitted to
    what `model` accepts when its `rules` are given (the hash is the same either way)."""
    from distill_tui.core.task.dataset import ROW, SPLIT

    frame = data.frame if split is None else data.frame[data.frame[SPLIT] == split]
    label_col = data.label_column
    for row in frame.to_dict("records"):
        asked = request_body(spec, row, data.labels, model)
        body = asked if rules is None else fit_to_model(asked, spec, rules)
        gold = None if label_col is None else str(row[label_col])
        yield RowRequest(int(row[ROW]), str(row[SPLIT]), gold, body, prompt_hash(asked))
