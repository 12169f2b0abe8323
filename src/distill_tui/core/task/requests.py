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
import itertools
import json
from json.encoder import encode_basestring  # what JSONEncoder(ensure_ascii=False) escapes strings with
from dataclasses import dataclass, field
from functools import lru_cache
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
    row: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The row's fields its messages were rendered from (None: not made from a row), so the engine
    can count its prompt tokens from them rather than from the messages."""

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.body["messages"]

    @property
    def deferred(self) -> bool:
        """Kept by its row only (`defer`), its body built again just before it is sent."""
        return not self.body

    def defer(self) -> "RowRequest":
        """This request without its body: a queue of many rows holds each row's fields (about 1 KB)
        rather than its messages (several KB where a labels list is in every prompt).
        `RequestBuilder.undeferred` builds it again, with the same body and hash."""
        if self.row is None:
            return self
        return RowRequest(self.row_id, self.split, self.gold, {}, self.prompt_hash, self.row)


def request_body(spec: "TaskSpec", row: Mapping[str, Any], labels: Sequence[str], model: str,
                 rules: ModelRules | None = None) -> dict[str, Any]:
    """The keyword arguments of `client.chat.completions.create` for one row, fitted to what `model`
    accepts when its `rules` are given (see `fit_to_model`).

    The response format follows the task kind (`kinds.response_format`): the labels' enum
    (classification), the answer schema (extraction, strict), or none (generation: free text)."""
    pr = spec.prompt
    body = {"model": model, "messages": prompts.build_messages(pr.system, pr.user, row, labels),
            **_fixed_fields(spec, labels, model)}
    return body if rules is None else fit_to_model(body, spec, rules)


def _fixed_fields(spec: "TaskSpec", labels: Sequence[str], model: str) -> dict[str, Any]:
    """Every field of a request body but the model and the messages: the same for every row."""
    gen = spec.generation
    body: dict[str, Any] = {"max_completion_tokens": gen.output_budget()}
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
    return body


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


_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


@lru_cache(maxsize=64, typed=True)  # typed: 1 and 1.0 encode differently
def _scalar(value: Any) -> bytes:
    return _json(value)


_last_format: list[Any] = [object(), b""]  # every row of a spec has the same response format: its JSON once


def prompt_hash(body: Mapping[str, Any]) -> str:
    """A stable id of what was asked (see the module docstring): the SHA-1 of the compact, key-sorted
    JSON of the body's messages, response_format, max_completion_tokens and temperature.

    The JSON is hashed piece by piece in key order (the same bytes as `json.dumps` of the four keys),
    so the response format, which can list hundreds of labels, is encoded once, not once a row."""
    return _hash(body, _json(body.get("messages")))


def _hash(body: Mapping[str, Any], messages_json: bytes) -> str:
    response_format = body.get("response_format")
    last, encoded = _last_format
    if response_format is not last and response_format != last:
        encoded = _json(response_format)
        _last_format[:] = [response_format, encoded]
    digest = hashlib.sha1(b'{"max_completion_tokens":' + _scalar(body.get("max_completion_tokens")))
    digest.update(b',"messages":' + messages_json)
    digest.update(b',"response_format":' + encoded)
    digest.update(b',"temperature":' + _scalar(body.get("temperature")) + b"}")
    return digest.hexdigest()


def iter_requests(spec: "TaskSpec", data: "PreparedData", model: str, split: str | None = None,
                  rules: ModelRules | None = None) -> Iterator[RowRequest]:
    """The requests for every row of a split ("train", "eval" or None for all), in row order, fitted to
    what `model` accepts when its `rules` are given (the hash is the same either way)."""
    return RequestBuilder(spec, data, model, rules).rows(split)


class RequestBuilder:
    """Builds the requests of one spec's rows for one model (see `iter_requests`), and builds a
    deferred request (`RowRequest.deferred`) again when it is about to be sent."""

    def __init__(self, spec: "TaskSpec", data: "PreparedData", model: str, rules: ModelRules | None = None) -> None:
        from distill_tui.core.task.dataset import ROW, SPLIT

        self.spec, self.data, self.model, self.rules = spec, data, model, rules
        self.label_col = data.label_column
        self._row_key, self._split_key = ROW, SPLIT
        # Only the columns a request reads, each converted once (to_dict of every column costs seconds at 130k rows).
        used = {ROW, SPLIT, *([self.label_col] if self.label_col is not None else [])}
        for template in (spec.prompt.system, spec.prompt.user):
            used.update(name for name in prompts.placeholders(template or "") if name in data.frame.columns)
        self.names = [c for c in data.frame.columns if c in used]
        self._fast: _RowMessages | None = None
        self._fixed = _fixed_fields(spec, data.labels, model)
        # Every field but the messages is the same for every row: fitted to the model once.
        fitted = self._fixed if rules is None else fit_to_model({"model": model, **self._fixed}, spec, rules)
        fitted.pop("model", None)
        self._fitted = fitted

    def rows(self, split: str | None = None) -> Iterator[RowRequest]:
        """Every row's request in `split` (None: all), in row order."""
        names = self.names
        for values in _row_values(self.data.frame, names, split):
            yield self.build(dict(zip(names, values)))

    def build(self, row: Mapping[str, Any]) -> RowRequest:
        """One row's request (`row`: its used columns by name)."""
        fast = self._fast
        if fast is not None and fast.usable:
            messages, messages_json = fast.render(row)
            digest = _hash(self._fixed, messages_json)
            body = {"model": self.model, "messages": messages, **self._fitted}
        else:
            asked = request_body(self.spec, row, self.data.labels, self.model)
            if fast is None:
                self._fast = _RowMessages.checked(self.spec, self.data.labels, self.names, row, asked)
            digest = prompt_hash(asked)
            body = asked if self.rules is None else fit_to_model(asked, self.spec, self.rules)
        gold = None if self.label_col is None else str(row[self.label_col])
        return RowRequest(int(row[self._row_key]), str(row[self._split_key]), gold, body, digest, row)

    def undeferred(self, req: RowRequest) -> RowRequest:
        """The whole request of a deferred one (itself when it is whole)."""
        if not req.deferred:
            return req
        if req.row is None:
            raise ValueError(f"row {req.row_id}: a deferred request without its row")
        return self.build(req.row)


