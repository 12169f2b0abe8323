"""What models and providers accept, as dated data: the bundled `models.toml` plus a user's overrides.

Like prices (`pricing.py`), every figure comes with the date it was read and its source. A model in
neither table has no known limits, and nothing is checked for it: "unknown" is never a guess.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from distill_tui.core.common.errors import UserError
from distill_tui.core.cost.pricing import read_toml
from distill_tui.core.task.requests import ModelRules

_MODEL_INTS = ("context_window", "max_output_tokens")
_THROUGHPUTS = ("train_tokens_per_s", "serve_tokens_per_s")  # self-hosted, one GPU (see selfhosted.py)
_SAMPLING = ("temperature", "top_p")
_STRUCTURED_INTS = ("max_enum_values", "large_enum_values", "large_enum_max_chars", "max_schema_chars")


@dataclass(frozen=True)
class ModelLimits:
    """What one model accepts per request (None: not known)."""

    model: str
    context_window: int | None
    max_output_tokens: int | None
    as_of: str
    source: str


@dataclass(frozen=True)
class StructuredOutputLimits:
    """A provider's limits on a strict json_schema response format."""

    provider: str  # in words, e.g. "OpenAI"
    max_enum_values: int | None
    large_enum_values: int | None
    large_enum_max_chars: int | None
    max_schema_chars: int | None
    as_of: str
    source: str


@dataclass
class ModelTable:
    """Every model's and provider's known limits, with the date and source they were read from."""

    as_of: str
    source: str
    models: dict[str, dict[str, Any]]
    providers: dict[str, dict[str, Any]]
    user_file: Path | None = None

    def _entry(self, name: str) -> dict[str, Any] | None:
        if name in self.models:
            return self.models[name]
        return next((e for e in self.models.values() if name in e.get("aliases", ())), None)

    def entry(self, model: str) -> dict[str, Any] | None:
        """The raw entry of `model` (by name or alias; `ft:` names take their base's); None if not listed."""
        return self._entry(model[3:].split(":", 1)[0] if model.startswith("ft:") else model)

    def limits(self, model: str) -> ModelLimits | None:
        """The limits of `model` (`ft:` names take their base model's); None when it is not listed."""
        base = model[3:].split(":", 1)[0] if model.startswith("ft:") else model
        entry = self._entry(base)
        if entry is None:
            return None
        return ModelLimits(model, entry.get("context_window"), entry.get("max_output_tokens"),
                           str(entry.get("as_of", self.as_of)), str(entry.get("source", self.source)))

    def rules(self, model: str) -> ModelRules:
        """What a request to `model` may carry (`ft:` names take their base's); a model not listed, or a
        key left out, is not known, and nothing is left out of its requests."""
        entry = self.entry(model) or {}
        sampling = entry.get("sampling")
        return ModelRules(reasoning=entry.get("reasoning") is True,
                          sampling=None if sampling is None else frozenset(sampling))

    def reasoning_tokens(self, model: str, effort: str) -> int | None:
        """Reasoning tokens `model` spends per request at `effort`, where models.toml knows them (its
        `reasoning_tokens` table); None: not known."""
        value = (self.entry(model) or {}).get("reasoning_tokens", {}).get(effort)
        return value if isinstance(value, int) else None

    def smallest_context_window(self) -> int | None:
        """The smallest context window of any listed model (None: none is known)."""
        return min((e["context_window"] for e in self.models.values() if e.get("context_window")), default=None)

    def structured_outputs(self, provider: str) -> StructuredOutputLimits | None:
        """The structured-output limits of a provider family ("openai", "azure", …); None when unknown."""
        entry = self.providers.get(provider) or {}
        limits = entry.get("structured_outputs")
        if not isinstance(limits, dict):
            return None
        return StructuredOutputLimits(
            str(entry.get("name", provider)), *(limits.get(k) for k in _STRUCTURED_INTS),
            as_of=str(limits.get("as_of", entry.get("as_of", self.as_of))),
            source=str(limits.get("source", entry.get("source", self.source))),
        )


def _positive_ints(table: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UserError(f"{where} {key} must be a whole number of at least 1, not {value!r}")


def _validate(data: dict[str, Any], path: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    models, providers = data.get("models", {}), data.get("providers", {})
    for what, table in (("models", models), ("providers", providers)):
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise UserError(f"{path}: [{what}] must be a table of tables, one per name")
    for name, entry in models.items():
        _positive_ints(entry, _MODEL_INTS, f"{path}: [models.\"{name}\"]")
        for key in _THROUGHPUTS:
            value = entry.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise UserError(f"{path}: [models.\"{name}\"] {key} must be a number of tokens per second above 0, "
                                f"not {value!r}")
        for key in ("reasoning", "structured_outputs"):
            if key in entry and not isinstance(entry[key], bool):
                raise UserError(f"{path}: [models.\"{name}\"] {key} must be true or false, not {entry[key]!r}")
        sampling = entry.get("sampling", [])
        if not isinstance(sampling, list) or any(s not in _SAMPLING for s in sampling):
            raise UserError(f"{path}: [models.\"{name}\"] sampling must be a list of {' and '.join(_SAMPLING)} "
                            f"(or [] for none), not {sampling!r}")
        spent = entry.get("reasoning_tokens", {})
        if not isinstance(spent, dict) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0
                                              for v in spent.values()):
            raise UserError(f"{path}: [models.\"{name}\"] reasoning_tokens must be a table of reasoning_effort = "
                            f"tokens per request (whole numbers), not {spent!r}")
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise UserError(f"{path}: [models.\"{name}\"] aliases must be a list of model names")
    for name, entry in providers.items():
        limits = entry.get("structured_outputs", {})
        if not isinstance(limits, dict):
            raise UserError(f"{path}: [providers.{name}] structured_outputs must be a table")
        _positive_ints(limits, _STRUCTURED_INTS, f"{path}: [providers.{name}.structured_outputs]")
    return models, providers


def load_models(user_file: Path | None = None) -> ModelTable:
    """The bundled table, updated field by field from the user's `models.toml` if it exists."""
    text = resources.files("distill_tui.data").joinpath("models.toml").read_text(encoding="utf-8")
    bundled = tomllib.loads(text)
    models, providers = _validate(bundled, "models.toml")
    models = {k: dict(v) for k, v in models.items()}
    providers = {k: {**v, "structured_outputs": dict(v.get("structured_outputs", {}))} for k, v in providers.items()}
    as_of, source = str(bundled["as_of"]), str(bundled["source"])
    if user_file is None:
        from distill_tui import locations

        user_file = locations.user_models_file()
    used = None
    if user_file.is_file():
        data = read_toml(user_file, "model file")
        user_models, user_providers = _validate(data, str(user_file))
        for name, entry in user_models.items():
            models.setdefault(name, {}).update({"source": f"your file {user_file}", **entry})
        for name, entry in user_providers.items():
            target = providers.setdefault(name, {"structured_outputs": {}})
            target["structured_outputs"].update({"source": f"your file {user_file}",
                                                 **entry.get("structured_outputs", {})})
            target.update({k: v for k, v in entry.items() if k != "structured_outputs"})
        used = user_file
    return ModelTable(as_of=as_of, source=source, models=models, providers=providers, user_file=used)
