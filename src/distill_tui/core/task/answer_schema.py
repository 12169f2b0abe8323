"""The JSON schema of an extraction task's answers: loaded from the spec, checked against the rules of
OpenAI's Structured Outputs (strict mode) before anything is sent, and used to validate each answer.

The rules are those of the Structured Outputs guide's "Supported schemas" section
(platform.openai.com/docs/guides/structured-outputs#supported-schemas): the root is an object (not
`anyOf`); every object sets `additionalProperties: false` and lists every property in `required`;
types are string, number, integer, boolean, object, array, null (and lists of them) or `anyOf`; the
keywords are those the guide lists (pattern and format for strings; minimum, maximum, the exclusive
bounds and multipleOf for numbers; minItems and maxItems for arrays; enum, const, $ref and $defs);
at most 5,000 object properties, 10 levels of nesting, 1,000 enum values, 120,000 characters of
names and values, and 15,000 characters of values in an enum of more than 250 values. A schema that
breaks one is refused by the provider on every request, so the spec is refused at load instead.

Answers are validated with `jsonschema` (Draft 2020-12), the maintained reference implementation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from distill_tui.core.common.plain_file import not_a_plain_file

MAX_PROPERTIES = 5_000
MAX_DEPTH = 10
MAX_ENUM_VALUES = 1_000
MAX_CHARS = 120_000
LARGE_ENUM_VALUES = 250
LARGE_ENUM_MAX_CHARS = 15_000
MAX_SCHEMA_BYTES = 1 << 20

TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
ANNOTATIONS = frozenset({"title", "description", "$comment"})
KEYWORDS = {
    "any": frozenset({"type", "enum", "const", "anyOf", "$ref", "$defs", "definitions"}) | ANNOTATIONS,
    "string": frozenset({"pattern", "format"}),
    "number": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}),
    "object": frozenset({"properties", "required", "additionalProperties"}),
    "array": frozenset({"items", "minItems", "maxItems"}),
}
KEYWORDS["integer"] = KEYWORDS["number"]


class SchemaProblem(ValueError):
    """Why a schema cannot be used (one line, without the spec's name: the caller adds it)."""


def load(value: str | dict[str, Any], base: Path) -> dict[str, Any]:
    """The schema a spec's `[prompt] schema` names: a JSON file (relative to `base`) or an inline table.

    Raises:
        SchemaProblem: the file cannot be read or is not a JSON object.
    """
    if isinstance(value, dict):
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        problem = not_a_plain_file(path, MAX_SCHEMA_BYTES)  # as for the spec: a FIFO would never finish reading
        if problem:
            raise SchemaProblem(f"{path} {problem}, not a JSON schema file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaProblem(f"file {path} not found") from None
    except IsADirectoryError:
        raise SchemaProblem(f"{path} is a folder, not a JSON schema file") from None
    except UnicodeDecodeError:
        raise SchemaProblem(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise SchemaProblem(f"cannot read {path} ({exc.strerror or exc})") from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaProblem(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(schema, dict):
        raise SchemaProblem(f"{path} holds a JSON {type(schema).__name__}, not a schema object")
    return schema


def _where(path: tuple[str, ...]) -> str:
    return "/".join(path) or "the root"


def _types(node: dict[str, Any]) -> list[str]:
    kind = node.get("type")
    return [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, list) else []


def _children(node: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[dict[str, Any], tuple[str, ...], bool]]:
    """(subschema, its path, whether it is one level deeper) for each subschema of `node`."""
    for key in ("properties", "$defs", "definitions"):
        for name, child in (node.get(key) or {}).items():
            yield child, path + (key, name), key == "properties"
    if "items" in node:
        yield node["items"], path + ("items",), True
    for i, child in enumerate(node.get("anyOf") or []):
        yield child, path + ("anyOf", str(i)), False


def check_strict(schema: dict[str, Any]) -> None:
    """Refuse a schema that Structured Outputs in strict mode would refuse (see the module docstring).

    Raises:
        SchemaProblem: naming where in the schema and what is wrong, in one line.
    """
    if schema.get("type") != "object" or "anyOf" in schema:
        raise SchemaProblem('the root must be an object ("type": "object"), not anyOf or another type')
    totals = {"properties": 0, "enum_values": 0, "chars": 0}

    def visit(node: Any, path: tuple[str, ...], depth: int) -> None:
        if not isinstance(node, dict):
            raise SchemaProblem(f"{_where(path)}: a subschema must be a JSON object, not {json.dumps(node)[:40]}")
        if depth > MAX_DEPTH:
            raise SchemaProblem(f"{_where(path)}: more than {MAX_DEPTH} levels of nesting (the provider's limit)")
        kinds = _types(node)
        unknown = [k for k in kinds if k not in TYPES]
        if unknown or ("type" in node and not kinds):
            raise SchemaProblem(f"{_where(path)}: type {node.get('type')!r} is not one of {', '.join(sorted(TYPES))}")
        if not kinds and not {"anyOf", "$ref", "enum", "const"} & node.keys():
            raise SchemaProblem(f"{_where(path)}: no type (give \"type\", \"anyOf\", \"enum\" or \"$ref\")")
        allowed = KEYWORDS["any"].union(*(KEYWORDS.get(k, frozenset()) for k in kinds))
        for key in node:
            if key not in allowed:
                what = f"for type {'/'.join(kinds)} " if kinds else ""
                raise SchemaProblem(f"{_where(path)}: keyword '{key}' is not supported {what}by Structured Outputs "
                                    "in strict mode")
        if "object" in kinds:
            props = node.get("properties")
            if not isinstance(props, dict):
                raise SchemaProblem(f"{_where(path)}: an object needs \"properties\" (a table of its fields)")
            if node.get("additionalProperties") is not False:
                raise SchemaProblem(f"{_where(path)}: every object needs \"additionalProperties\": false")
            required = node.get("required")
            missing = [name for name in props if not isinstance(required, list) or name not in required]
            if missing:
                raise SchemaProblem(f"{_where(path)}: \"required\" must list every property; '{missing[0]}' is "
                                    "missing (make a field optional with \"type\": [\"string\", \"null\"])")
            extra = [name for name in required if name not in props]
            if extra:
                raise SchemaProblem(f"{_where(path)}: \"required\" names '{extra[0]}', which is not a property")
            totals["properties"] += len(props)
            totals["chars"] += sum(len(name) for name in props)
        if "array" in kinds and not isinstance(node.get("items"), dict):
            raise SchemaProblem(f"{_where(path)}: an array needs \"items\" (the schema of its elements)")
        if "anyOf" in node and not (isinstance(node["anyOf"], list) and node["anyOf"]):
            raise SchemaProblem(f"{_where(path)}: anyOf must be a non-empty list of schemas")
        for key in ("$defs", "definitions"):
            if key in node:
                if not isinstance(node[key], dict):
                    raise SchemaProblem(f"{_where(path)}: {key} must be a table of schemas")
                totals["chars"] += sum(len(name) for name in node[key])
        if "enum" in node:
            values = node["enum"]
            if not isinstance(values, list) or not values:
                raise SchemaProblem(f"{_where(path)}: enum must be a non-empty list")
            totals["enum_values"] += len(values)
            chars = sum(len(str(v)) for v in values)
            totals["chars"] += chars
            if len(values) > LARGE_ENUM_VALUES and chars > LARGE_ENUM_MAX_CHARS:
                raise SchemaProblem(f"{_where(path)}: an enum of more than {LARGE_ENUM_VALUES} values takes at most "
                                    f"{LARGE_ENUM_MAX_CHARS:,} characters; this one has {chars:,}")
        if "const" in node:
            totals["chars"] += len(str(node["const"]))
        if "$ref" in node:
            _check_ref(schema, node["$ref"], path)
        for child, child_path, deeper in _children(node, path):
            visit(child, child_path, depth + deeper)

    visit(schema, (), 1)
    _check_values(schema)
    if totals["properties"] > MAX_PROPERTIES:
        raise SchemaProblem(f"{totals['properties']:,} object properties; the provider takes at most {MAX_PROPERTIES:,}")
    if totals["enum_values"] > MAX_ENUM_VALUES:
        raise SchemaProblem(f"{totals['enum_values']:,} enum values; the provider takes at most {MAX_ENUM_VALUES:,}")
    if totals["chars"] > MAX_CHARS:
        raise SchemaProblem(f"{totals['chars']:,} characters of names and values; the provider takes at most "
                            f"{MAX_CHARS:,}")


def _check_values(schema: dict[str, Any]) -> None:
    """Refuse keyword values JSON Schema itself rejects (a pattern that is no regular expression, a bound
    that is no number…): the provider refuses them, and validating an answer against them would fail."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = _where(tuple(str(p) for p in error.absolute_path))
        if error.validator == "format" and error.validator_value == "regex":
            raise SchemaProblem(f"{where}: {error.instance!r} is not a valid regular expression") from None
        raise SchemaProblem(f"{where}: {' '.join(error.message.split())[:160]}") from None


def _check_ref(schema: dict[str, Any], ref: Any, path: tuple[str, ...]) -> None:
    """Refuse a `$ref` the provider cannot follow: one outside the schema, or one that points to nothing."""
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    if not isinstance(ref, str) or not ref.startswith("#"):
        raise SchemaProblem(f"{_where(path)}: $ref {ref!r} must point inside the schema, e.g. \"#/$defs/NAME\"")
    try:
        Registry().with_resource("", DRAFT202012.create_resource(schema)).resolver().lookup(ref)
    except Unresolvable:
        raise SchemaProblem(f"{_where(path)}: $ref {ref!r} points to nothing in the schema") from None


def describe(error: Any) -> str:
    """One line for a `jsonschema.ValidationError`: where in the answer, and what is wrong."""
    where = "/".join(str(p) for p in error.absolute_path)
    message = " ".join(error.message.split())
    message = message if len(message) <= 160 else message[:159] + "…"
    return f"does not follow the schema{f' at {where}' if where else ''}: {message}"


def canonical(value: Any) -> str:
    """One text per JSON value whatever its spacing and key order (how answers and references compare)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