def _row_values(frame: Any, names: list[str], split: str | None) -> Iterator[tuple[Any, ...]]:
    """The values of `names` in each row of `split`, in row order.

    Converted a chunk of rows at a time, the first chunk small: a run asks its first row without
    waiting for every row's values (to_dict of every column costs seconds at 130k rows, a tolist of
    the columns used about 0.2 s), and only the columns a request reads are converted."""
    from distill_tui.core.task.dataset import SPLIT

    series = [frame[c] for c in names]
    in_split = None if split is None else (frame[SPLIT] == split).to_numpy(dtype=bool)
    start, size = 0, 64
    while start < len(frame):
        end = start + size
        columns = [column.iloc[start:end].tolist() for column in series]
        if in_split is not None:  # on the lists: filtering the frame first copies every Arrow string column
            keep = in_split[start:end].tolist()
            columns = [list(itertools.compress(column, keep)) for column in columns]
        yield from zip(*columns)
        start, size = end, min(size * 4, 16_384)


def _escaped(text: str) -> str:
    """`text` as it is inside a compact JSON string (escaped character by character, so pieces join)."""
    return encode_basestring(text)[1:-1]


class _RowMessages:
    """Every row's messages and their JSON from the templates parsed once, the literal parts (the labels
    list among them) escaped once: a row then costs its own fields, not the 5 KB of JSON a prompt with
    hundreds of labels takes to encode (65 µs a row, most of the time to the first request at 130k rows).

    `checked` compares its first row with `request_body` and `prompt_hash`: any difference (messages
    laid out otherwise than `prompts.build_messages` does) and `usable` is False: rows take the plain path.
    """

    def __init__(self, spec: "TaskSpec", labels: Sequence[str], columns: Any) -> None:
        self.usable = True
        self.templates: list[tuple[str, list[Any]]] = []
        for role, template in (("system", spec.prompt.system), ("user", spec.prompt.user)):
            if role == "system" and not template:
                continue
            parts: list[Any] = []
            for part in prompts.parse_template(template):
                if isinstance(part, prompts.Field) and part.name not in columns:
                    part = prompts.labels_text(labels)  # not a column: the labels (render checked that)
                parts.append((part, _escaped(part)) if isinstance(part, str) else part.name)
            self.templates.append((role, parts))

    @classmethod
    def checked(cls, spec: "TaskSpec", labels: Sequence[str], columns: Any, row: Mapping[str, Any],
                asked: Mapping[str, Any]) -> "_RowMessages":
        fast = cls(spec, labels, columns)
        messages, messages_json = fast.render(row)
        fast.usable = messages == asked["messages"] and _hash(asked, messages_json) == prompt_hash(asked)
        return fast

    def render(self, row: Mapping[str, Any]) -> tuple[list[dict[str, str]], bytes]:
        messages, encoded = [], []
        for role, parts in self.templates:
            text, escaped = [], []
            for part in parts:
                if type(part) is tuple:
                    text.append(part[0])
                    escaped.append(part[1])
                else:
                    value = prompts.format_value(row[part])
                    text.append(value)
                    escaped.append(_escaped(value))
            messages.append({"role": role, "content": "".join(text)})
            encoded.append(f'{{"content":"{"".join(escaped)}","role":"{role}"}}')
        return messages, ("[" + ",".join(encoded) + "]").encode("utf-8")
