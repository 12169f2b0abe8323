"""Reading values out of what a provider sent, never trusting their shape.

A provider's JSON is data, not a contract: a compatible server or a proxy may send `"trained_tokens":
"n/a"`, an ISO date where the API sends unix seconds, a list where a string belongs, or an error
message over several lines. Each reader here returns the value in the type the app works with, or
None when the provider sent something else, so nothing downstream crashes on a provider's shape.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from distill_tui.core.provider.api_errors import one_line


def as_float(value: Any) -> float | None:
    """A finite number, from a number or a numeric string ("0.53"); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def as_int(value: Any) -> int | None:
    """A whole number, from an integer or an integral float/string ("1200", 3.0); None otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = as_float(value)
    return int(number) if number is not None and number.is_integer() else None


def as_time(value: Any) -> float | None:
    """Unix seconds, from a number or an ISO-8601 date ("2026-12-01T10:00:00Z"); None otherwise."""
    number = as_float(value)
    if number is not None:
        return number if number > 0 else None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def as_text(value: Any, limit: int = 500) -> str | None:
    """Provider text on one line (whitespace folded, cut at `limit`); None for None or empty text."""
    if value is None:
        return None
    text = one_line(value, limit)
    return text or None


def as_metrics(data: Any) -> dict[str, Any] | None:
    """Metrics as numbers: `step` an integer, every other value a float; values that are not
    numbers are left out. None when `data` is not a mapping."""
    if not isinstance(data, dict):
        return None
    out: dict[str, Any] = {}
    for key, value in data.items():
        number = as_int(value) if key == "step" else as_float(value)
        if number is not None:
            out[str(key)] = number
    return out
