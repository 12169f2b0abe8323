"""A local job on the Jobs screen at 80 columns: its paths and id are cut at the start, where rows
differ (every local id starts "local-2026…", every checkpoint path with the same job folder), and the
trainer's settings fit the summary pane."""

from __future__ import annotations

import asyncio

import pytest

from textual.widgets import DataTable

from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.widgets.job_details import summary_text
from distill_tui.tui.widgets.job_list import row_text
from tests.test_local_backend import local_spec

FOLDER = "/home/ada/.local/share/distill-tui/local-jobs/spec-1d3889052b/local-20261203-234848-38e2"
HYPER = {"method": "lora", "lora_r": 16, "epochs": 3, "batch_size": 8, "learning_rate": 2e-4}


def local_record(**data) -> JobRecord:
    return JobRecord(id="local-20261203-234848-38e2", backend="local", base_model="/home/ada/models/qwen3-small",
                     status="succeeded", fine_tuned_model=f"{FOLDER}/adapter", created_at=1.0,
                     data={"hyperparameters": HYPER, **data})


def test_the_list_row_shows_the_ends_of_a_local_jobs_id_and_paths() -> None:
    row = row_text(local_record()).plain
    assert row.startswith("…-234848-38e2  ✓ succeeded   …wen3-small  …-38e2/adapter  ")
    other = row_text(JobRecord(id="ftjob-abc", backend="openai", base_model="gpt-4o-mini-2024-07-18",
                               status="succeeded", created_at=1.0)).plain
    assert "gpt-4o-min…" in other  # a model name still reads from its start


def test_the_trainers_settings_fit_the_summary_pane() -> None:
    lines = summary_text(local_record(), []).plain.splitlines()
    [settings] = [line for line in lines if line.startswith("lora")]
    assert settings == "lora r16 · epochs 3 · batch 8 · lr 2e-4" and len(settings) <= 39


def test_checkpoints_tab_shows_which_checkpoint(tmp_path) -> None:
    from distill_tui.tui.app import DistillApp
    from tests.test_screen_jobs import _open_jobs, _wait_for

    ws = Workspace.open(local_spec(tmp_path))
    ws.store.save_job(local_record())
    ws.store.save_checkpoints("local-20261203-234848-38e2", [
        {"id": f"checkpoint-{s}", "step": s, "model_name": f"{FOLDER}/checkpoints/checkpoint-{s}", "metrics": None,
         "created_at": 2.0 + s} for s in (20, 40)])

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            table = app.screen.query_one("#job-checkpoints", DataTable)
            await _wait_for(pilot, lambda: table.row_count == 2)
            names = [str(table.get_row_at(i)[1]) for i in range(2)]
            assert names == ["…48-38e2/checkpoints/checkpoint-20", "…48-38e2/checkpoints/checkpoint-40"]

    try:
        asyncio.run(run())
    finally:
        ws.close()


def test_the_new_job_dialog_edits_what_the_local_trainer_reads() -> None:
    """Epochs, batch and LR edited in the dialog reach the trainer's settings (they were left at the
    spec's: an edit did nothing); the LR field is the trainer's learning rate, not a multiplier."""
    from pathlib import Path

    from distill_tui.core.train.backend import JobRequest
    from distill_tui.tui.widgets.job_dialogs import edited_request

    base = JobRequest("/models/tiny", Path("t.jsonl"), n_epochs=12, batch_size=4,
                      settings={"method": "lora", "epochs": 12, "batch_size": 4, "learning_rate": 0.01})
    fields = {"f-model": "/models/tiny", "f-suffix": "", "f-epochs": "2", "f-batch": "auto", "f-lr": "2e-4",
              "f-seed": ""}
    request, problem = edited_request(base, fields)
    assert problem == "" and request.settings == {"method": "lora", "epochs": 2, "batch_size": 8,
                                                  "learning_rate": 2e-4}
    request, problem = edited_request(base, {**fields, "f-lr": "auto"})
    assert request is None and problem == "the learning rate must be a number above 0 and below 1"


def test_the_new_job_dialog_of_a_local_job(tmp_path) -> None:
    from textual.widgets import Label, Static

    from distill_tui.core.train.plan import plan_job
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog
    from tests.test_finetune_poll import write_training

    pytest.importorskip("trl")
    ws = Workspace.open(local_spec(tmp_path, n_epochs=5, learning_rate=1e-3))
    ws.store.record_export(str(write_training(tmp_path / "t.jsonl", n=12)), examples=12, tokens=0)
    plan = plan_job(ws, live=False)
    assert not any("training price" in w for w in plan.warnings)  # priced by the GPU-hour, not by the token

    async def run() -> None:
        from textual.app import App

        app = App()
        async with app.run_test(size=(80, 24)) as pilot:
            dialog = NewJobDialog(plan, ws.prices)
            await app.push_screen(dialog)
            await pilot.pause()
            labels = [str(label.render()) for label in dialog.query(Label)]
            assert "LR" in labels and "LR mult" not in labels
            assert dialog.query_one("#f-lr").value == "0.001"
            estimate = str(dialog.query_one("#estimate", Static).render())
            assert "5 epochs" in estimate and "on this machine, priced by the GPU-hour" in estimate
            assert "unknown" not in estimate

    try:
        asyncio.run(run())
    finally:
        ws.close()


def test_a_local_job_has_no_file_validation_step_and_no_provider(tmp_path) -> None:
    from distill_tui.tui.widgets.job_details import timeline_text

    record = local_record(timeline=[["queued", 10.0], ["running", 11.0], ["succeeded", 26.0]])
    steps = [line.split()[1] for line in timeline_text(record).plain.splitlines()]
    assert steps == ["queued", "running", "succeeded"]  # was "✓ validating_files" with no time

    from distill_tui.tui.app import DistillApp
    from tests.test_screen_jobs import _open_jobs

    ws = Workspace.open(local_spec(tmp_path))
    ws.store.save_job(local_record())

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            assert str(app.screen.query_one("#jobs-status").render()) == "1 job here"  # not "0 more on the provider"

    try:
        asyncio.run(run())
    finally:
        ws.close()
