"""Pilot and snapshot tests of the Generate screen, against the offline provider."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.app import DistillApp
from tests.helpers import write_spec
from tests.settle import workers_done


def _app(folder: Path, base_url: str, rows: int = 40, **generation) -> DistillApp:
    gen = {"workers": 1, "budget_usd": 5.0, **generation}
    return DistillApp(Workspace.open(write_spec(folder, rows=rows, provider={"base_url": base_url}, generation=gen)))


async def _settle(pilot) -> None:
    await pilot.pause()
    await workers_done(pilot.app)
    await pilot.pause()


async def _open(pilot):
    await pilot.press("3")
    await _settle(pilot)
    from distill_tui.tui.screens.generate import GenerateScreen

    screen = pilot.app.screen
    assert isinstance(screen, GenerateScreen)
    return screen


async def _wait_finished(pilot, screen) -> None:
    for _ in range(600):
        await pilot.pause(0.05)
        if not screen.running:
            break
    await _settle(pilot)
    assert not screen.running


async def test_run_shows_progress_and_finishes(tmp_path, offline_server):
    app = _app(tmp_path, offline_server.base_url, workers=4)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(pilot)
        assert screen.plan is not None and screen.plan.to_ask == screen.plan.total == 32
        seen = []
        original = screen.show_progress
        screen.show_progress = lambda p: (seen.append(p), original(p))  # type: ignore[method-assign]
        await pilot.press("s")
        await _wait_finished(pilot, screen)
        assert screen.last_result is not None and screen.last_result.stopped is None
        assert screen.last_result.done == 32 and seen[-1].state == "done"
        assert screen.plan.to_ask == 0 and screen.plan.done == 32
        assert "all 32 rows answered" in str(screen.query_one("#status").render())
        assert screen.query_one("#answers").row_count == 8


async def test_smoke_run_then_continue(tmp_path, offline_server):
    app = _app(tmp_path, offline_server.base_url, rows=80)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await pilot.press("f")
        await _wait_finished(pilot, screen)
        assert screen.last_result.stopped == "limit" and screen.last_result.answered_now == 20
        await pilot.press("s")
        await _wait_finished(pilot, screen)
        assert screen.last_result.done == screen.last_result.total


async def test_pause_resume_and_cancel_with_confirmation(tmp_path):
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(latency=0.05))
    try:
        app = _app(tmp_path, server.base_url, rows=120, workers=2)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await _open(pilot)
            await pilot.press("s")
            await pilot.pause(0.3)
            await pilot.press("p")
            assert screen.controls.paused
            await pilot.pause(0.3)
            assert screen.last_progress is not None and screen.last_progress.state == "paused"
            await pilot.press("p")
            assert not screen.controls.paused
            await pilot.press("x")
            await pilot.pause()
            from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog

            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("n")  # changed my mind
            assert not screen.controls.cancelled
            await pilot.press("x")
            await pilot.press("y")
            await _wait_finished(pilot, screen)
            result = screen.last_result
            assert result.stopped == "cancelled" and 0 < result.done < result.total
            assert "run again to resume" in str(screen.query_one("#status").render())
    finally:
        server.shutdown()


async def test_no_key_is_shown_on_screen(tmp_path):
    app = DistillApp(Workspace.open(write_spec(
        tmp_path, provider={"base_url": "https://api.openai.com/v1", "api_key_env": "NO_KEY_HERE"})))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await pilot.press("s")
        await pilot.press("y")  # no budget is set: s asks first
        await _wait_finished(pilot, screen)
        status = screen.query_one("#status")
        assert status.has_class("error") and "NO_KEY_HERE" in str(status.render())
        assert screen.last_error and screen.last_result is None


async def test_progress_messages_coalesce():
    from distill_tui.tui.screens.generate import GenerationFinished, GenerationProgress

    first, second = GenerationProgress(None), GenerationProgress(None)  # type: ignore[arg-type]
    assert first.can_replace(second)
    assert not first.can_replace(GenerationFinished(None, "x"))


def _freeze(progress):
    """The timings of a finished run, fixed so the snapshot does not depend on the machine."""
    limiter = {**progress.limiter, "requests_per_min": 1_200.0, "tokens_per_min": 2_000_000.0, "scale": 1.0,
               "paused_for_s": 0.0, "paused_until": 0.0}
    return dataclasses.replace(progress, elapsed_s=2.0, rows_per_s=15.0, tokens_per_s=2_345.0, eta_s=0.0,
                               limiter=limiter)


def test_snapshot_before_start(tmp_path, offline_server, snap_compare):
    app = _app(tmp_path, offline_server.base_url)

    async def run_before(pilot):
        await _open(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_snapshot_after_finished_run(tmp_path, offline_server, snap_compare):
    app = _app(tmp_path, offline_server.base_url)

    async def run_before(pilot):
        screen = await _open(pilot)
        await pilot.press("s")
        await _wait_finished(pilot, screen)
        screen.show_progress(_freeze(screen.last_progress))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.fixture
def no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")


def test_snapshot_after_finished_run_no_color_100x30(tmp_path, offline_server, snap_compare, no_color):
    app = _app(tmp_path, offline_server.base_url)

    async def run_before(pilot):
        screen = await _open(pilot)
        await pilot.press("s")
        await _wait_finished(pilot, screen)
        screen.show_progress(_freeze(screen.last_progress))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def test_snapshot_failed_rows_and_errors(tmp_path, snap_compare):
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(fail_rate=0.3, seed=4))
    app = _app(tmp_path, server.base_url, max_retries=0)

    async def run_before(pilot):
        screen = await _open(pilot)
        await pilot.press("s")
        await _wait_finished(pilot, screen)
        assert screen.last_result.failed > 0
        screen.show_progress(_freeze(screen.last_progress))
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
    finally:
        server.shutdown()


async def test_batch_key_submits_then_collects(tmp_path, offline_server):
    import time

    from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog

    app = _app(tmp_path, offline_server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await pilot.press("b")
        await _settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "Send 32 rows to the Batch API?" in str(app.screen.query(".title").first().render())
        await pilot.press("y")
        await _wait_finished(pilot, screen)
        store = screen.workspace.store
        [batch] = store.batches(screen.workspace.spec.teacher.model)
        assert batch.id and batch.requests == 32
        assert "b checks and collects it" in str(screen.query_one("#plan").render())
        status = str(screen.query_one("#status").render())
        assert batch.id in status and "Press s to start" not in status  # what the step said stays shown
        assert str(screen.query_one("#state").render()) == "batch"
        deadline = time.monotonic() + 60
        while screen.plan.done < 32 and time.monotonic() < deadline:  # the batch ends after a few seconds
            await pilot.pause(0.3)
            await pilot.press("b")  # in flight: no question, it checks and collects
            assert not isinstance(app.screen, ConfirmDialog)
            await _wait_finished(pilot, screen)
        assert screen.plan.done == 32 and screen.plan.to_ask == 0
        assert "all 32 rows answered" in str(screen.query_one("#status").render())
        assert len(store.batches(screen.workspace.spec.teacher.model)) == 1  # never submitted twice
