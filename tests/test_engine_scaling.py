"""Issue 16, the engine: concurrency found from the limits and latency, answers committed in groups,
the limiter's waiters queued rather than all polling (no timings asserted: counts and orders only)."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from pathlib import Path

import httpx2
import openai
import pytest

from distill_tui.core.run.concurrency import (
    DEFAULT_CAP,
    HEADROOM,
    INITIAL,
    MIN_SAMPLES,
    Concurrency,
)
from distill_tui.core.run.generate import run_teacher
from distill_tui.core.run.rate_limiter import RateLimiter
from distill_tui.core.store.database import Store
from distill_tui.core.store.group_commit import GroupCommit
from distill_tui.core.task.spec import load_spec
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec

MOCK_URL = "http://mock.invalid/v1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- Concurrency: Little's law and the server's queue ----------------------------------------------


def _warm(c: Concurrency, latency: float, tokens: float = 100.0) -> None:
    for _ in range(MIN_SAMPLES):
        c.observe(latency, tokens)


def test_a_known_limit_sizes_the_requests_in_flight_by_littles_law():
    c = Concurrency()
    assert c.target == INITIAL  # nothing known yet
    _warm(c, 1.0)
    target = c.update({"requests_per_min": 10_000, "tokens_per_min": None}, in_flight=INITIAL, throughput=8)
    assert target == math.ceil(10_000 / 60 * 1.0 * HEADROOM) + 1
    # a token limit that is tighter wins: 600k TPM at 1,000 tokens a request is 10 requests a second
    c2 = Concurrency()
    _warm(c2, 1.0, tokens=1000)
    assert c2.update({"requests_per_min": 10_000, "tokens_per_min": 600_000}, INITIAL, 8) == math.ceil(10 * HEADROOM) + 1


def test_workers_caps_the_target_and_the_default_cap_applies_without_it():
    c = Concurrency(3)
    assert c.target == 3
    _warm(c, 2.0)
    assert c.update({"requests_per_min": 30_000}, 3, 3) == 3
    big = Concurrency()
    _warm(big, 10.0)
    assert big.update({"requests_per_min": 30_000}, 8, 8) == DEFAULT_CAP


def test_a_server_that_queues_gets_what_its_throughput_needs_not_the_limits_target():
    clock = FakeClock()
    c = Concurrency(clock=clock)
    _warm(c, 0.01)
    assert c.update({"requests_per_min": 10**9}, 8, 400) == DEFAULT_CAP  # the limit alone says "everything"
    for _ in range(30):  # the latency climbs: the server queues what it is sent
        c.observe(1.0, 100)
    clock.now += 2
    target = c.update({"requests_per_min": 10**9}, DEFAULT_CAP, 400)
    assert target <= INITIAL and not c.trust_limit  # 400/s × 10 ms × headroom: a handful
    for _ in range(60):  # the latency comes back down: growth by half while every slot is busy
        c.observe(0.01, 100)
    clock.now += 2
    assert c.update({"requests_per_min": 10**9}, target, 400) > target


def test_with_no_limit_known_a_429_backs_off():
    clock = FakeClock()
    c = Concurrency(clock=clock)
    assert c.back_off() < INITIAL


# --- the engine through the SDK ------------------------------------------------------------------


def _mock_workspace(tmp_path: Path, handler, **generation) -> Workspace:
    spec = write_spec(tmp_path, rows=200, provider={"base_url": MOCK_URL}, generation=generation)
    text = spec.read_text()
    if "workers" not in generation:  # the default settings: no workers line
        spec.write_text("\n".join(line for line in text.splitlines() if not line.startswith("workers")) + "\n")
    assert load_spec(spec).generation.workers == generation.get("workers")
    ws = Workspace.open(spec)
    ws._client = openai.OpenAI(api_key="k", base_url=MOCK_URL, max_retries=0,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    return ws


def _answering(latency: float, seen: dict):
    lock = threading.Lock()

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        with lock:
            seen["now"] = seen.get("now", 0) + 1
            seen["most"] = max(seen.get("most", 0), seen["now"])
        time.sleep(latency)
        with lock:
            seen["now"] -= 1
        label = body["response_format"]["json_schema"]["schema"]["properties"]["variety"]["enum"][0]
        return httpx2.Response(200, headers={"x-ratelimit-limit-requests": "10000", "x-ratelimit-limit-tokens": "50000000"},
                               json={"id": "c", "object": "chat.completion", "created": 1, "model": body["model"],
                                     "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                         "role": "assistant", "content": json.dumps({"variety": label})}}],
                                     "usage": {"prompt_tokens": 100, "completion_tokens": 8, "total_tokens": 108}})

    return handler


def test_default_settings_raise_the_requests_in_flight_to_the_accounts_limit(tmp_path):
    seen: dict = {}
    ws = _mock_workspace(tmp_path, _answering(0.2, seen))
    result = run_teacher(ws)
    assert result.done == result.total and result.requests == result.total  # nothing lost, nothing twice
    # 10,000 RPM at 0.2 s is 33 in flight by Little's law; a fixed 8 (or 4) workers never got there
    assert seen["most"] > 2 * INITIAL


def test_workers_still_caps_the_requests_in_flight(tmp_path):
    seen: dict = {}
    ws = _mock_workspace(tmp_path, _answering(0.05, seen), workers=3)
    result = run_teacher(ws)
    assert result.done == result.total and seen["most"] <= 3


def test_answers_are_committed_in_groups_not_one_transaction_each(tmp_path, monkeypatch):
    commits = []
    real = Store.transaction
    monkeypatch.setattr(Store, "transaction", lambda self: commits.append(1) or real(self))
    ws = _mock_workspace(tmp_path, _answering(0.0, {}))
    result = run_teacher(ws)
    saved = ws.store.answers(model=ws.spec.teacher.model)
    assert result.done == result.total == len(saved)
    assert len(commits) < len(saved) / 2  # one per answer before


def test_progress_never_counts_an_answer_before_its_commit(tmp_path):
    ws = _mock_workspace(tmp_path, _answering(0.01, {}))
    path = ws.store.path
    checks = []

    def on_progress(progress):
        reader = sqlite3.connect(path)
        try:
            committed = reader.execute("SELECT count(*) FROM answers WHERE status='ok'").fetchone()[0]
        finally:
            reader.close()
        checks.append((progress.done, committed))

    result = run_teacher(ws, on_progress=on_progress, progress_interval=0.02)
    assert checks and all(done <= committed for done, committed in checks)
    assert checks[-1][0] == checks[-1][1] == result.total


# --- GroupCommit ---------------------------------------------------------------------------------


def test_group_commit_calls_on_saved_only_once_the_row_is_committed(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    store.execute("CREATE TABLE t (n INTEGER)")
    visible = []

    def on_saved(n: int):
        def check():
            reader = sqlite3.connect(tmp_path / "w.sqlite")
            try:
                visible.append(reader.execute("SELECT count(*) FROM t WHERE n=?", (n,)).fetchone()[0])
            finally:
                reader.close()
        return check

    writer = GroupCommit(store, lambda n: store.execute("INSERT INTO t VALUES (?)", (n,)), max_delay_s=60)
    for n in range(5):
        writer.submit(n, on_saved(n))
    assert writer.flush(timeout=10)  # a flush does not wait out the minute-long window
    assert visible == [1] * 5 and writer.commits == 1
    writer.close()
    store.close()


def test_group_commit_that_cannot_write_reports_once_and_refuses_more(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    errors = []

    def broken(item):
        raise OSError("disk full")

    writer = GroupCommit(store, broken, on_error=errors.append, max_delay_s=0.0)
    saved = []
    writer.submit(1, lambda: saved.append(1))
    writer.flush(timeout=10)
    assert len(errors) == 1 and saved == []
    with pytest.raises(RuntimeError, match="could not be saved"):
        writer.submit(2)
    writer.close()
    store.close()


# --- the limiter's waiters -------------------------------------------------------------------------


def test_only_the_first_waiter_polls_the_limiter():
    calls = [0]
    lock = threading.Lock()

    def clock() -> float:
        with lock:
            calls[0] += 1
        return time.monotonic()

    limiter = RateLimiter(requests_per_minute=6_000, clock=clock)  # 100 a second, 25 at first: 35 wait
    threads = [threading.Thread(target=limiter.acquire) for _ in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads)
    # every waiter polling: each grant woke all of them (~700 calls); queued: a few per grant (~70)
    assert calls[0] < 4 * len(threads)


# --- what the CLI line and the Generate screen show ----------------------------------------------


def test_the_limiter_line_shows_the_concurrency_and_whether_workers_caps_it():
    from distill_tui.core.run import progress_text as fmt

    found = {"requests_per_min": 10_000, "tokens_per_min": None, "concurrency": 251, "concurrency_cap": None}
    assert fmt.limiter_text(found) == "10,000 rpm · concurrency 251"
    capped = {**found, "concurrency": 16, "concurrency_cap": 16}
    assert fmt.limiter_text(capped) == "10,000 rpm · concurrency 16 (workers cap)"


def test_the_cli_progress_line_shows_in_flight_of_the_concurrency(tmp_path):
    from distill_tui.core.run import progress_text as fmt

    lines = []
    ws = _mock_workspace(tmp_path, _answering(0.05, {}))
    run_teacher(ws, on_progress=lambda p: lines.append(fmt.progress_line(p)), progress_interval=0.05)
    assert any(" in flight (of " in line for line in lines[:-1])
    assert " in flight (of " not in lines[-1]  # a finished run wants nothing in flight


def test_a_paused_run_keeps_one_thread_not_hundreds_polling(tmp_path):
    from distill_tui.core.run.engine_parts import Controls

    seen: dict = {}
    ws = _mock_workspace(tmp_path, _answering(0.1, seen))
    controls = Controls()
    out = []
    runner = threading.Thread(target=lambda: out.append(run_teacher(ws, controls=controls)))
    runner.start()
    deadline = time.monotonic() + 20
    while seen.get("most", 0) <= INITIAL and time.monotonic() < deadline:
        time.sleep(0.01)  # until the engine has grown past its first few
    controls.pause()

    def workers() -> int:
        return sum(t.name.startswith("distill-worker-") and t.is_alive() for t in threading.enumerate())

    while (workers() > 1 or seen["now"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert workers() <= 1 and seen["now"] == 0
    controls.resume()
    runner.join(30)
    assert out and out[0].done == out[0].total


def test_a_store_that_fails_mid_run_stops_it_with_one_line_and_reports_only_what_was_saved(tmp_path, monkeypatch):
    from distill_tui.core.common.errors import WorkFailed

    ws = _mock_workspace(tmp_path, _answering(0.01, {}))
    real = Store.record_answer
    calls = [0]

    def failing(self, answer):
        calls[0] += 1
        if calls[0] > 30:
            raise WorkFailed(f"{self.path}: cannot write the workspace database (database or disk is full)")
        return real(self, answer)

    monkeypatch.setattr(Store, "record_answer", failing)
    result = run_teacher(ws)
    assert result.stopped == "fatal" and result.exit_code == 1
    assert result.fatal_error.startswith("cannot save an answer:") and "disk is full" in result.fatal_error
    monkeypatch.setattr(Store, "record_answer", real)
    saved = ws.store.answers(model=ws.spec.teacher.model, status="ok")
    assert result.done == len(saved) <= 30  # a failed group is rolled back whole, never counted


def test_a_run_started_paused_waits_for_the_resume_instead_of_ending(tmp_path):
    from distill_tui.core.run.engine_parts import Controls

    seen: dict = {}
    ws = _mock_workspace(tmp_path, _answering(0.0, seen))
    controls = Controls()
    controls.pause()
    states: list[str] = []
    out = []
    runner = threading.Thread(target=lambda: out.append(
        run_teacher(ws, controls=controls, on_progress=lambda p: states.append(p.state), progress_interval=0.02)))
    runner.start()
    deadline = time.monotonic() + 30
    while states.count("paused") < 3 and runner.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert states.count("paused") >= 3 and runner.is_alive() and not seen  # waiting, nothing sent
    controls.resume()
    runner.join(30)
    assert out and out[0].done == out[0].total


def test_a_limit_above_what_this_process_can_serve_is_taken_as_none():
    """10^9 requests a minute at ~0 latency: not straight to the cap (hundreds of threads on a CPU-bound client)."""
    clock = FakeClock()
    c = Concurrency(clock=clock)
    for _ in range(MIN_SAMPLES):
        c.observe(0.02, 100, cpu_s=0.002)  # 2 ms of CPU an answer: at most ~500 answers/s on one core
    clock.now += 1
    assert c.cpu_s_per_answer == pytest.approx(0.002)
    target = c.update({"requests_per_min": 10**9}, INITIAL, 400)
    assert INITIAL <= target <= 1.5 * INITIAL  # grown only as with no limit: a step at a time, kept if it pays


def test_a_real_limit_below_the_process_cpu_rate_still_jumps_to_its_target():
    """10,000 requests a minute, 1 s latency, 2 ms of CPU an answer: the limit sizes the target."""
    c = Concurrency()
    for _ in range(MIN_SAMPLES):
        c.observe(1.0, 100, cpu_s=0.002)
    assert c.update({"requests_per_min": 10_000}, INITIAL, 8) == math.ceil(10_000 / 60 * HEADROOM) + 1
