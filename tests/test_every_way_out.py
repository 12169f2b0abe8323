"""Every way out of the TUI saves what was paid: Ctrl+Q on Results during an evaluation and a signal
during a run keep the answers in flight, and unsaved spec edits are never dropped without a word
(Ctrl+Q asks; a paid run on them asks; a signal keeps them beside the spec)."""

from __future__ import annotations

import dataclasses
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from distill_tui import locations
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.offline import OfflineOptions, start_server
from distill_tui.tui.app import DistillApp, recovery_path
from distill_tui.tui.widgets.choice_dialog import ChoiceDialog
from tests.helpers import write_spec
from tests.settle import workers_done


@pytest.fixture
def slow_server():
    server = start_server(OfflineOptions(latency=0.3))
    yield server
    server.shutdown()


def _app(folder: Path, base_url: str, **generation) -> DistillApp:
    gen = {"workers": 4, "budget_usd": 5.0, "max_retries": 0, **generation}
    return DistillApp(Workspace.open(write_spec(folder, rows=48, provider={"base_url": base_url}, generation=gen)))


def _saved(spec: Path, split: str) -> int:
    with sqlite3.connect(f"file:{locations.workspace_db(spec)}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM answers WHERE status='ok' AND split=?", (split,)).fetchone()[0]


def _settled(server) -> dict:
    """The server's counters once every request it received has been answered."""
    deadline = time.monotonic() + 30
    while server.stats["chat_ok"] < server.stats["chat_requests"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.stats


async def _until_in_flight(pilot, server) -> None:
    for _ in range(400):
        await pilot.pause(0.02)
        if server.stats["chat_ok"] >= 2 and server.stats["chat_requests"] > server.stats["chat_ok"]:
            return
    raise AssertionError("no requests in flight in time")


def _edit(app: DistillApp) -> None:
    """What an edit on the Dataset or Estimate screen does: a changed spec, not written to its file."""
    spec = app.workspace.spec
    app.workspace.set_spec(dataclasses.replace(spec, generation=dataclasses.replace(spec.generation, workers=2)))


async def test_ctrl_q_on_results_saves_the_answers_in_flight(tmp_path, slow_server):
    app = _app(tmp_path, slow_server.base_url)
    spec = app.workspace.spec.source
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        await workers_done(app)
        await pilot.press("r")
        await _until_in_flight(pilot, slow_server)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert _saved(spec, "eval") == _settled(slow_server)["chat_ok"]  # every answer the provider sent was kept


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
async def test_a_signal_quits_like_ctrl_q_and_saves_the_answers_in_flight(tmp_path, slow_server, signum):
    app = _app(tmp_path, slow_server.base_url)
    spec = app.workspace.spec.source
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await workers_done(app)
        await pilot.press("s")
        await _until_in_flight(pilot, slow_server)
        app.stop_on_signal(signum)
        for _ in range(400):
            await pilot.pause(0.02)
            if not app.is_running:
                break
    assert app.return_code == 1
    stats = _settled(slow_server)
    assert _saved(spec, "train") == stats["chat_ok"]


async def test_the_app_catches_the_stop_signals(tmp_path, offline_server):
    import asyncio

    app = _app(tmp_path, offline_server.base_url)
    async with app.run_test(size=(100, 30)):
        handlers = asyncio.get_running_loop()._signal_handlers  # noqa: SLF001 - what add_signal_handler installed
        assert {signal.SIGTERM, signal.SIGHUP, signal.SIGINT} <= set(handlers)


async def test_ctrl_q_with_unsaved_edits_asks_save_discard_or_stay(tmp_path, offline_server):
    app = _app(tmp_path, offline_server.base_url)
    spec = app.workspace.spec.source
    text = spec.read_text()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        _edit(app)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog)
        keys = str(app.screen.query_one(".keys").render())
        assert "d: discard" in keys and "s: save and quit" in keys and "escape: stay" in keys
        await pilot.press("escape")  # stay
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ChoiceDialog) and spec.read_text() == text
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("s")  # save and quit
        await pilot.pause()
    assert not app.is_running and "workers = 2" in spec.read_text()


async def test_ctrl_q_discard_keeps_the_file(tmp_path, offline_server):
    app = _app(tmp_path, offline_server.base_url)
    spec = app.workspace.spec.source
    text = spec.read_text()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        _edit(app)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
    assert not app.is_running and spec.read_text() == text


