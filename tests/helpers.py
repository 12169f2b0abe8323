"""Builders for small specs and datasets used across tests."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import tomli_w

LABELS = ["Merlot", "Pinot Noir", "Chardonnay", "Riesling", "Syrah", "Gamay", "Malbec", "Sauvignon Blanc"]
WORDS = {
    "Merlot": "plum soft round cherry chocolate velvet",
    "Pinot Noir": "cherry earthy silky raspberry forest light",
    "Chardonnay": "butter oak apple vanilla creamy citrus",
    "Riesling": "petrol lime honey apricot sweet mineral",
    "Syrah": "pepper smoke blackberry meaty dark bacon",
    "Gamay": "banana fruity bright cherry light juicy",
    "Malbec": "violet plum dark inky blueberry bold",
    "Sauvignon Blanc": "grass gooseberry zesty citrus herbaceous crisp",
}


def write_dataset(path: Path, rows: int = 120, seed: int = 1, labels: list[str] | None = None) -> Path:
    """A small labelled review CSV (columns id, country, description, points, price, variety)."""
    import pandas as pd

    rng = random.Random(seed)
    labels = labels or LABELS
    records = []
    for i in range(rows):
        label = labels[i % len(labels)]
        words = WORDS.get(label, "plain wine").split()
        text = " ".join(rng.choice(words) for _ in range(8))
        records.append(
            {
                "id": i,
                "country": "France" if i % 5 else "Italy",
                "description": f"A wine with {text}.",
                "points": 80 + i % 20,
                "price": None if i % 17 == 0 else float(10 + i % 40),
                "variety": label,
            }
        )
    frame = pd.DataFrame.from_records(records)
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def spec_dict(data_name: str = "data.csv", **sections: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "dataset": {"path": data_name, "label": "variety", "seed": 7, "eval_fraction": 0.25},
        "prompt": {
            "system": "You are a sommelier. Answer with the variety only.",
            "user": "Review: {description} Points: {points}. Price: {price}. Choose one of: {labels}.",
            "structured": True,
            "answer_field": "variety",
        },
        "teacher": {"model": "offline-teacher"},
        "student": {"model": "offline-student"},
        "generation": {"workers": 4, "max_tokens": 32, "store": True, "metadata": {"distillation": "test"}},
        "provider": {"base_url": "offline"},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return base


def write_spec(folder: Path, rows: int = 120, data_name: str = "data.csv", **sections: dict[str, Any]) -> Path:
    """A spec file plus its dataset in `folder`; keyword sections update the defaults."""
    if not (folder / data_name).exists():
        write_dataset(folder / data_name, rows=rows)
    path = folder / "spec.toml"
    path.write_text(tomli_w.dumps(spec_dict(data_name, **sections)), encoding="utf-8")
    return path
