"""Prices as dated data: the bundled table plus a user's overrides, and the cost arithmetic.

A model that is in neither table has no price: callers show its tokens and say the price is unknown,
never a guess.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from distill_tui.core.common.errors import UserError

PER = 1_000_000
_PRICE_KEYS = (
    "input", "cached_input", "output", "batch_input", "batch_output", "training",
    "ft_input", "ft_cached_input", "ft_output", "ft_batch_input", "ft_batch_output", "flex_input", "flex_output",
)


@dataclass(frozen=True)
class ModelPrice:
    """USD per 1M tokens for one model as called (a fine-tuned model gets its base's ft_ prices)."""

    model: str
    input: float | None = None
    cached_input: float | None = None
    output: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    flex_input: float | None = None  # the flex service tier; None where the model does not offer it
    flex_output: float | None = None
    training: float | None = None
    shutdown_date: str | None = None
    training_example_max_tokens: int | None = None
    note: str | None = None

    def cost(self, input_tokens: int, output_tokens: int, *, batch: bool = False, cached_tokens: int = 0,
             flex: bool = False) -> float | None:
        """Cost of a call; None when this table lacks a price that is needed. `flex`: the flex tier,
        whose cached input is priced as its fresh input (no flex cached-input price is published)."""
        inp, out = (self.batch_input, self.batch_output) if batch else (self.input, self.output)
        if flex:
            inp, out = self.flex_input, self.flex_output
        if inp is None or out is None:
            return None
        cached_price = self.cached_input if (self.cached_input is not None and not batch and not flex) else inp
        fresh = max(0, input_tokens - cached_tokens)
        return (fresh * inp + cached_tokens * cached_price + output_tokens * out) / PER

    def training_cost(self, trained_tokens: int) -> float | None:
        if self.training is None:
            return None
        return trained_tokens * self.training / PER


@dataclass
class PriceTable:
    """All known prices, with the date and source they were read from."""

    as_of: str
    source: str
    entries: dict[str, dict[str, Any]]
    user_file: Path | None = None
    self_hosted: dict[str, Any] = field(default_factory=dict)  # the user's [self_hosted] gpu_hour_usd, as_of

    def _entry(self, name: str) -> tuple[str, dict[str, Any]] | None:
        if name in self.entries:
            return name, self.entries[name]
        for key, entry in self.entries.items():
            if name in entry.get("aliases", ()):
                return key, entry
        return None

    def price(self, model: str) -> ModelPrice | None:
        """The price of calling `model`, resolving snapshots and `ft:` names; None if unknown."""
        fine_tuned = model.startswith("ft:")
        base = model[3:].split(":", 1)[0] if fine_tuned else model
        found = self._entry(base)
        if found is None:
            return None
        _, entry = found
        prefix = "ft_" if fine_tuned else ""
        values = {key: entry.get(prefix + key) for key in ("input", "cached_input", "output", "batch_input", "batch_output")}
        if not fine_tuned:
            values.update(flex_input=entry.get("flex_input"), flex_output=entry.get("flex_output"))
        if all(v is None for v in values.values()):
            return None
        return ModelPrice(
            model=model,
            training=entry.get("training"),
            shutdown_date=entry.get("shutdown_date"),
            training_example_max_tokens=entry.get("training_example_max_tokens"),
            note=entry.get("note"),
            **values,
        )

    def training_price(self, base_model: str) -> float | None:
        found = self._entry(base_model[3:].split(":", 1)[0] if base_model.startswith("ft:") else base_model)
        return None if found is None else found[1].get("training")

    def shutdown_date(self, model: str) -> str | None:
        base = model[3:].split(":", 1)[0] if model.startswith("ft:") else model
        found = self._entry(base)
        return None if found is None else found[1].get("shutdown_date")


def format_usd(value: float | None, *, unknown: str = "unknown") -> str:
    """Dollars with enough digits for small runs: $0.0123 under a dollar, $12.34 above."""
    if value is None:
        return unknown
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def shutdown_warning(model: str, shutdown_date: str | None, today: dt.date | None = None) -> str | None:
    """A warning line for a model with a known shutdown date."""
    if not shutdown_date:
        return None
    today = today or dt.date.today()
    try:
        when = dt.date.fromisoformat(shutdown_date)
    except ValueError:
        return f"{model}: shutdown date {shutdown_date}"
    if when <= today:
        return f"{model} was shut down on {shutdown_date}: calls will fail"
    days = (when - today).days
    return f"{model} shuts down on {shutdown_date} (in {days} days)"


def read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read {what}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {what} is not valid TOML: {exc}") from None


def _validate(models: Any, path: str) -> dict[str, dict[str, Any]]:
    if not isinstance(models, dict):
        raise UserError(f"{path}: [models] must be a table of model names")
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise UserError(f"{path}: [models.\"{name}\"] must be a table")
        for key, value in entry.items():
            if key in _PRICE_KEYS and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                raise UserError(f"{path}: [models.\"{name}\"] {key} must be a price in USD per 1M tokens, not {value!r}")
    return models


def load_prices(user_file: Path | None = None) -> PriceTable:
    """The bundled table, updated field by field from the user's price file if it exists."""
    bundled = tomllib.loads(resources.files("distill_tui.data").joinpath("prices.toml").read_text(encoding="utf-8"))
    entries = {k: dict(v) for k, v in _validate(bundled.get("models", {}), "prices.toml").items()}
    as_of, source = bundled["as_of"], bundled["source"]
    if user_file is None:
        from distill_tui import locations

        user_file = locations.user_prices_file()
    used, self_hosted = None, {}
    if user_file.is_file():
        data = read_toml(user_file, "price file")
        for name, entry in _validate(data.get("models", {}), str(user_file)).items():
            entries.setdefault(name, {}).update(entry)
        if "as_of" in data:
            as_of = f"{data['as_of']} (your file) / {as_of}"
        self_hosted = _validate_self_hosted(data.get("self_hosted", {}), str(user_file))
        self_hosted.setdefault("as_of", data.get("as_of"))
        used = user_file
    return PriceTable(as_of=str(as_of), source=str(source), entries=entries, user_file=used, self_hosted=self_hosted)


def _validate_self_hosted(table: Any, path: str) -> dict[str, Any]:
    """`[self_hosted] gpu_hour_usd = 2.5` (USD per GPU-hour of the user's machine), optionally dated."""
    if not isinstance(table, dict):
        raise UserError(f"{path}: [self_hosted] must be a table (gpu_hour_usd = 2.5, as_of = \"YYYY-MM-DD\")")
    value = table.get("gpu_hour_usd")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        raise UserError(f"{path}: [self_hosted] gpu_hour_usd must be a price in USD per GPU-hour, not {value!r}")
    return dict(table)


def auto_epochs(n_examples: int) -> int:
    """OpenAI's default epoch count for `n_epochs = "auto"` (cookbook Chat_finetuning_data_prep).

    3 epochs, raised so that at least 100 examples are seen and lowered so that at most 25,000 are,
    within 1 to 25 epochs.
    """
    if n_examples <= 0:
        return 0
    epochs = 3
    if n_examples * epochs < 100:
        epochs = min(25, 100 // n_examples)
    elif n_examples * epochs > 25_000:
        epochs = max(1, 25_000 // n_examples)
    return epochs
