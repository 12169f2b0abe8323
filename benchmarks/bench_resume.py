"""Crash safety: kill -9 `distill-tui generate` half way, run it again, count what was paid twice.

Starts the offline provider in this process (rate-limited, with injected 500s), runs the CLI in a
subprocess, SIGKILLs it once about half the rows are saved, then runs it again to the end.
Printed: rows, answers saved at the kill, requests of each run (server side), successful requests
in all vs rows, and successful prompts answered twice (at most the requests in flight at the kill).

    .venv/bin/python benchmarks/bench_resume.py [--rows 400] [--rpm 2400] [--fail-rate 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_generate import make_rows, write_spec  # noqa: E402

from distill_tui.core.store.prompts import PromptCodec  # noqa: E402


def saved(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT prompt_hash, messages FROM answers WHERE status='ok'").fetchall()
            codec = PromptCodec()  # messages are stored once per prompt
            return [m or codec.load(conn, key) for key, m in rows]
    except sqlite3.OperationalError:
        return []


def cli(spec: Path, base_url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "distill_tui.cli", "generate", str(spec), "--base-url", base_url, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--rpm", type=int, default=2400)
    parser.add_argument("--fail-rate", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-resume-"))
    os.environ["DISTILL_TUI_DATA_DIR"] = str(tmp / "data")
    os.environ["DISTILL_TUI_CONFIG_DIR"] = str(tmp / "config")
    sys.path.insert(0, str(ROOT / "src"))
    from distill_tui import locations
    from distill_tui.offline import OfflineOptions, prompt_hash, start_server

    server = start_server(OfflineOptions(rpm=args.rpm, fail_rate=args.fail_rate, seed=3))
    server.warm()
    make_rows(tmp, args.rows)
    spec = write_spec(tmp, server.base_url, args.workers)
    db = locations.workspace_db(spec)

    first = cli(spec, server.base_url)
    while len(saved(db)) < args.rows // 2:
        if first.poll() is not None:
            print("the first run ended before half way:", first.communicate()[1][-500:])
            return 1
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    at_kill = saved(db)
    first_requests = server.stats["chat_requests"]
    first_ok = server.stats["chat_ok"]

    started = time.monotonic()
    second = cli(spec, server.base_url, "--json")
    out, err = second.communicate()
    elapsed = time.monotonic() - started
    summary = json.loads(out)
    counts = server.stats["requests_by_prompt_hash"]
    saved_hashes = {prompt_hash(json.loads(m)) for m in at_kill}
    twice = {h: n for h, n in counts.items() if n > 1}
    print(f"rows {args.rows}; rpm {args.rpm}; fail rate {args.fail_rate:.0%}; workers {args.workers}")
    print(f"killed (SIGKILL) with {len(at_kill)} answers saved; the server had answered {first_ok} "
          f"({first_requests} requests incl. 500s/429s)")
    print(f"resumed run: exit {second.returncode}, {summary['requests']} requests, done {summary['done']}/"
          f"{summary['total']}, failed {summary['failed']}, {elapsed:.1f}s")
    total_ok = server.stats["chat_ok"]
    print(f"successful requests in all: {total_ok} for {args.rows} rows "
          f"(+{total_ok - args.rows} = answers in flight at the kill, paid twice)")
    print(f"saved answers asked again: {sum(1 for h in saved_hashes if counts[h] > 1)}; "
          f"prompts answered twice: {len(twice)}; total requests {server.stats['chat_requests']}")
    server.shutdown()
    return 0 if summary["done"] == args.rows and not any(counts[h] > 1 for h in saved_hashes) else 1


if __name__ == "__main__":
    sys.exit(main())
