"""QA fixes of the Generate and Results screens and the engine behind them: readable limiter text,
another process's run shown and followed, the finished state after a restart, retried rows in the
errors pane, and money figures that say what they are."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from rich.console import Console

from distill_tui.core.run import progress_text as fmt
from distill_tui.core.run.engine_parts import RecentErrors
from distill_tui.core.run.generate import Progress, run_teacher
from distill_tui.core.run.plan import run_holder
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.app import DistillApp
from tests.helpers import write_spec
from tests.settle import workers_done
from tests.test_generate_units import _error, _mock_workspace, _ok

LIMITER = {"requests_per_min": 10_000.0, "tokens_per_min": 30_000_000.0, "paused_until": None,
           "paused_for_s": 0.0, "scale": 1.0}

HOLD = """
import sys
from distill_tui.core.store.database import Store
store = Store(sys.argv[1])
with store.run_lock(sys.argv[2]):
    store.start_run("generate", sys.argv[2])
    print("held", flush=True)
    sys.stdin.read()
"""


def _progress(**changes) -> Progress:
    base = dict(model="offline-teacher", split="train", total=420, done=20, failed=0, in_flight=0, left=400,
                requests=20, retries=0, rate_limited=0, input_tokens=3000, output_tokens=160, cost_usd=0.0159,
                elapsed_s=2.0, rows_per_s=10.0, tokens_per_s=1500.0, eta_s=0.0, limiter=dict(LIMITER),
                last_errors=[], last_answers=[], state="running", budget_usd=5.0, estimated_total_usd=0.3465,
                spent_usd=0.0159)
    return Progress(**{**base, **changes})


def _spec(folder: Path, base_url: str, **generation) -> Path:
    gen = {"workers": 2, "budget_usd": 5.0, **generation}
    return write_spec(folder, rows=40, provider={"base_url": base_url}, generation=gen)


async def _settle(pilot) -> None:
    await pilot.pause()
    await workers_done(pilot.app)
    await pilot.pause()


async def _open_generate(pilot):
    await pilot.press("3")
    await _settle(pilot)
    from distill_tui.tui.screens.generate import GenerateScreen

    assert isinstance(pilot.app.screen, GenerateScreen)
    return pilot.app.screen


async def _until(pilot, condition, what: str) -> None:
    """Wait on a condition, not on a time: generous on a loaded machine, fails with what it waited for."""
    for _ in range(1200):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never happened: {what}")


def _text(widget) -> str:
    return str(widget.render())


# 1: the Results screen shows the limiter as the Generate screen does ------------------------------
async def test_results_progress_shows_readable_limiter(tmp_path):
    from tests.test_screen_results import make_workspace, open_results

    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        from distill_tui.tui.screens.results_messages import EvalProgress

        progress = _progress(split="eval", total=180, done=112, left=68, eta_s=0.0, cost_usd=0.0887)
        app.screen.show_progress(EvalProgress(0, 3, progress))
        await pilot.pause()
        status = _text(app.screen.query_one("#status"))
        assert fmt.limiter_text(LIMITER) == "10,000 rpm · 30.0M tpm"
        assert "10,000 rpm · 30.0M tpm" in status
        assert "{" not in status and "requests_per_min" not in status


# 2: another process's run ------------------------------------------------------------------------
def _hold_lock(ws: Workspace) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(ws.store.path), ws.spec.teacher.model],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _release(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=60)


def test_run_holder_reports_another_process_without_taking_the_lock(tmp_path):
    ws = Workspace.open(_spec(tmp_path, "http://127.0.0.1:9/v1"))
    model = ws.spec.teacher.model
    assert run_holder(ws.store, model) is None
    proc = _hold_lock(ws)
    try:
        holder = run_holder(ws.store, model)
        assert holder is not None and holder.pid == proc.pid and not holder.this_process
        assert holder.kind == "generate" and holder.doing == "generating"
        assert run_holder(ws.store, "another-model") is None
        assert run_holder(ws.store, model) == holder  # asking again changed nothing
    finally:
        _release(proc)
    assert run_holder(ws.store, model) is None  # the file stays; nobody holds it
    with ws.store.run_lock(model):
        assert run_holder(ws.store, model).this_process


async def test_generate_screen_follows_a_run_in_another_process(tmp_path, offline_server, monkeypatch):
    from distill_tui.core.run.generate import _run_unlocked
    from distill_tui.tui.screens import generate as screen_module

    monkeypatch.setattr(screen_module, "POLL_S", 0.1)
    spec = _spec(tmp_path, offline_server.base_url)
    ws = Workspace.open(spec)
    proc = _hold_lock(ws)
    try:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _open_generate(pilot)
            await _until(pilot, lambda: screen.holder is not None and screen.plan is not None, "holder seen")
            status = screen.query_one("#status")
            assert f"another distill-tui (pid {proc.pid}, since" in _text(status).lower()
            assert "is generating offline-teacher here" in _text(status)
            assert _text(screen.query_one("#state")) == "running elsewhere"
            assert screen.plan.done == 0

            # Answers land from "the other process" (its own workspace object, as another process has).
            other = Workspace.open(spec)
            await asyncio.to_thread(_run_unlocked, other, other.spec.teacher.model, "train", limit=3)
            await _until(pilot, lambda: screen.plan.done == 3, "answers of the other run counted")
            await _until(pilot, lambda: screen.query_one("#answers").row_count == 3, "its answers listed")

            await pilot.press("s")
            await _until(pilot, lambda: not screen.running, "refusal")
            await pilot.pause()
            assert status.has_class("error")
            refusal = _text(status)
            assert refusal.startswith("Cannot start: another distill-tui (pid") and "wait for it to end" in refusal
            # It fits: wrapped at the status width it takes no more lines than the status shows.
            assert len(textwrap.wrap(refusal, status.content_size.width)) <= status.content_size.height

            _release(proc)
            await _until(pilot, lambda: screen.holder is None and "s resumes" in _text(status), "holder gone")
            assert _text(status).startswith("3 of ") and _text(screen.query_one("#state")) == "idle"
            assert not status.has_class("error")
    finally:
        _release(proc)


# 3: the finished state after a restart ------------------------------------------------------------
async def test_finished_state_is_shown_after_a_restart(tmp_path, offline_server):
    spec = _spec(tmp_path, offline_server.base_url)
    assert run_teacher(Workspace.open(spec)).exit_code == 0
    app = DistillApp(Workspace.open(spec))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_generate(pilot)
        total = screen.plan.total
        assert _text(screen.query_one("#status")) == f"all {total} rows answered · c to curate"
        assert _text(screen.query_one("#state")) == "done"
        assert "Nothing left to ask" in _text(screen.query_one("#plan"))


async def test_partial_state_is_shown_after_a_restart(tmp_path, offline_server):
    spec = _spec(tmp_path, offline_server.base_url)
    assert run_teacher(Workspace.open(spec), limit=5).answered_now == 5
    app = DistillApp(Workspace.open(spec))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_generate(pilot)
        status = _text(screen.query_one("#status"))
        assert status == f"5 of {screen.plan.total} rows answered · s resumes, f tries 20 rows first"
        assert _text(screen.query_one("#state")) == "idle"


# 4: retried rows in the errors pane, and the limiter that fits ------------------------------------
def test_recent_errors_mark_retries_and_keep_failures():
    errors = RecentErrors(3)
    errors.add(5, "429 slow down", final=False)
    errors.add(8, "500 oops", final=True)
    errors.answered(5)
    assert errors.snapshot() == [(5, "429 slow down", "answered"), (8, "500 oops", "failed")]
    errors.add(9, "429 slow down", final=False)
    errors.add(9, "429 again", final=False)  # one entry per row
    errors.add(10, "400 too long", final=True)
    assert errors.snapshot() == [(8, "500 oops", "failed"), (9, "429 again", "retrying"),
                                 (10, "400 too long", "failed")]
    errors.add(11, "400 too long", final=True)
    errors.add(12, "429 slow down", final=False)  # a retry never pushes a failure out
    assert [row for row, _, _ in errors.snapshot()] == [8, 10, 11]


def test_engine_marks_a_row_answered_after_a_429(tmp_path):
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def handler(body):
        text = body["messages"][-1]["content"]
        with lock:
            seen[text] = seen.get(text, 0) + 1
            first = seen[text] == 1
        if "Points: 81." in text:
            return _error(400, "context_length_exceeded", "too long")
        if first and ("Points: 83." in text or "Points: 84." in text):
            return _error(429, "rate_limit_exceeded", "slow down", {"retry-after-ms": "1"})
        return _ok(body)

    ws, _ = _mock_workspace(tmp_path, handler, workers=1)
    snapshots: list[Progress] = []
    result = run_teacher(ws, on_progress=snapshots.append)
    assert result.failed == 1 and 0 < result.rate_limited < 8 and result.done == result.total - 1
    outcomes = [outcome for _, _, outcome in snapshots[-1].last_errors]
    assert sorted(set(outcomes)) == ["answered", "failed"]
    assert outcomes.count("answered") == result.rate_limited and outcomes.count("failed") == 1
    assert "too long" in [line for _, line, outcome in snapshots[-1].last_errors if outcome == "failed"][0]


async def test_errors_pane_marks_what_became_of_each_row(tmp_path, offline_server):
    app = DistillApp(Workspace.open(_spec(tmp_path, offline_server.base_url)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_generate(pilot)
        errors = [(5, "rate limited (429 rate_limit_exceeded): Rate limit reached", "answered"),
                  (7, "rate limited (429 rate_limit_exceeded): Rate limit reached", "retrying"),
                  (9, "provider error (500): The server had an error", "failed")]
        screen.show_progress(_progress(last_errors=errors))
        await pilot.pause()
        console = Console(width=34, record=True, color_system=None)
        console.print(screen.query_one("#errors").content)
        lines = [line for line in console.export_text().splitlines() if line.strip()]
        assert [line.split()[0] for line in lines[1:]] == ["9", "7", "5"]  # newest first
        assert lines[1].rstrip().endswith("✗") and lines[2].rstrip().endswith("↻")
        assert lines[3].rstrip().endswith("✓")


def test_limiter_fits_the_stats_at_80_columns():
    from distill_tui.tui.widgets.progress_stats import stats_table

    limiter = {**LIMITER, "requests_per_min": 112.0, "tokens_per_min": 28_100_000.0, "scale": 0.93,
               "paused_for_s": 1.25}
    console = Console(width=78, record=True, color_system=None)
    console.print(stats_table(_progress(limiter=limiter, requests=1234, retries=567, rate_limited=89), None))
    text = console.export_text()
    assert "112 rpm · 28.1M tpm (slowed to 93%), paused 1.2s" in text
    assert "1,234 (567 retries)" in text and "…" not in text


# 5: no ETA once stopped; money figures that say what they are ------------------------------------
def test_progress_line_has_no_eta_once_stopped():
    assert "ETA" in fmt.progress_line(_progress())
    line = fmt.progress_line(_progress(state="limit"))
    assert line.startswith("LIMIT · ") and "ETA" not in line and "400 left" in line


async def test_money_lines_name_their_figures(tmp_path, offline_server):
    app = DistillApp(Workspace.open(_spec(tmp_path, offline_server.base_url)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_generate(pilot)
        plan = screen.plan
        idle = _text(screen.query_one("#plan")).splitlines()[1]
        assert idle.startswith(f"Estimate for the {plan.to_ask} rows left $")
        assert " of ~" not in _text(screen.query_one("#stats"))
        running = dataclasses.replace(_progress(), total=plan.total, done=2, left=plan.total - 4, in_flight=2,
                                      spent_usd=0.01, estimated_total_usd=0.05)
        screen.show_progress(running)
        await pilot.pause()
        live = _text(screen.query_one("#plan")).splitlines()[1]
        assert live.startswith(f"Estimate for the {plan.total - 2} rows left $0.0400 · spent so far $0.0100")
        assert " of ~" not in _text(screen.query_one("#stats"))

