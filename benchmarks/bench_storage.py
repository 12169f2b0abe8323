"""Bytes per saved answer: prompts stored once (schema 3) against messages inline in every answer
(schema 2), the same answers written both ways in one run, and what a million answers would take.

Run from the repository root: `.venv/bin/python benchmarks/bench_storage.py [--rows 10000]`.

The data is the cookbook's wine prompt (the 76-variety-style label list in every prompt) over rows
cycled from the real head rows (../shared) or the bundled demo rows, each description made unique.
Every row gets one teacher answer with the fields a real response fills (content, tokens, cost,
latency, request id). Sizes are the database file after a WAL checkpoint; the per-table split comes
from SQLite's dbstat. A million is extrapolated linearly (the prompts table grows with distinct
prompts, the dictionary does not).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import BUNDLED, build_rows, write_spec  # noqa: E402


def fabricate(reqs, model: str):
    from distill_tui.core.store.database import Answer

    for i, r in enumerate(reqs):
        yield Answer(
            model=model, row_id=r.row_id, prompt_hash=r.prompt_hash, split=r.split, status="ok", gold=r.gold,
            messages=r.messages, content=json.dumps({"variety": r.gold}), label=r.gold, valid=True,
            finish_reason="stop", prompt_tokens=480 + i % 60, completion_tokens=9, latency_s=0.8 + (i % 97) / 100,
            cost_usd=0.00121 + (i % 13) * 1e-5, request_id=f"req_{i:032x}", attempts=1, created_at=time.time(),
        )


def file_size(path: Path) -> tuple[int, dict[str, int]]:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall())
    finally:
        db.close()
    return path.stat().st_size, tables


def write_inline(path: Path, answers) -> None:
    """The same answers as schema 2 wrote them: messages as JSON in each answer row."""
    from dataclasses import asdict

    from distill_tui.core.store import database

    db = sqlite3.connect(path)
    db.executescript(database._SCHEMA)
    columns = database._ANSWER_COLUMNS
    rows = []
    for a in answers:
        data = asdict(a)
        data["messages"] = json.dumps(data["messages"], ensure_ascii=False)
        rows.append([data[c] for c in columns])
    with db:
        db.executemany(f"INSERT INTO answers ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="answers to save")
    parser.add_argument("--bundled", action="store_true",
                        help="the demo's invented reviews (shorter) instead of the real head rows of ../shared")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["DISTILL_TUI_DATA_DIR"] = str(folder / "data")
        from distill_tui.core.task.requests import iter_requests
        from distill_tui.core.workspace.workspace import Workspace

        data = build_rows(folder / "wine.csv", rows=args.rows, unique_text=True, source=BUNDLED if args.bundled else None)
        ws = Workspace.open(write_spec(folder, data, eval_fraction=0.0))
        reqs = list(iter_requests(ws.spec, ws.data, ws.spec.teacher.model))
        answers = list(fabricate(reqs, ws.spec.teacher.model))
        messages_bytes = sum(len(json.dumps(a.messages, ensure_ascii=False).encode()) for a in answers)
        t = time.perf_counter()
        with ws.store.transaction():
            for a in answers:
                ws.store.record_answer(a)
        saved_s = time.perf_counter() - t
        t = time.perf_counter()
        back = ws.store.answers()
        read_s = time.perf_counter() - t
        assert [a.messages for a in back] == [a.messages for a in sorted(answers, key=lambda a: a.row_id)]
        path = ws.store.path
        ws.close()
        once, once_tables = file_size(path)
        write_inline(folder / "inline.sqlite", answers)
        inline, inline_tables = file_size(folder / "inline.sqlite")
    n = len(answers)
    print(f"{n:,} answers, cookbook prompt: {messages_bytes / n:,.0f} bytes of messages JSON per answer")
    print(f"{'layout':<34} {'bytes/answer':>13} {'MB per 1k':>10} {'GB per 1M':>10}")
    for name, size in (("messages in every answer (schema 2)", inline), ("prompts stored once (schema 3)", once)):
        print(f"{name:<34} {size / n:13,.0f} {size / n / 1e3:10.3f} {size / n * 1e6 / 1e9:10.2f}")
    print(f"ratio schema 3 / schema 2: {once / inline:.3f}")
    print("per table, bytes/answer (schema 3): "
          + ", ".join(f"{k} {v / n:,.0f}" for k, v in once_tables.items() if v / n >= 1))
    print("per table, bytes/answer (schema 2): "
          + ", ".join(f"{k} {v / n:,.0f}" for k, v in inline_tables.items() if v / n >= 1))
    print(f"save {n / saved_s:,.0f} answers/s in one transaction; read all back {read_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
