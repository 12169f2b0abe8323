"""Chat-completions requests the real API refuses before answering, refused here the same way.

Unknown body parameters, and a strict json_schema response format that breaks the Structured
Outputs rules ("Supported schemas": every object has `additionalProperties: false` and lists all
its properties in `required`; at most 1,000 enum values in a schema, and at most 15,000 characters
of values in a string enum of more than 250 values).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from distill_tui.offline.common import ApiError

# Every body parameter of `client.chat.completions.create` in openai 3.60 (what the SDK may send).
CHAT_PARAMETERS = frozenset({
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "moderation", "n", "parallel_tool_calls",
    "prediction", "presence_penalty", "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention",
    "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
    "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
    "web_search_options",
})
MAX_ENUM_VALUES = 1000
LARGE_ENUM_VALUES = 250
LARGE_ENUM_MAX_CHARS = 15000


def check_parameters(body: Mapping[str, Any]) -> None:
    """400 for body keys the API does not know, worded as OpenAI words it."""
    unknown = [key for key in body if key not in CHAT_PARAMETERS]
    if len(unknown) == 1:
        raise ApiError(400, f"Unrecognized request argument supplied: {unknown[0]}")
    if unknown:
        raise ApiError(400, f"Unrecognized request arguments supplied: {', '.join(sorted(unknown))}")


def _nodes(node: Any, context: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict]]:
    """Every subschema with its context (the keys leading to it, as OpenAI's messages show them)."""
    if not isinstance(node, dict):
        return
    yield context, node
    for key in ("properties", "$defs", "definitions"):
        children = node.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                yield from _nodes(child, context + (key, name))
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], context + ("items",))
    for key in ("anyOf", "allOf", "prefixItems"):
        if isinstance(node.get(key), list):
            for i, child in enumerate(node[key]):
                yield from _nodes(child, context + (key, str(i)))


def _is_object(node: dict) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def check_strict_schema(response_format: Any) -> None:
    """400 for a strict json_schema response format that Structured Outputs does not support."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or spec.get("strict") is not True or not isinstance(spec.get("schema"), dict):
        return
    prefix = f"Invalid schema for response_format '{spec.get('name')}': "

    def refuse(message: str) -> ApiError:
        # Chat completions answer these with code null (the Responses API says invalid_json_schema).
        return ApiError(400, prefix + message, param="response_format")

    nodes = list(_nodes(spec["schema"]))
    for context, node in nodes:
        if not _is_object(node):
            continue
        if node.get("additionalProperties") is not False:
            raise refuse(f"In context={context!r}, 'additionalProperties' is required to be supplied and to be false.")
        properties = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        required = node.get("required")
        missing = [name for name in properties if not isinstance(required, list) or name not in required]
        if missing:
            raise refuse(f"In context={context!r}, 'required' is required to be supplied and to be an array "
                         f"including every key in properties. Missing '{missing[0]}'.")
        extra = [name for name in required or [] if name not in properties]
        if extra:
            raise refuse(f"In context={context!r}, Extra required key '{extra[0]}' supplied.")
    enums = [(context, node["enum"]) for context, node in nodes if isinstance(node.get("enum"), list)]
    count = sum(len(values) for _, values in enums)
    if count > MAX_ENUM_VALUES:
        raise refuse(f"The schema has {count} enum values in total, over the limit of {MAX_ENUM_VALUES}.")
    for context, values in enums:
        chars = sum(len(v) for v in values if isinstance(v, str))
        if len(values) > LARGE_ENUM_VALUES and chars > LARGE_ENUM_MAX_CHARS:
            raise refuse(f"In context={context!r}, an enum of more than {LARGE_ENUM_VALUES} values may hold at most "
                         f"{LARGE_ENUM_MAX_CHARS} characters of values; this one has {len(values)} values and "
                         f"{chars} characters.")
