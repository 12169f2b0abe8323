"""The keys each spec section takes, and the TOML type of each (checked by `spec.parse_spec`)."""

from __future__ import annotations

from typing import Any

# The TOML type each key must have. "auto" marks keys that also take the string "auto".
TYPES: dict[str, dict[str, tuple[type, ...] | str]] = {
    "dataset": {
        "path": (str,), "label": (str,), "reference": (str,), "filter": (str,), "min_per_label": (int,),
        "sample": (int,), "seed": (int,), "eval_fraction": (int, float),
    },
    "prompt": {"user": (str,), "system": (str,), "structured": (bool,), "answer_field": (str,), "schema": (str, dict)},
    "teacher": {"model": (str,), "reasoning_effort": (str,), "service_tier": (str,)},
    "student": {"model": (str,), "reasoning_effort": (str,)},
    "generation": {
        "workers": (int,), "max_tokens": (int,), "store": (bool,), "metadata": (dict,), "budget_usd": (int, float),
        "temperature": (int, float), "rpm": (int,), "tpm": (int,), "max_retries": (int,),
        "give_up_after_s": (int, float),
    },
    "finetune": {
        "n_epochs": "auto-int", "batch_size": "auto-int", "learning_rate_multiplier": "auto-float",
        "suffix": (str,), "seed": (int,), "validation_fraction": (int, float),
        "backend": (str,), "method": (str,), "lora_r": (int,), "lora_alpha": (int,), "lora_dropout": (int, float),
        "lora_targets": (str, list), "max_seq_length": (int,), "packing": (bool,), "learning_rate": (int, float),
        "gradient_accumulation": (int,), "device": (str,), "num_gpus": (int,), "merge": (bool,),
        "logging_steps": (int,), "save_steps": (int,), "gpu_hour_usd": (int, float), "accelerate_config": (str,),
    },
    "provider": {
        "kind": (str,), "base_url": (str,), "api_key_env": (str,), "api_version": (str,), "azure_endpoint": (str,),
    },
    "serve": {"url": (str,), "engine": (str,)},
    "task": {"kind": (str,)},
    "evaluate": {"max_rows": (int,)},
}

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table",
               list: "a list"}


def type_ok(value: Any, expected: tuple[type, ...] | str) -> bool:
    if isinstance(expected, str):
        if value == "auto":
            return True
        if expected == "auto-int":
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(value, bool) and bool not in expected:
        return False
    return isinstance(value, expected)


def describe(expected: tuple[type, ...] | str) -> str:
    if isinstance(expected, str):
        return '"auto" or ' + ("an integer" if expected == "auto-int" else "a number")
    return " or ".join(dict.fromkeys(_TYPE_NAMES[t] for t in expected))
