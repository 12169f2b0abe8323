"""Seconds from `distill-tui generate` starting to its first request, on the demo and on 130k rows,
against the time a bare `python -c "import openai"` takes on the same machine in the same run.

Run from the repository root: `.venv/bin/python benchmarks/bench_startup.py [--rows 129971] [--repeat 3]`.

An offline provider runs in this process; each case starts `python -m distill_tui.cli generate SPEC
--limit 1` in a fresh workspace and polls the provider's request counter every millisecond, so the
time is from the process start to the request reaching the provider (what a user waits for before
spending starts). The demo is the bundled spec and reviews; "130k" is the cookbook prompt over rows
cycled from the real head rows (../shared) or the bundled rows. Best of `--repeat`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, build_rows, write_spec  # noqa: E402


def first_request_s(spec: Path, server, data_dir: Path) -> float:
    """Seconds from starting `generate` until the provider sees its first chat request."""
    env = {**os.environ, "DISTILL_TUI_DATA_DIR": str(data_dir), "OPENAI_API_KEY": "offline"}
    before = server.stats["chat_requests"]
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "distill_tui.cli", "generate", str(spec), "--limit", "1"],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = None
    while proc.poll() is None and seen is None:
        if server.stats["chat_requests"] > before:
            seen = time.perf_counter() - start
        time.sleep(0.001)
    err = proc.communicate(timeout=600)[1]
    if seen is None:
        if server.stats["chat_requests"] <= before:
            raise SystemExit(f"generate asked nothing (exit {proc.returncode}): {err[-2000:]}")
        seen = time.perf_counter() - start
    return seen


def bare_import_s() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import openai"], check=True)
    return time.perf_counter() - start


def with_provider(spec: Path, base_url: str, folder: Path) -> Path:
    import tomllib

    import tomli_w

    data = tomllib.loads(spec.read_text(encoding="utf-8"))
    data["teacher"]["model"], data["student"]["model"] = "offline-teacher", "offline-student"
    data.setdefault("provider", {})["base_url"] = base_url
    data["dataset"]["path"] = str((spec.parent / data["dataset"]["path"]).resolve())
    out = folder / (spec.stem + "-bench.toml")  # never beside a spec in the source tree
    out.write_text(tomli_w.dumps(data), encoding="utf-8")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=129_971, help="rows of the large dataset")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            demo = with_provider(REPO / "src" / "distill_tui" / "assets" / "demo.toml", server.base_url, folder)
            big = with_provider(write_spec(folder, build_rows(folder / "wine.csv", rows=args.rows)), server.base_url,
                                folder)
            cases = {"bare `import openai`": lambda: bare_import_s()}
            for name, spec in ((f"demo ({demo.name})", demo), (f"{args.rows:,} rows, cookbook prompt", big)):
                cases[name] = lambda spec=spec: first_request_s(
                    spec, server, Path(tempfile.mkdtemp(dir=folder)))
            results = {name: min(run() for _ in range(args.repeat)) for name, run in cases.items()}
    finally:
        server.shutdown()
    base = results["bare `import openai`"]
    print(f"seconds to the first request (best of {args.repeat}), cores: {os.cpu_count()}")
    print(f"{'case':<40} {'s':>7} {'x import openai':>16}")
    for name, s in results.items():
        print(f"{name:<40} {s:7.2f} {s / base:16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
