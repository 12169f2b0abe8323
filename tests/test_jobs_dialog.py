"""The Jobs screen at 80x24 beyond the snapshots: the New-job dialog's settings (defaults from the
spec, every field editable, the shutdown date checked again when the model changes) and the
fine-tuned model name shown in full."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from distill_tui.core.train.backend import JobRequest
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.widgets.job_dialogs import edited_request
from tests.helpers import write_spec
from tests.test_finetune_poll import exported_workspace, write_training
from tests.test_screen_jobs import _open_jobs, _wait_for, build_history, demo_plan, utc  # noqa: F401  (fixture)

LONG_MODEL = "ft:gpt-4o-mini-2024-07-18:acme-research-lab:wine-variety-classifier:AbCdEf12"
FIELDS = {"f-model": "m", "f-suffix": "", "f-epochs": "auto", "f-batch": "auto", "f-lr": "auto", "f-seed": ""}


def visible_text(widget) -> str:
    """What a widget shows on screen, its lines joined (a wrapped name reads whole)."""
    from textual.geometry import Region

    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "".join(strip.text.rstrip() for strip in strips)


def test_edited_request_takes_every_field():
    base = JobRequest("offline-student", Path("t.jsonl"), metadata={"app": "distill-tui"})
    request, problem = edited_request(base, {"f-model": " gpt-4o-mini ", "f-suffix": "v2", "f-epochs": "4",
                                             "f-batch": "8", "f-lr": "0.5", "f-seed": "42"})
    assert problem == ""
    assert (request.model, request.suffix, request.seed) == ("gpt-4o-mini", "v2", 42)
    assert request.hyperparameters() == {"n_epochs": 4, "batch_size": 8, "learning_rate_multiplier": 0.5}
    assert request.metadata == {"app": "distill-tui"} and request.training_path == Path("t.jsonl")
    same, _ = edited_request(base, FIELDS)
    assert same.hyperparameters() == {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert same.seed is None and same.suffix is None


@pytest.mark.parametrize("field,value,problem", [
    ("f-model", " ", "a model is required"),
    ("f-suffix", "a:b", "suffix"), ("f-suffix", "x" * 65, "suffix"),
    ("f-epochs", "0", "epochs"), ("f-epochs", "51", "epochs"),
    ("f-batch", "300", "batch size"), ("f-batch", "two", "batch size"),
    ("f-lr", "0", "LR multiplier"), ("f-lr", "fast", "LR multiplier"),
    ("f-seed", "-1", "seed"), ("f-seed", "1.5", "seed"),
])
def test_edited_request_names_what_is_wrong(field, value, problem):
    request, line = edited_request(JobRequest("m", Path("t.jsonl")), {**FIELDS, field: value})
    assert request is None and problem in line


def test_create_with_the_settings_as_edited(offline_server, tmp_path):
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.screens.jobs import JobsScreen
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog

    ws = Workspace.open(write_spec(tmp_path, provider={"base_url": offline_server.base_url},
                                   finetune={"suffix": "wine", "seed": 3, "batch_size": 2, "n_epochs": 2,
                                             "learning_rate_multiplier": 1.5}))
    path = write_training(tmp_path / "train.jsonl", n=12)
    ws.store.record_export(str(path), examples=12, tokens=0)

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            await pilot.press("n")
            await _wait_for(pilot, lambda: isinstance(app.screen, NewJobDialog) and bool(app.screen.query("#estimate")))
            dialog = app.screen
            shown = {f: dialog.query_one(f"#{f}").value for f in FIELDS}
            assert shown == {"f-model": "offline-student", "f-suffix": "wine", "f-epochs": "2", "f-batch": "2",
                             "f-lr": "1.5", "f-seed": "3"}  # the spec's [finetune]
            assert "metadata app=distill-tui, workspace=" in visible_text(dialog.query_one("#metadata"))
            box = dialog.query_one("Vertical")
            assert box.region.y >= 0 and box.region.bottom <= 24 and dialog.query_one("#create").region.bottom <= 24

            for field, value in {"f-epochs": "3", "f-batch": "4", "f-lr": "0.5", "f-seed": "11", "f-suffix": "v2"}.items():
                dialog.query_one(f"#{field}").value = value
            dialog.query_one("#f-batch").value = "0"
            await pilot.pause()
            assert "Batch size must be" in str(dialog.query_one("#estimate").render())
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is dialog  # not created while a field is wrong
            dialog.query_one("#f-batch").value = "4"
            await pilot.pause()
            assert "3 epochs" in str(dialog.query_one("#estimate").render())
            await pilot.press("ctrl+s")
            await _wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen._local)
            record = ws.store.job(next(iter(app.screen._local)))
            assert record.data["hyperparameters"] == {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 0.5}
            assert record.data["seed"] == 11 and record.data["suffix"] == "v2"
            assert set(record.data["metadata"]) == {"app", "workspace"}
            assert record.data["estimated_epochs"] == 3

    asyncio.run(run())


def test_editing_the_model_checks_its_shutdown_date_again(tmp_path):
    from textual.app import App

    from distill_tui.core.cost.pricing import load_prices
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog

    prices = load_prices()
    plan = demo_plan()
    plan = replace(plan, warnings=list(plan.file_warnings))

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(NewJobDialog(plan, prices))

    async def run() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            dialog = app.screen
            estimate = lambda: str(dialog.query_one("#estimate").render())  # noqa: E731
            assert "shut" not in estimate()
            dialog.query_one("#f-model").value = "offline-old"  # only the provider's list has its date
            await pilot.pause()
            assert "offline-old was shut down on 2020-01-01" in estimate()
            date = prices.shutdown_date("gpt-4o-mini")
            dialog.query_one("#f-model").value = "gpt-4o-mini"  # the price table has its date
            await pilot.pause()
            assert date, "the bundled price table dates gpt-4o-mini"
            assert f"gpt-4o-mini shuts down on {date}" in estimate() or f"gpt-4o-mini was shut down on {date}" in estimate()
            dialog.query_one("#f-model").value = "offline-student"
            await pilot.pause()
            assert "shut" not in estimate() and "the export is older" in estimate()

    asyncio.run(run())


def test_plan_asks_the_provider_for_shutdown_dates(offline_server, tmp_path, monkeypatch):
    from distill_tui.core.train import plan as finetune_plan
    from distill_tui.core.train.plan import plan_job
    from tests.test_finetune import make_workspace

    ws = make_workspace(tmp_path, offline_server.base_url)
    try:
        plan = plan_job(ws)
        assert "offline-student" in plan.shutdown_dates  # the offline provider's models.list()
        monkeypatch.setattr(finetune_plan, "provider_shutdown_dates", lambda _ws: {"offline-student": "2099-01-01"})
        assert any("offline-student shuts down on 2099-01-01" in w for w in plan_job(ws).warnings)
    finally:
        ws.close()


def test_the_fine_tuned_model_name_shows_in_full_at_80x24(tmp_path, utc):
    from distill_tui.tui.app import DistillApp

    ws = Workspace.open(write_spec(tmp_path, provider={"base_url": "http://127.0.0.1:9/v1"}))
    build_history(ws, tmp_path)
    record = ws.store.job("ftjob-demo-succeeded")
    record.fine_tuned_model = LONG_MODEL
    ws.store.save_job(record)

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            screen = app.screen
            line = screen.query_one("#job-model")
            assert LONG_MODEL in visible_text(line) and line.region.bottom <= 23
            screen._status(f"ftjob-demo-succeeded succeeded: {LONG_MODEL}")  # what following to the end says
            await pilot.pause()
            status = screen.query_one("#jobs-status")
            assert status.size.height == 2 and visible_text(status).endswith(LONG_MODEL)

    asyncio.run(run())


def test_a_refused_export_says_why_and_opens_no_dialog(offline_server, tmp_path):
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog

    ws = exported_workspace(tmp_path, offline_server.base_url, n=3)

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            screen = app.screen
            await pilot.press("n")
            await _wait_for(pilot, lambda: "provider would reject" in str(screen.query_one("#jobs-status").render()))
            assert not isinstance(app.screen, NewJobDialog) and ws.store.jobs() == []
            assert "at least 10" in visible_text(screen.query_one("#jobs-status"))

    asyncio.run(run())


def test_what_now_for_a_rejected_file_says_to_fix_it():
    from distill_tui.core.store.jobs import JobRecord
    from distill_tui.tui.screens.training_closed import TrainingClosedScreen

    def screen(**data):
        return TrainingClosedScreen.from_job(JobRecord(
            id="ftjob-x", backend="openai", base_model="gpt-4o-mini", status="failed", local_training_path="/t.jsonl",
            error="Invalid file format. Line 3, key \"messages\": At least one assistant message is required.", data=data))

    rejected = screen(error_code="invalid_training_file", error_param="training_file").markdown
    assert "# Training file rejected" in rejected and "At least one assistant message is required" in rejected
    assert "## What to do" in rejected and "export again" in rejected
    assert "What else can train" not in rejected and "holds every curated example" not in rejected
    other = screen(error_code="server_error").markdown
    assert "## What else can train from it" in other and "holds every curated example" in other
