"""Curation at 10k and 100k rows: time per keypress in the core model and in the screen, against 50 ms.

Run from the repository root: `.venv/bin/python benchmarks/bench_curate.py [--rows 10000 100000]`.

Core: median wall time of each model call, SQLite writes included (what a keypress asks of the model, plus the totals and
label distribution the screen redraws after it).
Screen: headless `App.run_test(size=(80, 24))`. For each key, the median *process CPU time* of
`pilot.press(key)` followed by a pause long enough to paint one frame, minus the same for a key
bound to nothing; CPU time leaves out the pilot's idle waits, so this is the work a keypress causes
(binding dispatch, handler, model, widget updates, layout and paint). "handler" is the screen's
action method alone. Ratios are measured / 50 ms target (below 1.0 is within target).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_MS = 50.0


def build_workspace(folder: Path, train_rows: int):
    """A spec, a dataset and one fabricated teacher answer per train row (every 5th disagrees,
    every 40th is invalid, every 97th failed)."""
    from distill_tui.core.store.database import Answer
    from distill_tui.core.task.requests import iter_requests
    from distill_tui.core.workspace.workspace import Workspace
    from tests.helpers import write_spec

    spec = write_spec(folder, rows=int(train_rows / 0.75) + 1)
    ws = Workspace.open(spec)
    labels = ws.data.labels
    with ws.store.transaction():
        for i, r in enumerate(iter_requests(ws.spec, ws.data, ws.spec.teacher.model, "train")):
            label = labels[(labels.index(r.gold) + 1) % len(labels)] if i % 5 == 0 else r.gold
            label = "Zinfandel" if i % 40 == 0 else label
            failed = i % 97 == 0
            ws.store.record_answer(Answer(
                model=ws.spec.teacher.model, row_id=r.row_id, prompt_hash=r.prompt_hash, split="train",
                status="failed" if failed else "ok", gold=r.gold, messages=r.messages,
                content=None if failed else json.dumps({"variety": label}), label=None if failed else label,
                valid=not failed and label in labels, finish_reason="stop", prompt_tokens=120,
                completion_tokens=8, cost_usd=0.0004))
    return ws


def timed(fn, repeat: int = 15) -> float:
    """Median milliseconds of `fn()`."""
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def bench_core(ws) -> list[tuple[str, float]]:
    from distill_tui.core.curate.filters import Filters
    from distill_tui.core.curate.selection import Curation

    t = time.perf_counter()
    cur = Curation.from_workspace(ws)
    load_ms = (time.perf_counter() - t) * 1000
    rows = cur.ids.tolist()
    state = {"i": 0}

    def redraw() -> None:  # what the screen recomputes after every change
        cur.totals()
        cur.distribution()

    def toggle() -> None:
        state["i"] += 1
        cur.toggle(rows[state["i"] % len(rows)])
        redraw()

    def refilter(filters: Filters):
        def run() -> None:
            cur.set_filters(filters)
            cur.view()
            redraw()
        return run

    results = [(f"load {cur.n:,} answers (once, in a worker)", load_ms)]
    results.append(("toggle one row", timed(toggle)))
    for name, call in (("select all", cur.select_all), ("select none", cur.select_none), ("invert", cur.invert),
                       ("select all matching", cur.select_matching)):
        results.append((name, timed(lambda call=call: (call(), redraw()))))
    results.append(("filter agrees=no", timed(refilter(Filters(agrees="no")))))
    results.append(("filter label + valid", timed(refilter(Filters(labels=("Merlot",), valid=True)))))
    words = iter(f"cherry{i}" for i in range(1000))
    results.append(("text search (new word)", timed(lambda: refilter(Filters(text=next(words)))())))
    results.append(("clear filters", timed(refilter(Filters()))))
    results.append(("dedupe", timed(lambda: (cur.dedupe(), redraw()))))
    results.append(("cap per label", timed(lambda: (cur.apply_cap(500), redraw()))))
    return results


async def bench_screen(ws) -> list[tuple[str, float, float]]:
    from distill_tui.tui import app as app_module
    from distill_tui.tui.app import DistillApp

    class CurateApp(DistillApp):
        DEFAULT_MODE = "curate"
        CSS_PATH = str(Path(app_module.__file__).parent / "app.tcss")

    app = CurateApp(ws)
    results = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        screen = app.screen
        assert screen.cur is not None and screen.cur.n > 0

        async def press_cpu(key: str, repeat: int = 12) -> float:
            samples = []
            for _ in range(repeat):
                c = time.process_time()
                await pilot.press(key)
                await pilot.pause(0.03)
                samples.append((time.process_time() - c) * 1000)
            return statistics.median(samples)

        baseline = await press_cpu("f12")
        actions = [("space", "toggle", "toggle"), ("down", None, "cursor down"), ("pagedown", None, "page down"),
                   ("a", "select_all", "select all"), ("n", "select_none", "select none"), ("i", "invert", "invert"),
                   ("m", "select_matching", "select all matching"), ("g", "cycle_agrees", "filter: agrees cycle"),
                   ("x", "cycle_valid", "filter: invalid cycle"), ("l", "cycle_label", "filter: label cycle"),
                   ("d", "dedupe", "dedupe")]
        for key, action, name in actions:
            cpu = await press_cpu(key) - baseline
            handler = timed(getattr(screen, f"action_{action}"), repeat=9) if action else float("nan")
            results.append((name, cpu, handler))
        await pilot.pause(0.1)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000],
                        help="train answers to fabricate (one workspace per size)")
    args = parser.parse_args()
    for rows in args.rows:
        bench_size(rows)
    return 0


def bench_size(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DISTILL_TUI_DATA_DIR"] = str(Path(tmp) / "data")
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
        t = time.perf_counter()
        ws = build_workspace(Path(tmp), rows)
        print(f"\n=== {rows:,} answers (fabricated in {time.perf_counter() - t:.1f} s; cores: {os.cpu_count()})")
        print(f"\ncore model ({TARGET_MS:.0f} ms target per keypress)")
        print(f"{'action':<42} {'ms':>8} {'ratio':>7}")
        for name, ms in bench_core(ws):
            ratio = "" if name.startswith("load") else f"{ms / TARGET_MS:7.3f}"
            print(f"{name:<42} {ms:8.2f} {ratio:>7}")
        ws.store.execute("DELETE FROM selections")  # the screen starts from the default selection
        ws.store.execute("DELETE FROM selection_snapshot")
        ws.store.set_setting("curation", {})
        print("\nscreen, headless 80x24 (CPU ms per keypress incl. paint, minus an unbound key)")
        print(f"{'key':<42} {'ms':>8} {'ratio':>7} {'handler':>8}")
        for name, cpu, handler in asyncio.run(bench_screen(ws)):
            print(f"{name:<42} {cpu:8.2f} {cpu / TARGET_MS:7.3f} {handler:8.2f}")
        ws.close()


if __name__ == "__main__":
    sys.exit(main())
