"""The engine's own ceiling: no rate limit, ~0 latency, our engine vs the bare SDK, in one run.

The offline provider runs in a separate process (so its CPU is not counted as ours) with limits far
above what any client here reaches. On the same rows, each on a fresh workspace:

(a) `core.generate.run_model` with the spec's default settings: adaptive concurrency, every answer
    parsed, priced and saved to the workspace database (durable within the group-commit window);
(b) the bare SDK: `ThreadPoolExecutor(N)` over `client.chat.completions.create`, saving nothing;
(c) the bare SDK the way the engine calls it: the same pool over `client.post("/chat/completions",
    cast_to=httpx2.Response, body=...)` and `json.loads` (`provider/chat_call.py`), saving nothing: what
    the engine's own work costs, apart from the typed layer it skips;
(d) the bare async SDK: `AsyncOpenAI` with N requests in flight (`asyncio.Semaphore`), saving nothing.

Printed per run: rows/s, its ratio to (b), CPU-seconds of this process per 1,000 rows, and for (a)
the database bytes per saved answer. The issue's target: (a) at least 90 % of (b).

    .venv/bin/python benchmarks/bench_ceiling.py [--rows 20000] [--threads 32] [--only ours,sdk,post,async]
    .venv/bin/python benchmarks/bench_ceiling.py --rounds 6 --rows 18000   # (b), (c), (a) in turn, median ratios
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

from bench_generate import make_rows, write_spec  # noqa: E402

HIGH = 10**9  # far above any rate reached here: the server's headers then never pace the client


def start_server(latency: float = 0.0) -> tuple[subprocess.Popen, str]:
    """`distill-tui serve-offline` in its own process; returns it and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from distill_tui.cli import main; sys.exit(main())", "serve-offline", "--rpm", str(HIGH), "--tpm", str(HIGH),
         "--latency", str(latency)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"http://[^:]+:(\d+)/v1", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the offline provider did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, f"http://127.0.0.1:{match.group(1)}/v1"


def bodies(spec_path: Path) -> list[dict]:
    from distill_tui.core.task.requests import iter_requests
    from distill_tui.core.workspace.workspace import Workspace

    ws = Workspace.open(spec_path)
    out = [r.body for r in iter_requests(ws.spec, ws.data, ws.spec.teacher.model, "train")]
    ws.close()
    return out


def warm_up(base_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="offline")
    client.chat.completions.create(model="offline-teacher", messages=[{"role": "user", "content": "x"}], max_tokens=1)


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def run_ours(spec_path: Path) -> dict:
    from distill_tui.core.run.generate import run_teacher
    from distill_tui.core.workspace.workspace import Workspace

    ws = Workspace.open(spec_path)
    _ = ws.data  # loaded outside the timed part, as the bare runs' bodies are
    seen: list[int] = []
    wall, cpu, result = timed(lambda: run_teacher(ws, on_progress=lambda p: seen.append(p.limiter.get("concurrency") or 0)))
    db = ws.store.path
    ws.close()
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return {"answered": result.done, "wall": wall, "cpu": cpu, "bytes": size / max(1, result.done),
            "concurrency": max(seen, default=0), "failed": result.failed}


def in_threads(one, reqs: list[dict], threads: int) -> dict:
    """`one` over every request body in a pool of `threads` threads, timed: answers, wall and CPU seconds."""

    def go() -> int:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            return sum(pool.map(one, reqs))

    wall, cpu, answered = timed(go)
    return {"answered": answered, "wall": wall, "cpu": cpu}


def run_sdk(reqs: list[dict], base_url: str, threads: int) -> dict:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="offline")

    def one(body: dict) -> bool:
        try:
            return client.chat.completions.create(**body).choices[0].message.content is not None
        except openai.OpenAIError:
            return False

    return in_threads(one, reqs, threads)


def run_post(reqs: list[dict], base_url: str, threads: int) -> dict:
    import json

    import httpx2
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="offline")

    def one(body: dict) -> bool:
        try:
            response = client.post("/chat/completions", cast_to=httpx2.Response, body=body)
            return json.loads(response.content)["choices"][0]["message"]["content"] is not None
        except openai.OpenAIError:
            return False

    return in_threads(one, reqs, threads)


def run_async(reqs: list[dict], base_url: str, threads: int) -> dict:
    import openai

    async def go() -> int:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="offline")
        gate = asyncio.Semaphore(threads)

        async def one(body: dict) -> bool:
            async with gate:
                try:
                    return (await client.chat.completions.create(**body)).choices[0].message.content is not None
                except openai.OpenAIError:
                    return False

        done = await asyncio.gather(*(one(b) for b in reqs))
        await client.close()
        return sum(done)

    wall, cpu, answered = timed(lambda: asyncio.run(go()))
    return {"answered": answered, "wall": wall, "cpu": cpu}