async def test_a_signal_keeps_unsaved_edits_beside_the_spec(tmp_path, offline_server):
    app = _app(tmp_path, offline_server.base_url)
    spec = app.workspace.spec.source
    text = spec.read_text()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        _edit(app)
        app.stop_on_signal(signal.SIGTERM)
        await pilot.pause()
    assert spec.read_text() == text and "workers = 2" in recovery_path(spec).read_text()
    again = DistillApp(Workspace.open(spec))
    async with again.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert any(str(recovery_path(spec)) in str(n.message) for n in again._notifications)  # noqa: SLF001


@pytest.mark.parametrize("screen_key,run_key", [("3", "s"), ("3", "f"), ("6", "r")], ids=["generate s", "generate f", "results r"])
async def test_a_paid_run_on_unsaved_edits_asks_to_save_them_first(tmp_path, offline_server, screen_key, run_key):
    app = _app(tmp_path, offline_server.base_url)
    spec = app.workspace.spec.source
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(screen_key)
        await pilot.pause()
        await workers_done(app)
        screen = app.screen
        _edit(app)
        requests = offline_server.stats["chat_requests"]
        await pilot.press(run_key)
        await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog) and "unsaved edits" in str(app.screen._title)  # noqa: SLF001
        assert offline_server.stats["chat_requests"] == requests  # nothing asked before the answer
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and not screen.running
        await pilot.press(run_key)
        await pilot.pause()
        await pilot.press("s")  # save, then run
        await pilot.pause()
        await workers_done(app)
        assert "workers = 2" in spec.read_text()
        assert offline_server.stats["chat_requests"] > requests


async def test_quitting_while_a_job_is_created_waits_for_its_record(tmp_path, offline_server, monkeypatch):
    """The job exists on the provider before its id is saved: quitting then must wait for the record,
    or the paid job is unknown here and the next `n` creates a second one."""
    import threading

    from distill_tui.core.train import jobs as finetune
    from distill_tui.core.store.database import Store
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog
    from tests.test_finetune_poll import exported_workspace
    from tests.test_screen_jobs import _open_jobs, _wait_for

    ws = exported_workspace(tmp_path, offline_server.base_url)
    created, release = threading.Event(), threading.Event()
    real = finetune._create

    def slow_create(*args, **kwargs):
        snapshot = real(*args, **kwargs)  # the job exists on the provider now
        created.set()
        release.wait(10)
        return snapshot

    monkeypatch.setattr(finetune, "_create", slow_create)
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_jobs(pilot)
        await pilot.press("n")
        await _wait_for(pilot, lambda: isinstance(app.screen, NewJobDialog) and bool(app.screen.query("#estimate")))
        await pilot.press("ctrl+s")
        await _wait_for(pilot, created.is_set)
        # The job's record comes late: an app that does not wait for it has closed the store by then.
        threading.Timer(2.0, release.set).start()
        app.stop_on_signal(signal.SIGTERM)
        for _ in range(400):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    store = Store(locations.workspace_db(ws.spec.source))
    jobs = store.jobs()
    store.close()
    assert len(jobs) == 1


async def test_ctrl_q_with_unsaved_edits_stops_sending_while_it_asks(tmp_path, slow_server):
    # The run went on sending requests (and paying) behind "Save your edits before quitting?".
    app = _app(tmp_path, slow_server.base_url)
    spec = app.workspace.spec.source
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await workers_done(app)
        screen = app.screen
        _edit(app)
        await pilot.press("s", "u")  # start on the edits, unsaved
        await _until_in_flight(pilot, slow_server)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog)
        asked = _settled(slow_server)["chat_requests"]  # those in flight are answered...
        for _ in range(10):
            await pilot.pause(0.05)
        assert slow_server.stats["chat_requests"] == asked and screen.running  # ...and no new one goes out
        assert "The run is paused while you answer" in str(app.screen._body)  # noqa: SLF001
        await pilot.press("escape")  # stay: the run goes on
        await pilot.pause()
        assert not screen.controls.paused
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("d")
        for _ in range(400):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    stats = _settled(slow_server)
    assert not app.is_running and stats["chat_requests"] > asked
    assert _saved(spec, "train") == stats["chat_ok"]  # every answer paid for is saved


async def test_staying_leaves_a_run_paused_by_the_user_paused(tmp_path, slow_server):
    app = _app(tmp_path, slow_server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await workers_done(app)
        screen = app.screen
        await pilot.press("s")
        await _until_in_flight(pilot, slow_server)
        await pilot.press("p")
        _edit(app)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert "The run is paused" not in str(app.screen._body)  # noqa: SLF001 - it was already
        await pilot.press("escape")
        await pilot.pause()
        assert screen.controls.paused
        screen.controls.cancel()
        await _until_ended(pilot, screen)


async def _until_ended(pilot, screen) -> None:
    for _ in range(400):
        await pilot.pause(0.05)
        if not screen.running:
            return
