"""The Dataset screen on ~130k rows: time to first paint after load, and peak memory.

Target (DESIGN.md): the first paint of the table under 1 s after the data is loaded (the stock
DataTable freezes ~15 s), peak RSS under 500 MB. Also reported: the same app on 1k rows in the same
run, so the ratio shows what the row count costs.

    python benchmarks/bench_dataset_screen.py [ROWS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import build_rows, peak_rss_mb, write_spec  # noqa: E402


async def first_paint(spec_path: Path) -> tuple[float, float, float]:
    """Seconds to prepared data, seconds from data to the painted table, and cursor-jump time."""
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.tui.app import DistillApp

    workspace = Workspace.open(spec_path)
    app = DistillApp(workspace)
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        loaded_at = None
        while True:
            await asyncio.sleep(0.005)
            if loaded_at is None and workspace._data is not None:
                loaded_at = time.perf_counter()
            tables = app.screen.query("#rows")
            if tables and tables.first().row_count:
                await pilot.pause()  # one full refresh: the table is on screen
                painted = time.perf_counter()
                break
        jump_start = time.perf_counter()
        await pilot.press("end")
        await pilot.pause()
        jump = time.perf_counter() - jump_start
    loaded_at = loaded_at or painted
    return loaded_at - start, painted - loaded_at, jump


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 129_971
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small = write_spec(folder / "s" if (folder / "s").mkdir() is None else folder, build_rows(folder / "small.csv", 1_000))
        small_load, small_paint, _ = asyncio.run(first_paint(small))
        big_folder = folder / "big"
        big_folder.mkdir()
        big = write_spec(big_folder, build_rows(folder / "big.csv", rows))
        load, paint, jump = asyncio.run(first_paint(big))
    print(f"1,000 rows:   load {small_load:.2f} s, first paint after load {small_paint:.2f} s")
    print(f"{rows:,} rows: load {load:.2f} s, first paint after load {paint:.2f} s (target <= 1 s), "
          f"jump to last row {jump:.2f} s")
    print(f"ratio of first paint, {rows:,} vs 1,000 rows: {paint / max(small_paint, 1e-3):.2f}x")
    print(f"peak RSS of the process: {peak_rss_mb():.0f} MB (target <= 500 MB)")


if __name__ == "__main__":
    main()
