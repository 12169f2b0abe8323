"""How a data row becomes a chat request, and the hash that identifies that request.

The hash covers everything that changes the answer (messages, response format, token limit,
temperature) and nothing that does not (model is a separate key; store/metadata are bookkeeping).
A saved answer is reused only for the same model, row and hash, so editing the prompt never reuses
stale answers, and re-running never pays twice for the same request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from distill_tui.core.task import prompts

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
    gold: str
    body: dict[str, Any]
    prompt_hash: str

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.body["messages"]


def request_body(spec: "TaskSpec", row: Mapping[str, Any], labels: Sequence[str], model: str) -> dict[str, Any]:
    """The keyword arguments of `client.chat.completions.create` for one row."""
    pr, gen = spec.prompt, spec.generation
    body: dict[str, Any] = {
        "model": model,
        "messages": prompts.build_messages(pr.system, pr.user, row, labels),
        "max_completion_tokens": gen.max_tokens,
    }
    if pr.structured:
        body["response_format"] = prompts.response_format(pr.answer_field, labels)
    if gen.temperature is not None:
        body["temperature"] = gen.temperature
    if gen.store:
        body["store"] = True
        if gen.metadata:
            body["metadata"] = dict(gen.metadata)
    return body


def prompt_hash(body: Mapping[str, Any]) -> str:
    """A stable id of what was asked (see the module docstring)."""
    key = {k: body.get(k) for k in ("messages", "response_format", "max_completion_tokens", "temperature")}
    text = json.dumps(key, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def iter_requests(spec: "TaskSpec", data: "PreparedData", model: str, split: str | None = None) -> Iterator[RowRequest]:
    """The requests for every row of a split ("train", "eval" or None for all), in row order."""
    from distill_tui.core.task.dataset import ROW, SPLIT

    frame = data.frame if split is None else data.frame[data.frame[SPLIT] == split]
    label_col = data.label_column
    for row in frame.to_dict("records"):
        body = request_body(spec, row, data.labels, model)
        yield RowRequest(int(row[ROW]), str(row[SPLIT]), str(row[label_col]), body, prompt_hash(body))
