"""`distill-tui demo`: the TUI on the bundled demo data against the embedded offline provider."""

from __future__ import annotations

import shutil
from argparse import Namespace
from pathlib import Path

from distill_tui import locations

DEMO_FILES = ("demo.toml", "reviews.csv")


def prepare_demo(reset: bool = False) -> Path:
    """Copy the demo spec and data into the data folder (once), so edits and state persist there."""
    target = locations.data_dir() / "demo"
    if reset and target.exists():
        shutil.rmtree(target)
        db = locations.workspace_db(target / "demo.toml")
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    locations.make_private_dir(target)
    for name in DEMO_FILES:
        if not (target / name).exists():
            shutil.copyfile(locations.package_assets() / name, target / name)
    return target / "demo.toml"


def run(args: Namespace) -> int:
    from distill_tui.commands.tui import run as run_tui

    return run_tui(str(prepare_demo(reset=getattr(args, "reset", False))), demo=True)
