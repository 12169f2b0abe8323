"""Helpers shared by the benchmarks: building large datasets from real or bundled rows."""

from __future__ import annotations

import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_WINE = REPO.parent / "shared" / "data" / "winemag-data-130k-v2.head5810.csv"
BUNDLED = REPO / "src" / "distill_tui" / "assets" / "reviews.csv"

COOKBOOK_SYSTEM = "You're a sommelier expert and you know everything about wine. You answer precisely with the name of the variety/blend."
COOKBOOK_USER = (
    "Based on this wine review, guess the grape variety: This wine is produced by {winery} in the {province} "
    "region of {country}. It was grown in {region_1}. It is described as: \"{description}\". The wine has been "
    "reviewed by {taster_name} and received {points} points. The price is {price}. Here is a list of possible "
    "grape varieties to choose from: {labels}. What is the likely grape variety? Answer only with the grape "
    "variety name or blend from the list."
)


def build_rows(target: Path, rows: int = 129_971, unique_text: bool = False, source: Path | None = None) -> Path:
    """A CSV of `rows` rows made by cycling real wine rows (../shared) or the bundled demo rows.

    With `unique_text`, each description gets the row number appended, so no two prompts repeat
    (caches keyed on cell values then gain nothing).
    """
    import pandas as pd

    source = source or (SHARED_WINE if SHARED_WINE.exists() else BUNDLED)
    frame = pd.read_csv(source)
    repeats = -(-rows // len(frame))
    big = pd.concat([frame] * repeats, ignore_index=True).iloc[:rows]
    if unique_text:
        big["description"] = big["description"].astype(str) + [f" (review {i})" for i in range(len(big))]
    big.to_csv(target, index=False)
    return target


def write_spec(folder: Path, data: Path, **dataset: object) -> Path:
    import tomli_w

    spec = {
        "dataset": {"path": str(data), "label": "variety", "seed": 42, "eval_fraction": 0.3, **dataset},
        "prompt": {"system": COOKBOOK_SYSTEM, "user": COOKBOOK_USER, "answer_field": "variety"},
        "teacher": {"model": "gpt-4o"},
        "student": {"model": "gpt-4o-mini"},
    }
    path = folder / "bench.toml"
    path.write_text(tomli_w.dumps(spec), encoding="utf-8")
    return path


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


os.environ.setdefault("DISTILL_TUI_DATA_DIR", "/tmp/distill-bench-data")
