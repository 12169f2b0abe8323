"""The Jobs screen: the loss chart, snapshots at 80x24 of hand-built history, and Pilot runs against
the offline provider (create and follow a job; attach one after a restart)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.widgets.loss_chart import VALID_MARK, render_chart
from tests.helpers import write_spec
from tests.settle import workers_done
from tests.test_finetune_poll import exported_workspace, write_training

UNREACHABLE = "http://127.0.0.1:9/v1"  # nothing listens: the provider list fails at once, deterministically


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _metrics(step: int, loss: float, acc: float, valid: bool) -> dict:
    data = {"step": step, "train_loss": loss, "train_mean_token_accuracy": acc}
    if valid:
        data.update(valid_loss=loss * 1.1 + 0.05, valid_mean_token_accuracy=acc - 0.04)
    return data


def build_history(ws: Workspace, folder: Path) -> None:
    """Two finished jobs with fixed ids and times: one succeeded (metrics, checkpoints), one failed."""
    t0 = 1_790_000_000.0
    store = ws.store
    train = "/data/exports/wine/train.jsonl"  # a fixed path: snapshots must not show a temporary folder
    store.save_job(JobRecord(
        id="ftjob-demo-succeeded", backend="offline", base_model="offline-student", status="succeeded",
        fine_tuned_model="ft:offline-student:distill:7p4lURel", training_file="file-train", trained_tokens=48_210,
        local_training_path=train, created_at=t0, finished_at=t0 + 185,
        data={"timeline": [["validating_files", t0], ["queued", t0 + 4], ["running", t0 + 9], ["succeeded", t0 + 185]],
              "hyperparameters": {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
              "training_cost_usd": 48_210 * 3.0 / 1e6, "estimated_cost_usd": 0.15, "source": "created"},
    ))
    events = [{"id": "ev-000", "created_at": t0 + 1, "level": "info", "type": "message", "message": "Validating training file"}]
    for step in range(1, 31):
        loss = 2.4 * (0.88 ** step) + 0.08
        acc = 0.45 + 0.5 * (1 - 0.88 ** step)
        events.append({"id": f"ev-{step:03d}", "created_at": t0 + 9 + step * 5, "level": "info", "type": "metrics",
                       "message": f"Step {step}/30: training loss={loss:.2f}", "data": _metrics(step, loss, acc, step % 5 == 0)})
    events.append({"id": "ev-999", "created_at": t0 + 185, "level": "info", "type": "message",
                   "message": "The job has successfully completed"})
    store.save_events("ftjob-demo-succeeded", events)
    store.save_checkpoints("ftjob-demo-succeeded", [
        {"id": f"ckpt-{s}", "step": s, "model_name": f"ft:offline-student:distill:7p4lURel:ckpt-step-{s}",
         "metrics": _metrics(s, 0.3 - s / 200, 0.9, True), "created_at": t0 + 100 + s} for s in (10, 20, 30)
    ])
    store.save_job(JobRecord(
        id="ftjob-demo-failed", backend="offline", base_model="offline-student", status="failed",
        error="Training file has 3 example(s), but must have at least 10 examples.", local_training_path=train,
        created_at=t0 - 3600, finished_at=t0 - 3590,
        data={"timeline": [["validating_files", t0 - 3600], ["failed", t0 - 3590]], "source": "created",
              "error_code": "invalid_training_file", "error_param": "training_file"},
    ))


@pytest.fixture
def history_workspace(tmp_path: Path, utc) -> Workspace:
    ws = Workspace.open(write_spec(tmp_path, provider={"base_url": UNREACHABLE}))
    build_history(ws, tmp_path)
    return ws


async def _open_jobs(pilot) -> None:
    """Switch to the Jobs screen and wait until the provider list was asked and the table redrawn."""
    await pilot.press("5")
    await _settle(pilot, lambda: getattr(pilot.app.screen, "listed", False))
    pilot.app.screen.query_one("#jobs").focus()
    # Textual sometimes sends the table a synthetic mouse move (hover styles); park the mouse elsewhere.
    await pilot.hover("#jobs-status")
    await _settle(pilot, lambda: True)


async def _settle(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        await workers_done(pilot.app)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        if condition() and not any(w.is_running for w in pilot.app.workers):
            return
        if time.monotonic() > deadline:
            raise AssertionError("the screen did not settle")
        await asyncio.sleep(0.02)


# the chart -----------------------------------------------------------------------------------


def test_chart_draws_train_as_braille_and_valid_as_dots():
    series = {"train_loss": [(s, 2.0 / s) for s in range(1, 41)], "valid_loss": [(10, 0.3), (20, 0.2), (40, 0.1)],
              "train_mean_token_accuracy": [(s, s / 40) for s in range(1, 41)]}
    lines = render_chart(series, 40, 10).plain.splitlines()
    assert len(lines) == 10 and all(len(line) <= 40 for line in lines)
    plot = "".join(lines[:-3])
    assert any(0x2800 < ord(ch) <= 0x28FF for ch in plot) and VALID_MARK in plot
    assert lines[0].startswith(" 2.000┤")
    assert "step 1" in lines[-3] and lines[-3].rstrip().endswith("40")
    assert lines[-2].startswith("⣀ train loss 0.050") and "• valid loss 0.100" in lines[-2]
    assert lines[-1].startswith("token acc ") and lines[-1].endswith("100.0%")


def test_chart_without_metrics_or_room():
    assert "no metrics yet" in render_chart({}, 40, 8).plain
    tiny = render_chart({"train_loss": [(1, 1.0), (2, 0.5)]}, 30, 1).plain
    assert tiny == "⣀ train loss 0.500"


# snapshots -------------------------------------------------------------------------------------


def test_snapshot_jobs_history(history_workspace, snap_compare):
    from distill_tui.tui.app import DistillApp

    assert snap_compare(DistillApp(history_workspace), terminal_size=(80, 24), run_before=_open_jobs)


def test_snapshot_jobs_history_no_color(history_workspace, snap_compare, monkeypatch):
    from distill_tui.tui.app import DistillApp

    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(DistillApp(history_workspace), terminal_size=(80, 24), run_before=_open_jobs)


def test_snapshot_failed_job_what_now(history_workspace, snap_compare):
    from distill_tui.tui.app import DistillApp

    async def run_before(pilot):
        await _open_jobs(pilot)
        await pilot.press("down", "w")
        await pilot.pause()

    assert snap_compare(DistillApp(history_workspace), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_events_tab(history_workspace, snap_compare):
    from distill_tui.tui.app import DistillApp

    async def run_before(pilot):
        await _open_jobs(pilot)
        await pilot.press("t")
        await pilot.pause()

    assert snap_compare(DistillApp(history_workspace), terminal_size=(80, 24), run_before=run_before)


def demo_plan():
    """A plan with fixed paths, both files, a validation warning and a stale export: the busiest dialog."""
    from distill_tui.core.train.backend import JobRequest
    from distill_tui.core.train.checks import STALE_EXPORT
    from distill_tui.core.train.plan import JobPlan

    request = JobRequest(
        "offline-student", Path("/data/exports/wine/wine-20260921-141320.jsonl"),
        Path("/data/exports/wine/wine-20260921-141320.valid.jsonl"), suffix="wine", seed=7,
        metadata={"app": "distill-tui", "workspace": "wine-3f2a9c"}, batch_size=4,
    )
    files = [STALE_EXPORT, "training file: OpenAI suggests starting with at least 50 examples"]
    return JobPlan(request, "offline", 42, 5, 42 * 310 * 3, 42 * 310 * 3 * 3e-6, 3, list(files),
                   shutdown_dates={"offline-student": None, "offline-old": "2020-01-01"}, file_warnings=files)


def test_snapshot_new_job_dialog(history_workspace, snap_compare):
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog

    async def run_before(pilot):
        await _open_jobs(pilot)
        await pilot.app.push_screen(NewJobDialog(demo_plan(), history_workspace.prices))
        await pilot.pause()
        pilot.app.screen.query_one("#f-model").value = "offline-old"  # a model the provider says is shut down
        await pilot.pause()

    assert snap_compare(DistillApp(history_workspace), terminal_size=(80, 24), run_before=run_before)


# Pilot against the offline provider ----------------------------------------------------------------


async def _wait_for(pilot, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the screen")
        await asyncio.sleep(0.05)
        await pilot.pause()


def test_history_shows_at_once_and_provider_note(history_workspace):
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.screens.jobs import JobsScreen

    async def run() -> None:
        app = DistillApp(history_workspace)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            screen = app.screen
            assert isinstance(screen, JobsScreen)
            assert list(screen._local) == ["ftjob-demo-succeeded", "ftjob-demo-failed"]
            assert screen._selected == "ftjob-demo-succeeded"
            chart = screen.query_one("#job-chart")
            assert chart.series["train_loss"][-1][0] == 30 and len(chart.series["valid_loss"]) == 6
            assert "provider not asked" in str(screen.query_one("#jobs-status").render())

    asyncio.run(run())


def test_create_and_follow_a_job_from_the_screen(offline_server, tmp_path):
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.screens.jobs import JobsScreen
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog

    ws = exported_workspace(tmp_path, offline_server.base_url)

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            await pilot.press("n")
            await _wait_for(pilot, lambda: isinstance(app.screen, NewJobDialog) and bool(app.screen.query("#estimate")))
            assert "Estimated training" in str(app.screen.query_one("#estimate").render())
            await pilot.press("ctrl+s")
            await _wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen._local)
            screen = app.screen
            job_id = next(iter(screen._local))
            assert ws.store.job(job_id) is not None  # saved the moment it existed
            await _wait_for(pilot, lambda: screen._local[job_id].status == "succeeded")
            record = ws.store.job(job_id)
            assert record.fine_tuned_model and record.trained_tokens
            await _wait_for(pilot, lambda: screen.query_one("#job-chart").series.get("train_loss"))
            assert screen._selected == job_id

    asyncio.run(run())


def test_restart_shows_the_job_and_resumes_following(offline_server, tmp_path):
    from distill_tui.core.train.follow import job_events
    from distill_tui.core.train.jobs import create_job
    from distill_tui.core.train.plan import request_for
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.screens.jobs import JobsScreen

    ws = exported_workspace(tmp_path, offline_server.base_url)
    job_id = create_job(ws, request_for(ws)).id  # created, never followed: then the "SSH link drops"
    ws.close()

    again = Workspace.open(tmp_path / "spec.toml")

    async def run() -> None:
        app = DistillApp(again)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            screen = app.screen
            assert isinstance(screen, JobsScreen)
            assert screen._selected == job_id  # shown at once, from the store
            await _wait_for(pilot, lambda: screen._local[job_id].status == "succeeded")
            assert again.store.job(job_id).fine_tuned_model
            assert len(job_events(again.store, job_id)) > 3

    asyncio.run(run())


def test_training_closed_opens_the_way_forward(tmp_path):
    from distill_tui.offline import OfflineOptions, start_server
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.screens.training_closed import TrainingClosedScreen
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog

    server = start_server(OfflineOptions(job_seconds=1.0, refuse_training=True))
    ws = exported_workspace(tmp_path, server.base_url)
    path = tmp_path / "train.jsonl"

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            await pilot.press("n")
            await _wait_for(pilot, lambda: isinstance(app.screen, NewJobDialog) and bool(app.screen.query("#estimate")))
            await pilot.press("ctrl+s")
            await _wait_for(pilot, lambda: isinstance(app.screen, TrainingClosedScreen))
            closed = app.screen
            assert closed.paths == [str(path)]
            assert "training_not_available" in closed.what
            assert "TRL" in closed.markdown and str(path) in closed.markdown
            await pilot.press("escape")
            await pilot.pause()
            assert ws.store.jobs() == []

    try:
        asyncio.run(run())
    finally:
        server.shutdown()


def test_cancel_from_the_screen(tmp_path):
    from distill_tui.core.train.jobs import create_job
    from distill_tui.core.train.plan import request_for
    from distill_tui.offline import OfflineOptions, start_server
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog

    server = start_server(OfflineOptions(job_seconds=60.0))
    ws = exported_workspace(tmp_path, server.base_url)
    job_id = create_job(ws, request_for(ws)).id

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            screen = app.screen
            await pilot.press("x")
            await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            await _wait_for(pilot, lambda: screen._local[job_id].status == "cancelled")
            assert ws.store.job(job_id).status == "cancelled"

    try:
        asyncio.run(run())
    finally:
        server.shutdown()


def test_attach_from_the_screen(offline_server, tmp_path):
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.widgets.job_dialogs import AttachDialog

    ws = Workspace.open(write_spec(tmp_path, provider={"base_url": offline_server.base_url}))
    client = ws.client()
    path = write_training(tmp_path / "train.jsonl", n=12)
    with open(path, "rb") as handle:
        file_id = client.files.create(file=("t.jsonl", handle), purpose="fine-tune").id
    job_id = client.fine_tuning.jobs.create(model="offline-student", training_file=file_id).id

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            screen = app.screen
            assert job_id in screen._remote  # listed from the provider, not yet kept
            await pilot.press("a")
            await _wait_for(pilot, lambda: isinstance(app.screen, AttachDialog) and bool(app.screen.query("#f-job")))
            app.screen.query_one("#f-job").value = job_id
            await pilot.press("enter")
            await _wait_for(pilot, lambda: job_id in screen._local and screen._local[job_id].status == "succeeded")
            assert ws.store.job(job_id).data["source"] == "attached"

    asyncio.run(run())


def test_pause_and_resume_from_the_screen(tmp_path):
    from textual.widgets._footer import FooterKey

    from distill_tui.core.train.jobs import create_job
    from distill_tui.core.train.plan import request_for
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.widgets.job_details import timeline_text
    from tests.conftest_offline import running

    with running(job_seconds=10.0) as server:
        ws = exported_workspace(tmp_path, server.base_url, n=40)
        job_id = create_job(ws, request_for(ws)).id

        async def run() -> None:
            app = DistillApp(ws)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.press("5")
                screen = app.screen
                keys = list(screen.query(FooterKey))
                assert "Pause/resume" in {k.description for k in keys}
                assert all(k.region.right <= 80 for k in keys)
                await pilot.press("p")  # validating: nothing to pause yet, says so
                await _wait_for(pilot, lambda: screen._local[job_id].status == "running")
                await pilot.press("p")
                await _wait_for(pilot, lambda: ws.store.job(job_id).status == "paused")
                await _wait_for(pilot, lambda: screen._local[job_id].status == "paused")
                assert "‖ paused" in timeline_text(screen._local[job_id]).plain
                assert "p resumes it" in str(screen.query_one("#jobs-status").render())
                await pilot.press("p")
                await _wait_for(pilot, lambda: ws.store.job(job_id).status == "running")
                await _wait_for(pilot, lambda: screen._local[job_id].status == "succeeded", timeout=60)

        asyncio.run(run())
        ws.close()
