"""The benchmark scripts still run (tiny sizes; their timings are printed, never asserted here).

A benchmark is only run by hand, so an API it uses can go away unnoticed; this catches that.
The estimate and dataset-screen benchmarks read ../shared data, which tests must not depend on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("script", "args"), [
    ("bench_curate.py", ["--rows", "200"]),
    ("bench_storage.py", ["--rows", "300"]),
    ("bench_queue_memory.py", ["--rows", "300"]),
    ("bench_startup.py", ["--rows", "300", "--repeat", "1"]),
    ("bench_generate.py", ["--rows", "40", "--rpm", "12000", "--only", "fresh"]),
    ("bench_generate.py", ["--high", "--rows", "40", "--rpm", "12000", "--latency", "0.05"]),
    ("bench_ceiling.py", ["--rows", "60", "--threads", "4"]),
    ("bench_resume.py", ["--rows", "60", "--rpm", "6000"]),
    ("gpu_train.py", ["--help"]),  # for a GPU machine: here only that it imports and parses its options
])
def test_benchmark_runs(script, args):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True,
                            text=True, env=os.environ.copy(), timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("script", "args"), [
    ("bench_train.py", ["--rows", "16", "--epochs", "1"]),
    ("gpu_train.py", ["--model", "tiny", "--device", "cpu", "--steps", "3", "--warmup", "1", "--batch-size", "2",
                      "--max-length", "128", "--lengths", "16:64"]),
])
def test_training_benchmark_runs(script, args):
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    test_benchmark_runs(script, args)
