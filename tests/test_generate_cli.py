"""`distill-tui generate`: JSON summary, exit codes, stderr progress, Ctrl-C, and resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distill_tui import locations
from distill_tui.cli import main
from distill_tui.commands import generate as command
from distill_tui.core.store.prompts import PromptCodec
from distill_tui.offline import OfflineOptions, prompt_hash, start_server
from tests.helpers import write_spec

JSON_KEYS = {"done", "failed", "requests", "input_tokens", "output_tokens", "cost_usd", "elapsed_s"}


@pytest.fixture
def slow_server():
    server = start_server(OfflineOptions(latency=0.05))
    yield server
    server.shutdown()


def _spec(tmp_path: Path, **generation) -> Path:
    return write_spec(tmp_path, provider={"base_url": "offline"}, generation={"workers": 4, **generation})


def test_json_summary_and_exit_0(tmp_path, offline_server, capsys):
    spec = _spec(tmp_path)
    code = main(["generate", str(spec), "--json", "--base-url", offline_server.base_url])
    out, err = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert JSON_KEYS <= set(data) and data["failed"] == 0 and data["done"] == data["total"] == data["requests"]
    assert data["stopped"] is None and data["cost_usd"] > 0 and data["input_tokens"] > 0
    lines = err.strip().splitlines()
    assert "\r" not in err  # not a terminal: plain lines
    assert lines[0].startswith("offline-teacher train: ")
    assert lines[-1] == f"all {data['total']} rows answered"
    # Again: everything is answered already; `done` counts earlier runs, the rest this run.
    assert main(["generate", str(spec), "--json", "--base-url", offline_server.base_url]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["done"] == data["done"] and again["requests"] == 0 and again["cost_usd"] == 0


def test_limit_smoke_run(tmp_path, offline_server, capsys):
    spec = _spec(tmp_path)
    assert main(["generate", str(spec), "--json", "--limit", "3", "--base-url", offline_server.base_url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["done"] == 3 and data["requests"] == 3 and data["stopped"] == "limit"
    assert main(["generate", str(spec), "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_unknown_model_exits_2_with_one_line(tmp_path, offline_server, capsys):
    spec = write_spec(tmp_path, provider={"base_url": offline_server.base_url}, teacher={"model": "gpt-nope"})
    assert main(["generate", str(spec), "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["error"].startswith("not found (404)")
    assert err.strip().splitlines()[-1].startswith("distill-tui: error: not found (404)")
    assert "Traceback" not in err


def test_budget_exits_1(tmp_path, offline_server, capsys):
    spec = _spec(tmp_path, budget_usd=0.002)
    assert main(["generate", str(spec), "--json", "--base-url", offline_server.base_url]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["stopped"] == "budget" and "budget reached" in err


def test_bad_spec_exits_2(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "missing.toml")]) == 2
    assert "spec file not found" in capsys.readouterr().err


def test_plain_progress_lines_every_few_seconds(tmp_path, slow_server, capsys, monkeypatch):
    monkeypatch.setattr(command, "PLAIN_INTERVAL_S", 0.3)
    spec = _spec(tmp_path, workers=2)
    assert main(["generate", str(spec), "--base-url", slow_server.base_url]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    progress = [line for line in lines if line.startswith("offline-teacher train: ")]
    assert len(progress) >= 3
    assert all("rows/s" in line and "ETA" in line and "left" in line for line in progress[:-1])
    assert progress[-1].startswith(f"offline-teacher train: {88}/{88} done") and "ETA" not in progress[-1]


def test_tty_progress_rewrites_one_line():
    from io import StringIO

    from distill_tui.core.run.generate import Progress

    class Tty(StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    show = command.StderrProgress(stream, interval=0)
    base = dict(model="m", split="train", total=10, done=1, failed=0, in_flight=2, left=7, requests=3, retries=0,
                rate_limited=0, input_tokens=10, output_tokens=2, cost_usd=0.0, elapsed_s=1.0, rows_per_s=1.0,
                tokens_per_s=12.0, eta_s=9.0, limiter={}, last_errors=[], last_answers=[], state="running",
                budget_usd=None, estimated_total_usd=None)
    show(Progress(**base))
    show(Progress(**{**base, "done": 10, "left": 0, "in_flight": 0, "state": "done"}))
    text = stream.getvalue()
    assert text.startswith("\rm train: 1/10 done") and "\rm train: 10/10 done" in text and text.endswith("\n")
    assert text.count("\n") == 1


def _cli(spec: Path, base_url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "distill_tui.cli", "generate", str(spec), "--base-url", base_url, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )


def _saved(spec: Path) -> list[tuple[int, str]]:
    db = locations.workspace_db(spec)
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT row_id, prompt_hash, messages FROM answers WHERE status='ok'").fetchall()
            codec = PromptCodec()  # messages are stored once per prompt (core/store/prompts.py)
            return [(row_id, messages or codec.load(conn, key)) for row_id, key, messages in rows]
    except sqlite3.OperationalError:  # the table does not exist yet
        return []


def _wait_for_answers(spec: Path, proc: subprocess.Popen, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while len(_saved(spec)) < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no answers saved in time"
        time.sleep(0.05)


@pytest.fixture
def quarter_second_server():
    server = start_server(OfflineOptions(latency=0.25))
    yield server
    server.shutdown()


def test_resume_after_kill_9_asks_nothing_twice(tmp_path, quarter_second_server):
    slow_server = quarter_second_server
    spec = _spec(tmp_path)
    proc = _cli(spec, slow_server.base_url)
    _wait_for_answers(spec, proc, 20)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    before = {prompt_hash(json.loads(m)) for _, m in _saved(spec)}
    assert 20 <= len(before) < 88
    requests_at_kill = slow_server.stats["chat_requests"]
    again = _cli(spec, slow_server.base_url, "--json")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    data = json.loads(out)
    assert data["done"] == data["total"] == 88 and data["failed"] == 0
    counts = slow_server.stats["requests_by_prompt_hash"]
    assert all(counts[h] == 1 for h in before)  # nothing saved before the kill was asked again
    lost_in_flight = sum(n - 1 for n in counts.values() if n > 1)
    # At most the requests in flight (4 workers) plus the answers of one group-commit window
    # (core/store/group_commit.py: 0.05 s and a commit): at 0.25 s a request, one more per worker.
    assert lost_in_flight <= 2 * 4
    assert len(counts) == 88 and data["requests"] == 88 - len(before)
    assert requests_at_kill + data["requests"] == slow_server.stats["chat_requests"]


def test_ctrl_c_finishes_in_flight_and_says_what_is_left(tmp_path, slow_server):
    spec = _spec(tmp_path)
    proc = _cli(spec, slow_server.base_url, "--json")
    _wait_for_answers(spec, proc, 5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    data = json.loads(out)
    saved = len(_saved(spec))
    assert data["stopped"] == "cancelled" and data["done"] == saved < 88
    assert slow_server.stats["chat_ok"] == saved  # every answer that arrived was saved
    assert err.strip().splitlines()[-1] == f"cancelled: {saved} done, {88 - saved} left; run again to resume"
    assert "Traceback" not in err
