"""Bytes per saved answer: prompts in compressed blocks (schema 4), stored once per hash but each
deflated alone (schema 3), and messages inline in every answer (schema 2), the same answers written
all three ways in one run, and what a million answers would take.

Run from the repository root: `.venv/bin/python benchmarks/bench_storage.py [--rows 10000] [--bundled]`.

The data is the cookbook's wine prompt (the 76-variety-style label list in every prompt) over rows
cycled from the real head rows (../shared) or the bundled demo rows, each description made unique.
Every row gets one teacher answer with the fields a real response fills (content, tokens, cost,
latency, request id). Schemas 3 and 4 are saved through the store in one transaction (schema 3 by
turning the blocks off), then read back whole from a fresh open; the CPU seconds of saving are the
process's, so schema 4 minus schema 3 is what compacting costs per answer. Sizes are the database
file after a WAL checkpoint; the per-table split comes from SQLite's dbstat (free pages: what the
loose prompts moved into blocks left, a constant ~100-200 KB that later answers reuse). A million
is extrapolated linearly (the prompts grow with distinct prompts, the dictionary does not).
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
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        tables["free pages"] = db.execute("PRAGMA freelist_count").fetchone()[0] * page_size
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


def save(path: Path, answers, *, blocks: bool) -> float:
    """Save `answers` in one transaction through the store (prompts in blocks, or each stored once
    alone as schema 3 left them); the process CPU seconds it took."""
    from distill_tui.core.store.database import Store

    with Store(path) as store:
        store._codec.blocks = blocks
        cpu = time.process_time()
        with store.transaction():
            for a in answers:
                store.record_answer(a)
        return time.process_time() - cpu


def save_and_read(folder: Path, answers, repeats: int = 3) -> dict[str, dict]:
    """Both layouts saved `repeats` times, turn about (a busy machine slows both alike), keeping the
    least CPU of each; then the last files read back whole from a fresh open, and measured."""
    from distill_tui.core.store.database import Store

    out = {name: {"save_cpu_s": float("inf")} for name in ("once", "blocks")}
    for attempt in range(repeats):
        for name, run in out.items():
            run["path"] = folder / f"{name}-{attempt}.sqlite"
            run["save_cpu_s"] = min(run["save_cpu_s"], save(run["path"], answers, blocks=name == "blocks"))
    expected = [a.messages for a in sorted(answers, key=lambda a: a.row_id)]
    for run in out.values():
        with Store(run["path"]) as store:
            wall = time.perf_counter()
            back = store.answers()
            run["read_s"] = time.perf_counter() - wall
        assert [a.messages for a in back] == expected
        run["size"], run["tables"] = file_size(run["path"])
    return out


def pack_us(answers) -> float:
    """CPU microseconds per prompt of `pack_block` over these prompts in blocks of `BLOCK` (least of 3)."""
    from distill_tui.core.store.prompt_blocks import pack_block
    from distill_tui.core.store.prompts import BLOCK, messages_text

    texts = [messages_text(a.messages) for a in answers]
    best = float("inf")
    for _ in range(3):
        cpu = time.process_time()
        for start in range(0, len(texts), BLOCK):
            pack_block(texts[start:start + BLOCK])
        best = min(best, time.process_time() - cpu)
    return best / len(texts) * 1e6


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
        ws.close()
        answers = list(fabricate(reqs, ws.spec.teacher.model))
        messages_bytes = sum(len(json.dumps(a.messages, ensure_ascii=False).encode()) for a in answers)
        runs = save_and_read(folder, answers)
        once, blocks = runs["once"], runs["blocks"]
        write_inline(folder / "inline.sqlite", answers)
        inline, inline_tables = file_size(folder / "inline.sqlite")
    n = len(answers)
    print(f"{n:,} answers, cookbook prompt: {messages_bytes / n:,.0f} bytes of messages JSON per answer")
    print(f"{'layout':<38} {'bytes/answer':>13} {'MB per 1k':>10} {'GB per 1M':>10} {'save CPU us':>12} {'read all s':>11}")
    layouts = (("messages in every answer (schema 2)", inline, None), ("prompts stored once (schema 3)", once["size"], once),
               ("prompts in blocks of 256 (schema 4)", blocks["size"], blocks))
    for name, size, run in layouts:
        timing = f" {run['save_cpu_s'] / n * 1e6:12,.0f} {run['read_s']:11.2f}" if run else ""
        print(f"{name:<38} {size / n:13,.0f} {size / n / 1e3:10.3f} {size / n * 1e6 / 1e9:10.2f}{timing}")
    print(f"ratio schema 4 / schema 3: {blocks['size'] / once['size']:.3f}; schema 4 / schema 2: {blocks['size'] / inline:.3f}")
    print(f"compacting costs {(blocks['save_cpu_s'] - once['save_cpu_s']) / n * 1e6:,.0f} CPU us per answer "
          f"(save CPU, schema 4 minus schema 3, least of 3); making the blocks alone {pack_us(answers):.0f} us")
    for name, tables in (("schema 4", blocks["tables"]), ("schema 3", once["tables"]), ("schema 2", inline_tables)):
        print(f"per table, bytes/answer ({name}): " + ", ".join(f"{k} {v / n:,.0f}" for k, v in tables.items() if v / n >= 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
