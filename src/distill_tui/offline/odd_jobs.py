"""`--odd-jobs`: fine-tuning jobs as an odd provider (a proxy, a young compatible server) reports
them, with text where numbers belong and a multi-line error. Only what is answered changes; the
jobs themselves are trained as usual."""

from __future__ import annotations

import time
from typing import Any

FAILING_SUFFIX = "fail"
"""A job created with this suffix fails once trained, with `MULTILINE_ERROR`."""
MULTILINE_ERROR = ("Training failed.\nTraceback (most recent call last):\n  File \"trainer.py\", line 12, in step\n"
                   "RuntimeError: CUDA out of memory\n\n  Please contact support.")


def _iso(value: Any) -> Any:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value)) if isinstance(value, (int, float)) else value


def job(data: dict[str, Any]) -> dict[str, Any]:
    """A job object with its numbers written as text."""
    tokens = data.get("trained_tokens")
    data["trained_tokens"] = f"{tokens:,} tokens" if isinstance(tokens, int) else "pending"
    data["estimated_finish"] = "in a few minutes" if data.get("estimated_finish") else "unknown"
    data["created_at"] = _iso(data.get("created_at"))
    data["finished_at"] = _iso(data.get("finished_at"))
    data["seed"] = f"seed {data.get('seed')}"
    hyper = data.get("hyperparameters") or {}
    if isinstance(hyper.get("n_epochs"), int):
        hyper["n_epochs"] = f"{hyper['n_epochs']} epochs"
    return data


def event(data: dict[str, Any]) -> dict[str, Any]:
    """An event whose metrics are text (one of them not a number at all)."""
    metrics = data.get("data")
    if data.get("type") == "metrics" and isinstance(metrics, dict):
        data["data"] = {key: ("n/a" if key == "train_mean_token_accuracy" else str(value))
                        for key, value in metrics.items()}
    return data


def checkpoint(data: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint with its step and metrics as text."""
    data["step_number"] = str(data.get("step_number"))
    data["metrics"] = {key: "n/a" if value is None else str(value) for key, value in (data.get("metrics") or {}).items()}
    return data
