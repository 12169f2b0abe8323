"""Chat completions: validate a request, answer it with a learner, keep it when `store` is set."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any, Mapping

from distill_tui.offline import billing, extraction
from distill_tui.offline.common import ApiError, check_metadata, cursor_page, new_id, query_metadata, query_value
from distill_tui.offline.judge import Judge
from distill_tui.offline.models import ModelEntry, ModelRegistry
from distill_tui.offline.refusals import check_parameters, check_strict_schema
from distill_tui.offline.state import StateStore

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
_DEFAULT_FIELD = "answer"
# Reasoning tokens the offline reasoner spends before it answers, by reasoning_effort (default "medium").
REASONING_TOKENS = {"minimal": 16, "low": 64, "medium": 192, "high": 512}
_DEFAULT_EFFORT = "medium"


def _check_reasoning(entry: ModelEntry | None, body: Mapping[str, Any]) -> str | None:
    """Refuse what OpenAI refuses of reasoning models, worded as it words it; the effort to spend."""
    effort = body.get("reasoning_effort")
    if entry is None:
        return None
    if not entry.reasoning:
        if effort is not None:
            raise ApiError(400, "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                           param="reasoning_effort", code="unsupported_parameter")
        return None
    if body.get("max_tokens") is not None:
        raise ApiError(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                       "'max_completion_tokens' instead.", param="max_tokens", code="unsupported_parameter")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and value != 1:
            raise ApiError(400, f"Unsupported value: '{name}' does not support {value} with this model. Only the "
                           "default (1) value is supported.", param=name, code="unsupported_value")
    if effort is not None and effort not in REASONING_TOKENS:
        raise ApiError(400, f"Invalid value: '{effort}'. Supported values are: "
                       f"{', '.join(repr(e) for e in REASONING_TOKENS)}.", param="reasoning_effort",
                       code="invalid_value")
    return effort or _DEFAULT_EFFORT


def prompt_hash(messages: Any) -> str:
    """The key under which `stats["requests_by_prompt_hash"]` counts a request's messages."""
    text = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _check_messages(messages: Any) -> list[dict]:
    if messages is None:
        raise ApiError(400, "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "Invalid 'messages': expected a non-empty array of messages.", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ApiError(400, f"Invalid value for 'messages[{i}].role': expected one of "
                           f"{', '.join(sorted(_ROLES))}.", param=f"messages[{i}].role")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise ApiError(400, f"Invalid type for 'messages[{i}].content': expected a string or an array.",
                           param=f"messages[{i}].content")
    return messages


def answer_spec(response_format: Any) -> tuple[str | None, list[str] | None]:
    """The JSON field to answer in (None: plain text) and the allowed labels (None: any)."""
    if response_format is None:
        return None, None
    if not isinstance(response_format, dict) or response_format.get("type") not in ("text", "json_object", "json_schema"):
        raise ApiError(400, "Invalid 'response_format': 'type' must be one of 'text', 'json_object', 'json_schema'.",
                       param="response_format")
    kind = response_format["type"]
    if kind == "text":
        return None, None
    if kind == "json_object":
        return _DEFAULT_FIELD, None
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ApiError(400, "Missing required parameter: 'response_format.json_schema.name'.",
                       param="response_format.json_schema.name", code="missing_required_parameter")
    schema = spec.get("schema", {})
    if not isinstance(schema, dict):
        raise ApiError(400, "Invalid 'response_format.json_schema.schema': expected an object.",
                       param="response_format.json_schema.schema")
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        raise ApiError(400, "Invalid 'response_format.json_schema.schema.properties': expected an object.",
                       param="response_format.json_schema.schema")
    for name, prop in properties.items():
        if isinstance(prop, dict) and isinstance(prop.get("enum"), list):
            return name, [v for v in prop["enum"] if isinstance(v, str)]
    return (next(iter(properties)) if properties else _DEFAULT_FIELD), None