def line(name: str, r: dict, reference: float | None) -> str:
    rate = r["answered"] / r["wall"]
    ratio = f"{rate / reference:5.0%} of bare SDK" if reference else " " * 17
    extra = f"  {r['bytes']:,.0f} bytes/answer  concurrency ≤ {r['concurrency']}" if "bytes" in r else ""
    return (f"{name:<26} {r['answered']:>6} rows {r['wall']:6.1f}s  {rate:7.1f} rows/s  {ratio}  "
            f"CPU {1000 * r['cpu'] / max(1, r['answered']):5.2f} s/1k rows{extra}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=32, help="threads (or async requests in flight) of the bare SDK")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the provider adds to each request (threads vs asyncio at many in flight)")
    parser.add_argument("--only", default="ours,sdk,post",
                        help="comma-separated: ours, sdk (typed create), post (client.post, as the engine), async")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the bare SDK and ours this many times on rows/rounds rows each, and report "
                             "each round's ratio and their median (a busy machine slows one run, not a round's pair)")
    args = parser.parse_args()
    if args.rounds > 1:
        return rounds(args)
    wanted = set(args.only.split(","))

    tmp = Path(tempfile.mkdtemp(prefix="bench-ceiling-"))
    os.environ["DISTILL_TUI_DATA_DIR"] = str(tmp / "data")
    os.environ["DISTILL_TUI_CONFIG_DIR"] = str(tmp / "config")
    make_rows(tmp, args.rows)
    server, base_url = start_server(args.latency)
    try:
        warm_up(base_url)
        spec = write_spec(tmp, base_url, None)
        reqs = bodies(spec)
        print(f"offline provider in its own process, no limit, latency {args.latency:g} s; {len(reqs)} rows; "
              f"bare SDK: {args.threads} threads; {os.cpu_count()} CPUs", flush=True)
        results: dict[str, dict] = {}
        if "sdk" in wanted:
            results["sdk"] = run_sdk(reqs, base_url, args.threads)
        reference = results["sdk"]["answered"] / results["sdk"]["wall"] if "sdk" in results else None
        if "sdk" in results:
            print(line(f"bare SDK, {args.threads} threads", results["sdk"], None), flush=True)
        if "post" in wanted:
            print(line(f"bare SDK post, {args.threads} thr.", run_post(reqs, base_url, args.threads), reference),
                  flush=True)
        if "async" in wanted:
            print(line(f"bare AsyncOpenAI, {args.threads} tasks", run_async(reqs, base_url, args.threads), reference),
                  flush=True)
        if "ours" in wanted:
            print(line("ours (default settings)", run_ours(spec), reference), flush=True)
    finally:
        server.terminate()
        server.wait(10)
    return 0


def rounds(args: argparse.Namespace) -> int:
    """`--rounds N`: the bare SDK (typed create, then client.post when asked) and ours in turn, each round
    on fresh rows and a fresh workspace; the ratios are ours against each in the same round."""
    import statistics

    wanted = set(args.only.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="bench-ceiling-"))
    os.environ["DISTILL_TUI_CONFIG_DIR"] = str(tmp / "config")
    per = max(1, args.rows // args.rounds)
    make_rows(tmp, per)
    server, base_url = start_server(args.latency)
    ratios: dict[str, list[float]] = {"sdk": [], "post": []}
    cpu = {"sdk": 0.0, "post": 0.0, "ours": 0.0}
    try:
        warm_up(base_url)
        spec = write_spec(tmp, base_url, None)
        print(f"offline provider in its own process, no limit, latency {args.latency:g} s; {args.rounds} rounds of "
              f"{per} rows; bare SDK: {args.threads} threads; {os.cpu_count()} CPUs", flush=True)
        for n in range(args.rounds):
            os.environ["DISTILL_TUI_DATA_DIR"] = str(tmp / f"data-{n}")
            bare = {"sdk": run_sdk(bodies(spec), base_url, args.threads)}
            if "post" in wanted:
                bare["post"] = run_post(bodies(spec), base_url, args.threads)
            ours = run_ours(spec)
            rate = ours["answered"] / ours["wall"]
            for name, r in bare.items():
                ratios[name].append(rate / (r["answered"] / r["wall"]))
                cpu[name] += 1000 * r["cpu"] / max(1, r["answered"]) / args.rounds
                label = "bare SDK" if name == "sdk" else "bare SDK post"
                print(f"round {n + 1}: " + line(label, r, None).strip(), flush=True)
            cpu["ours"] += 1000 * ours["cpu"] / max(1, ours["answered"]) / args.rounds
            print(f"round {n + 1}: " + line("ours", ours, bare["sdk"]["answered"] / bare["sdk"]["wall"]).strip(),
                  flush=True)
    finally:
        server.terminate()
        server.wait(10)
    for name, label in (("sdk", "bare SDK (typed create)"), ("post", "bare SDK post (as the engine calls it)")):
        if ratios[name]:
            print(f"ours / {label} rows/s: median {statistics.median(ratios[name]):.0%}, rounds "
                  + ", ".join(f"{r:.0%}" for r in ratios[name]) + f"; CPU-s per 1k rows {cpu[name]:.2f}")
    print(f"ours: CPU-s per 1k rows {cpu['ours']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
