"""Saving an edited spec back to its TOML file, touching only the keys that changed, so the user's
comments, layout and multi-line prompts survive (the TUI edits specs in place; Ctrl+S saves)."""

from __future__ import annotations

import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

from distill_tui.core.common.errors import SpecError
from distill_tui.core.task.spec import FinetuneSpec, GenerationSpec, ProviderSpec, ServeSpec, TaskSpec, parse_spec


def save_spec(spec: TaskSpec, path: str | Path | None = None) -> Path:
    """Write a spec back as TOML (to its own file unless `path` is given).

    Only the keys whose values changed are touched: the user's comments, layout, multi-line strings
    and the keys they left to their defaults stay as they wrote them.
    """
    import tomlkit

    target = Path(path) if path else spec.source
    new = spec.to_toml_dict()
    try:
        text = target.read_text(encoding="utf-8")
        document = tomlkit.parse(text)
        old = parse_spec(tomllib.loads(text), target).to_toml_dict()
    except (OSError, ValueError, SpecError):  # ValueError: bad UTF-8 or TOML (tomllib and tomlkit)
        # No usable file there: write the spec whole, leaving out keys that keep their defaults.
        document, old = tomlkit.document(), {}
        new = _without_defaults(new)
    if old.get("graders") != new.get("graders"):  # an array of tables: written whole when it changed
        _set_graders(document, new.get("graders"))
    for section, values in new.items():
        if section == "graders":
            continue
        before = old.get(section, {})
        for key, value in values.items():
            if key in before and before[key] == value:
                continue
            if section not in document:
                document.add(section, tomlkit.table())
            document[section][key] = value
        for key in before:
            if key not in values and section in document and key in document[section]:
                del document[section][key]
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(tomlkit.dumps(document), encoding="utf-8")
    tmp.replace(target)
    return target


def _set_graders(document: Any, graders: list[dict[str, Any]] | None) -> None:
    import tomlkit

    if graders is None:  # the kind's defaults again
        document.pop("graders", None)
        return
    tables = tomlkit.aot()
    for grader in graders:
        tables.append(tomlkit.item(grader))
    document["graders"] = tables


def _without_defaults(data: dict[str, Any]) -> dict[str, Any]:
    defaults = {
        "generation": asdict(GenerationSpec()), "finetune": asdict(FinetuneSpec()), "provider": asdict(ProviderSpec()),
        "serve": asdict(ServeSpec()),
        "dataset": {"seed": 42, "eval_fraction": 0.3}, "prompt": {"system": "", "structured": True},
    }
    out: dict[str, Any] = {}
    for section, values in data.items():
        if not isinstance(values, dict):  # [[graders]]: kept whole
            out[section] = values
            continue
        kept = {k: v for k, v in values.items() if defaults.get(section, {}).get(k, object()) != v}
        if kept:
            out[section] = kept
    return out