def _positive_int(body: Mapping[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApiError(400, f"Invalid '{name}': expected an integer of at least 1, got {value!r}.", param=name)
    return value


def _check_window(entry: ModelEntry, prompt_tokens: int, max_tokens: int | None) -> None:
    """Refuse what OpenAI refuses: an answer budget over the model's output limit, or a prompt plus
    answer budget over its context window (both worded as the real API words them)."""
    if max_tokens is not None and max_tokens > entry.max_output_tokens:
        raise ApiError(400, f"max_tokens is too large: {max_tokens}. This model supports at most "
                       f"{entry.max_output_tokens} completion tokens, whereas you provided {max_tokens}.",
                       param="max_tokens", code="invalid_value")
    if prompt_tokens + (max_tokens or 0) <= entry.context_window:
        return
    asked = (f"you requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in "
             "the completion). Please reduce the length of the messages or completion." if max_tokens else
             f"your messages resulted in {prompt_tokens} tokens. Please reduce the length of the messages.")
    raise ApiError(400, f"This model's maximum context length is {entry.context_window} tokens. However, {asked}",
                   param="messages", code="context_length_exceeded")


class ChatService:
    """Answers and stores chat completions."""

    def __init__(self, registry: ModelRegistry, state: StateStore | None = None) -> None:
        self.registry = registry
        self.prompt_cache = billing.PromptCache()
        self._state = state
        self._lock = threading.Lock()
        # id -> {"completion", "messages"}, in creation order
        self._stored: dict[str, dict] = state.completions() if state else {}

    def validate(self, body: Any) -> dict[str, Any]:
        """Check a request and work out what it costs; raises ApiError (400) on a bad request."""
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
        check_parameters(body)
        messages = _check_messages(body.get("messages"))
        field, labels = answer_spec(body.get("response_format"))
        check_strict_schema(body.get("response_format"))
        max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
        temperature = body.get("temperature")
        if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                        or not 0 <= temperature <= 2):
            raise ApiError(400, f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got "
                           f"{temperature} instead.", param="temperature", code="decimal_above_max_value")
        n = _positive_int(body, "n") or 1
        if n > 8:
            raise ApiError(400, "Invalid 'n': at most 8 choices are supported.", param="n")
        if body.get("stream"):
            raise ApiError(400, "Streaming is not supported by the offline provider.", param="stream")
        metadata = check_metadata(body.get("metadata"))
        plain = [{k: (_text_of(v) if k == "content" else v) for k, v in m.items()} for m in messages]
        prompt_ids = billing.prompt_ids(plain, model, body.get("response_format"))
        prompt_tokens = billing.PRIMING + len(prompt_ids)
        entry = self.registry.entry(model)
        effort = _check_reasoning(entry, body)
        if entry is not None:
            _check_window(entry, prompt_tokens, max_tokens)
        structured = body.get("response_format") if extraction.is_extraction(body.get("response_format")) else None
        return {"model": model, "messages": messages, "field": field, "labels": labels, "max_tokens": max_tokens,
                "extraction": structured, "response_format": body.get("response_format"),
                "n": n, "metadata": metadata, "prompt_tokens": prompt_tokens, "store": bool(body.get("store")),
                "reasoning_effort": effort, "prompt_ids": prompt_ids}

    def complete(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Answer a validated request (the model must exist)."""
        model_name = request["model"]
        entry = self.registry.entry(model_name)
        if entry is None:
            raise model_not_found(model_name)
        learner = entry.get()
        users = [m for m in request["messages"] if m.get("role") == "user"]
        text = _text_of(users[-1].get("content")) if users else ""
        labels = request["labels"]
        field = request["field"]
        if isinstance(learner, Judge):
            content = learner.reply(request["messages"], request.get("response_format"))
        elif request.get("extraction"):
            content = extraction.answer(request["extraction"], text, learner)
        elif field is None:
            content = learner.answer_text(text)
        else:
            if labels is None:
                label = learner.predict(text) or ""
            else:
                known = [l for l in labels if learner.knows(l)]
                label = (learner.predict(text, known) if known else None) or (labels[0] if labels else "")
            content = json.dumps({field: label}, ensure_ascii=False, separators=(",", ":"))
        finish = "stop"
        encoding = billing.encoding(model_name)
        ids = encoding.encode_ordinary(content)
        budget = request["max_tokens"]
        # A reasoning model thinks first; its reasoning tokens count against max_completion_tokens.
        reasoning = REASONING_TOKENS[request["reasoning_effort"]] if request.get("reasoning_effort") else 0
        if budget is not None:
            reasoning = min(reasoning, budget)
            budget -= reasoning
        if budget is not None and len(ids) > budget:
            ids = ids[:budget]
            content = encoding.decode(ids)
            finish = "length"
        message = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
        cached = self.prompt_cache.read(model_name, request.get("prompt_ids", ()))  # billing.PromptCache's rule
        completion = {
            "id": new_id("chatcmpl-", 29),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": [{"index": i, "message": dict(message), "logprobs": None, "finish_reason": finish}
                        for i in range(request["n"])],
            "usage": {
                "prompt_tokens": request["prompt_tokens"],
                "completion_tokens": (reasoning + len(ids)) * request["n"],
                "total_tokens": request["prompt_tokens"] + (reasoning + len(ids)) * request["n"],
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": reasoning * request["n"], "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_" + hashlib.sha1(model_name.encode()).hexdigest()[:10],
        }
        if request["metadata"] is not None:
            completion["metadata"] = request["metadata"]
        if request["store"]:
            record = {"completion": completion, "messages": request["messages"]}
            with self._lock:
                self._stored[completion["id"]] = record
                if self._state:
                    self._state.log_completion("put", completion["id"], record)
        return completion

    # --- stored completions --------------------------------------------------------------------
    def _get(self, completion_id: str) -> dict:
        with self._lock:
            stored = self._stored.get(completion_id)
        if stored is None:
            raise ApiError(404, f"No chat completion found with id '{completion_id}'.", code="not_found")
        return stored

    def list(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        wanted = query_metadata(query)
        model = query_value(query, "model")
        order = query_value(query, "order") or "asc"
        if order not in ("asc", "desc"):
            raise ApiError(400, "Invalid 'order': expected 'asc' or 'desc'.", param="order")
        with self._lock:
            items = [s["completion"] for s in self._stored.values()]
        items = [c for c in items if (model is None or c["model"] == model)
                 and all((c.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
        if order == "desc":
            items.reverse()
        return cursor_page(items, query)

    def retrieve(self, completion_id: str) -> dict[str, Any]:
        return self._get(completion_id)["completion"]

    def update(self, completion_id: str, body: Any) -> dict[str, Any]:
        completion = self._get(completion_id)["completion"]
        if not isinstance(body, dict) or "metadata" not in body:
            raise ApiError(400, "Missing required parameter: 'metadata'.", param="metadata")
        metadata = check_metadata(body["metadata"])
        with self._lock:
            completion["metadata"] = metadata
            if self._state:
                self._state.log_completion("put", completion_id, self._stored[completion_id])
        return completion

    def delete(self, completion_id: str) -> dict[str, Any]:
        self._get(completion_id)
        with self._lock:
            self._stored.pop(completion_id, None)
            if self._state:
                self._state.log_completion("delete", completion_id)
        return {"id": completion_id, "object": "chat.completion.deleted", "deleted": True}

    def messages(self, completion_id: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
        stored = self._get(completion_id)
        items = []
        for i, message in enumerate(stored["messages"]):
            item = {"id": f"{completion_id}-{i}", "role": message.get("role"),
                    "content": _text_of(message.get("content")), "content_parts": None}
            if isinstance(message.get("content"), list):
                item["content_parts"] = message["content"]
            if "name" in message:
                item["name"] = message["name"]
            items.append(item)
        if (query_value(query, "order") or "asc") == "desc":
            items.reverse()
        return cursor_page(items, query)


def model_not_found(model: str) -> ApiError:
    return ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found")
