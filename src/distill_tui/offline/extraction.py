"""Structured answers: a JSON value for a strict json_schema, each field from its own learned classifier.

A field's classifier (see `Mind.fields`) is named by the field's path ("grape", "wine.grape" when
nested). A field no classifier has learned gets the schema's plainest valid value (the first enum
value, "", 0, false, null, []), so every answer validates against the schema, as Structured Outputs
guarantees, even when it is wrong.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from distill_tui.offline.mind import Mind

_MAX_DEPTH = 8


def is_extraction(response_format: Any) -> bool:
    """A json_schema response format asking for a record: several fields, or one that is not a plain
    string (one string field, usually an enum of labels, is classification)."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return False
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or not properties:
        return False
    if len(properties) > 1:
        return True
    only = _resolve(next(iter(properties.values())), schema)
    return not isinstance(only, dict) or _types(only) != ["string"] or any(k in only for k in ("anyOf", "oneOf"))


def answer(response_format: Mapping[str, Any], text: str, mind: Mind) -> str:
    """The JSON text answering `text` under the response format's schema."""
    schema = response_format["json_schema"]["schema"]
    value = _value(schema, schema, "", text, mind, 0)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _resolve(node: Any, root: Mapping[str, Any]) -> Any:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    for part in ref[2:].split("/"):
        root = root.get(part, {}) if isinstance(root, dict) else {}
    return root


def _types(node: Mapping[str, Any]) -> list[str]:
    kind = node.get("type")
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    if isinstance(kind, str):
        return [kind]
    if "properties" in node:
        return ["object"]
    return ["string"]


def _value(node: Any, root: Mapping[str, Any], path: str, text: str, mind: Mind, depth: int) -> Any:
    node = _resolve(node, root)
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return None
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list) and node[key]:
            branches = [_resolve(b, root) for b in node[key]]
            usable = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"] or branches
            return _value(usable[0], root, path, text, mind, depth + 1)
    types = _types(node)
    if "object" in types:
        properties = node.get("properties") or {}
        return {name: _value(sub, root, f"{path}.{name}" if path else name, text, mind, depth + 1)
                for name, sub in properties.items()}
    if "array" in types:
        return _parsed(mind.field(path, text), list, [])
    enum = node.get("enum")
    if isinstance(enum, list) and enum:
        options = [json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v for v in enum]
        guess = mind.field(path, text, options)
        return enum[options.index(guess)] if guess in options else enum[0]
    guess = mind.field(path, text)
    if "string" in types:
        return guess if guess is not None else ("" if "null" not in types else None)
    if "integer" in types:
        number = _parsed(guess, (int, float), None)
        return int(number) if number is not None else (None if "null" in types else 0)
    if "number" in types:
        return _parsed(guess, (int, float), None) if guess is not None else (None if "null" in types else 0)
    if "boolean" in types:
        return _parsed(guess, bool, None if "null" in types else False)
    return None


def _parsed(guess: str | None, kinds: type | tuple[type, ...], default: Any) -> Any:
    if guess is None:
        return default
    try:
        value = json.loads(guess)
    except ValueError:
        return default
    return value if isinstance(value, kinds) and not (kinds is not bool and isinstance(value, bool)) else default
