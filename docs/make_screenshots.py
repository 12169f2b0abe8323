"""Regenerate the README screenshots from a real demo run against the offline provider.

    python docs/make_screenshots.py

Runs the whole loop headless (generate, export, fine-tune, eval) in a temporary data folder, then
saves SVGs of the Estimate, Curate and Results screens at 100x30.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).parent / "screenshots"


async def shoot(spec: Path, key: str, name: str) -> None:
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.tui.app import DistillApp

    app = DistillApp(Workspace.open(spec), demo=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press(key)
        for _ in range(3):
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
        app.save_screenshot(str(OUT / f"{name}.svg"))


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="distill-shots-"))
    os.environ["DISTILL_TUI_DATA_DIR"] = str(home)
    from distill_tui.cli import main as cli
    from distill_tui.commands.demo import prepare_demo

    spec = prepare_demo()
    for argv in (["generate", str(spec)], ["export", str(spec), "-o", str(home / "train.jsonl")],
                 ["finetune", str(spec), "--yes", "--follow"], ["eval", str(spec)]):
        code = cli(argv)
        if code:
            print(f"{argv[0]} exited {code}", file=sys.stderr)
            return code
    OUT.mkdir(parents=True, exist_ok=True)
    for key, name in (("2", "estimate"), ("4", "curate"), ("6", "results")):
        asyncio.run(shoot(spec, key, name))
    print(f"screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
