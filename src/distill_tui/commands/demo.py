"""`distill-tui demo [--task KIND]`: the TUI on bundled demo data against the embedded offline provider.

Three demos, one per task kind: classification (the default: wine review → grape variety),
extraction (wine review → JSON fields) and generation (sommelier questions → short answers with
references). Their data is written by `assets/make_demo_data.py` and `assets/make_task_data.py`.
"""

from __future__ import annotations

import shutil
from argparse import Namespace
from pathlib import Path

from distill_tui import locations

DEMO_FILES = ("demo.toml", "reviews.csv")
TASK_FILES = {
    "classification": ("demo", DEMO_FILES),
    "extraction": ("demo-extraction", ("extraction.toml", "extraction.csv", "wine_fields.schema.json")),
    "generation": ("demo-generation", ("generation.toml", "generation.csv")),
}
TASKS = tuple(TASK_FILES)


def prepare_demo(reset: bool = False, task: str = "classification") -> Path:
    """Copy a demo's spec and data into the data folder (once), so edits and state persist there.

    Args:
        reset: start the demo's folder and workspace afresh.
        task: "classification", "extraction" or "generation".
    """
    folder, files = TASK_FILES[task]
    target = locations.data_dir() / folder
    spec_name = files[0]
    if reset and target.exists():
        shutil.rmtree(target)
        db = locations.workspace_db(target / spec_name)
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    locations.make_private_dir(target)
    for name in files:
        if not (target / name).exists():
            shutil.copyfile(locations.package_assets() / name, target / name)
    return target / spec_name


def run(args: Namespace) -> int:
    from distill_tui.commands.tui import run as run_tui

    task = getattr(args, "task", None) or "classification"
    return run_tui(str(prepare_demo(reset=getattr(args, "reset", False), task=task)), demo=True)
