"""Memory a run's queue of planned rows takes: every row's whole request (its messages, which repeat
the cookbook's labels list) against rows deferred to their fields (`RowRequest.defer`, what the
planner hands the engine), each measured in a fresh process on the same rows.

Run from the repository root: `.venv/bin/python benchmarks/bench_queue_memory.py [--rows 130000]`.

Each process opens the workspace, loads the data, then plans every train row through
`RequestPlanner` (as `generate` does, with nothing answered yet) and keeps what the planner hands
over as the engine's queue does until the rows are sent (`Pool.add`: the first
`engine.WHOLE_QUEUED` rows whole, the rest deferred). Printed: the growth of peak RSS while
planning, per 1,000 rows and extrapolated to a million.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def measure(spec: Path, whole: bool) -> dict:
    """In this process: peak RSS growth of planning every row of `spec` and keeping the queue."""
    from _common import peak_rss_mb

    from distill_tui.core.cost.capabilities import load_models
    from distill_tui.core.workspace.workspace import Workspace

    ws = Workspace.open(spec)
    _ = ws.data
    from distill_tui.core.run.planner import RequestPlanner

    planner = RequestPlanner(ws, ws.spec.teacher.model, "train", load_models())
    before = peak_rss_mb()
    queue = planner.take(1)
    if whole:  # what the engine's queue held before rows were deferred
        queue.extend(planner._rows)
    else:  # what `Pool.add` keeps: the first WHOLE_QUEUED whole, the rest by their fields
        from distill_tui.core.run.engine import WHOLE_QUEUED

        def add(rows: list) -> None:
            room = max(0, WHOLE_QUEUED - len(queue))
            queue.extend(rows[:room] + [req.defer() for req in rows[room:]])

        planner.plan_rest(add, lambda: None)
        planner.join()
    return {"rows": len(queue), "mb": peak_rss_mb() - before}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=130_000)
    parser.add_argument("--child", choices=["whole", "deferred"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.spec), args.child == "whole")))
        return 0
    from _common import build_rows, write_spec

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "DISTILL_TUI_DATA_DIR": str(folder / "data")}
        data = build_rows(folder / "wine.csv", rows=args.rows, unique_text=True)
        spec = write_spec(folder, data, eval_fraction=0.0)
        results = {}
        for kind in ("whole", "deferred"):
            out = subprocess.run([sys.executable, __file__, "--child", kind, "--spec", str(spec)], env=env,
                                 capture_output=True, text=True, check=True)
            results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    n = results["whole"]["rows"]
    print(f"{n:,} planned rows of the cookbook prompt (labels list in every prompt)")
    print(f"{'queue of':<34} {'MB':>8} {'KB/row':>8} {'GB per 1M rows':>15}")
    for kind, name in (("whole", "whole requests (before)"), ("deferred", "deferred past WHOLE_QUEUED rows")):
        mb = results[kind]["mb"]
        print(f"{name:<34} {mb:8.0f} {mb * 1024 / n:8.2f} {mb / n * 1e6 / 1024:15.2f}")
    print(f"ratio deferred / whole: {results['deferred']['mb'] / max(1e-9, results['whole']['mb']):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
