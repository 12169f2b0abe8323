"""The local backend without training: the [finetune] keys, the accelerate command, missing extras, a
trainer that died, events read back from a job folder. No torch needed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distill_tui.core.common.errors import SpecError, UserError
from distill_tui.core.common.job_folder import append_event
from distill_tui.core.task.spec import load_spec
from distill_tui.core.train.backend import backend_name
from distill_tui.core.train.backends import backend_for
from distill_tui.core.train.local import LocalBackend, local_hyperparameters
from distill_tui.core.train.plan import request_for
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.trainer.launch import launch_command
from tests.helpers import write_spec
from tests.test_finetune_poll import write_training


def local_spec(folder: Path, **finetune) -> Path:
    return write_spec(folder, student={"model": "Qwen/Qwen3-0.6B"}, provider={"base_url": "http://127.0.0.1:9/v1"},
                      finetune={"backend": "local", **finetune})


@pytest.mark.parametrize("key, value, says", [
    ("backend", "together", '[finetune] backend must be "openai" | "local", not \'together\''),
    ("method", "dora", '[finetune] method must be "lora" | "qlora" | "full"'),
    ("device", "tpu", '[finetune] device must be "auto" | "cuda" | "mps" | "cpu"'),
    ("lora_r", 0, "[finetune] lora_r must be 1 to 4096, not 0"),
    ("learning_rate", 2.0, "[finetune] learning_rate must be above 0 and below 1"),
    ("lora_dropout", 1.5, "[finetune] lora_dropout must be at least 0 and below 1"),
    ("lora_targets", [], "[finetune] lora_targets must be \"all-linear\" or a list of module names"),
    ("max_seq_length", "long", "[finetune] max_seq_length must be an integer, not 'long'"),
    ("packing", "yes", "[finetune] packing must be true or false"),
    ("num_gpus", -1, "[finetune] num_gpus must be 0 to 4096, not -1"),
])
def test_a_bad_local_finetune_key_is_one_line_naming_it(tmp_path, key, value, says):
    with pytest.raises(SpecError) as err:
        load_spec(local_spec(tmp_path, **{key: value}))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_local_keys_and_their_defaults_reach_the_trainer(tmp_path):
    spec = load_spec(local_spec(tmp_path, lora_targets=["q_proj", "v_proj"], merge=True))
    assert spec.finetune.backend == "local" and spec.finetune.lora_r == 16 and spec.finetune.learning_rate == 2e-4
    ws = Workspace.open(spec.source)
    try:
        ws.store.record_export(str(write_training(tmp_path / "t.jsonl")), examples=12, tokens=0)
        hyper = local_hyperparameters(spec.finetune, request_for(ws))
        assert hyper["epochs"] == 3 and hyper["batch_size"] == 8  # "auto" on this machine
        assert hyper["lora_targets"] == ["q_proj", "v_proj"] and hyper["merge"] is True
        assert backend_name(ws) == "local" and isinstance(backend_for(ws), LocalBackend)
    finally:
        ws.close()


def test_more_than_one_gpu_goes_through_accelerate_launch():
    folder = Path("/jobs/local-1")
    assert launch_command(folder, 0) is None and launch_command(folder, 1) is None
    assert launch_command(folder, 4, python="py") == [
        "py", "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "4",
        "-m", "distill_tui.trainer", "/jobs/local-1"]
    assert launch_command(folder, 1, "/cfg/zero3.yaml", python="py") == [
        "py", "-m", "accelerate.commands.launch", "--config_file", "/cfg/zero3.yaml",
        "-m", "distill_tui.trainer", "/jobs/local-1"]


def test_missing_training_libraries_name_the_extra_and_exit_2(tmp_path, monkeypatch, capsys):
    import importlib.util

    from distill_tui.cli import main

    spec = local_spec(tmp_path)
    ws = Workspace.open(spec)
    ws.store.record_export(str(write_training(tmp_path / "t.jsonl", n=12)), examples=12, tokens=0)
    ws.close()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("trl", "peft") else real(name, *a))
    code = main(["finetune", str(spec), "--yes"])
    err = capsys.readouterr().err
    assert code == 2
    assert "local training needs trl, peft, not installed here: pip install 'distill-tui[train]'" in err
    assert "Traceback" not in err


def test_a_folder_that_is_not_a_model_is_refused_before_a_job_exists(tmp_path):
    (tmp_path / "weights").mkdir()
    spec = write_spec(tmp_path, student={"model": str(tmp_path / "weights")}, finetune={"backend": "local"},
                      provider={"base_url": "http://127.0.0.1:9/v1"})
    ws = Workspace.open(spec)
    try:
        ws.store.record_export(str(write_training(tmp_path / "t.jsonl")), examples=12, tokens=0)
        pytest.importorskip("trl")
        with pytest.raises(UserError, match="a folder, but not a model \\(no config.json\\)"):
            LocalBackend(ws).create(request_for(ws))
        assert not LocalBackend(ws).list_jobs()
    finally:
        ws.close()


def _job_folder(ws: Workspace, job_id: str, pid: int | None) -> Path:
    folder = LocalBackend(ws).root / job_id
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({
        "id": job_id, "model": "Qwen/Qwen3-0.6B", "training_path": "/t.jsonl", "created_at": time.time() - 60,
        "pid": pid, "hyperparameters": {"method": "lora"}}))
    return folder


def test_a_trainer_that_died_without_a_final_status_reads_as_failed(tmp_path):
    ws = Workspace.open(local_spec(tmp_path))
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        folder = _job_folder(ws, "local-20260101-000000-abcd", dead.pid)
        append_event(folder, "status", status="running", message="training")
        snapshot = LocalBackend(ws).retrieve("local-20260101-000000-abcd")
        assert snapshot.status == "failed"
        assert snapshot.error == (f"the trainer stopped: see {folder / 'train.log'} (resume continues from the "
                                  "newest checkpoint)")
        with pytest.raises(UserError, match="no local job local-nope"):
            LocalBackend(ws).retrieve("local-nope")
    finally:
        ws.close()


def test_events_checkpoints_eta_and_result_read_back_from_the_folder(tmp_path):
    ws = Workspace.open(local_spec(tmp_path))
    try:
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)  # local-20260101-000000-beef"])
        folder = _job_folder(ws, "local-20260101-000000-beef", sleeper.pid)
        (folder / "checkpoints" / "checkpoint-10").mkdir(parents=True)
        lines = [
            {"time": 100.0, "type": "status", "status": "queued", "message": "starting"},
            {"time": 101.0, "type": "metrics", "step": 5, "total_steps": 25, "train_loss": 2.0, "tokens": 50},
            {"time": 103.0, "type": "metrics", "step": 10, "total_steps": 25, "train_loss": 1.5, "tokens": 100},
            {"time": 103.5, "type": "checkpoint", "step": 10, "path": str(folder / "checkpoints" / "checkpoint-10")},
        ]
        (folder / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"torn')
        append_event(folder, "status", status="running", message="training")
        backend = LocalBackend(ws)
        snapshot = backend.retrieve("local-20260101-000000-beef")
        assert snapshot.status == "running" and snapshot.estimated_finish == pytest.approx(109.0)
        events = backend.events("local-20260101-000000-beef")
        assert [e["type"] for e in events] == ["message", "metrics", "metrics", "message", "message"]
        assert events[2]["message"] == "Step 10/25: training loss=1.5000" and events[2]["data"]["step"] == 10
        assert backend.events("local-20260101-000000-beef", after=events[2]["id"]) == events[3:]
        [checkpoint] = backend.checkpoints("local-20260101-000000-beef")
        assert checkpoint["step"] == 10 and checkpoint["metrics"] == {"train_loss": 1.5}
        sleeper.kill()
        sleeper.wait()
        append_event(folder, "result", adapter=str(folder / "adapter"), merged=None, trained_tokens=1234,
                     gpu_hours=0.5, gpus=2, device="cuda", wall_hours=0.25)
        append_event(folder, "status", status="succeeded", message="done")
        done = backend.retrieve("local-20260101-000000-beef")
        assert done.status == "succeeded" and done.fine_tuned_model == str(folder / "adapter")
        assert done.trained_tokens == 1234 and done.extra["gpu_hours"] == 0.5 and done.estimated_finish is None
    finally:
        ws.close()


def test_the_jobs_screen_says_what_to_install(tmp_path, monkeypatch):
    import asyncio
    import importlib.util

    from distill_tui.tui.app import DistillApp
    from tests.test_screen_jobs import _open_jobs, _wait_for

    ws = Workspace.open(local_spec(tmp_path))
    ws.store.record_export(str(write_training(tmp_path / "t.jsonl", n=12)), examples=12, tokens=0)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trl" else real(name, *a))

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            await pilot.press("n")
            status = app.screen.query_one("#jobs-status")
            await _wait_for(pilot, lambda: "pip install" in str(status.render()))
            assert "local training needs trl, not installed here: pip install 'distill-tui[train]'" in str(
                status.render()).replace("\n", "")

    try:
        asyncio.run(run())
    finally:
        ws.close()


def test_job_details_show_the_local_settings_and_gpu_hours():
    from distill_tui.core.store.jobs import JobRecord
    from distill_tui.tui.widgets.job_details import summary_text

    hyper = {"method": "lora", "lora_r": 16, "epochs": 3, "batch_size": 8, "learning_rate": 2e-4}
    on_gpu = JobRecord(id="local-1", backend="local", base_model="Qwen/Qwen3-0.6B", status="succeeded",
                       created_at=1.0, data={"hyperparameters": hyper, "gpu_hours": 0.25, "gpus": 2,
                                             "wall_hours": 0.125, "device": "cuda"})
    text = summary_text(on_gpu, []).plain
    assert "lora r16 · epochs 3 · batch 8 · lr 2e-4" in text and "0.25 GPU-hours" in text
    on_cpu = JobRecord(id="local-2", backend="local", base_model="m", status="succeeded", created_at=1.0,
                       data={"hyperparameters": hyper, "gpu_hours": 0, "gpus": 0, "wall_hours": 0.5, "device": "cpu"})
    assert "0.5 h on cpu (0 GPU-hours)" in summary_text(on_cpu, []).plain


def test_the_plan_of_a_local_job_counts_the_trainers_epochs(tmp_path):
    pytest.importorskip("trl")
    from distill_tui.core.train.plan import plan_job

    ws = Workspace.open(local_spec(tmp_path))
    try:
        ws.store.record_export(str(write_training(tmp_path / "t.jsonl", n=12)), examples=12, tokens=0)
        plan = plan_job(ws, live=False)
        assert plan.backend == "local" and plan.epochs == 3 and plan.request.settings["epochs"] == 3
    finally:
        ws.close()


def test_resuming_with_another_student_model_is_refused(tmp_path):
    pytest.importorskip("trl")
    spec = write_spec(tmp_path, student={"model": "other/model"}, finetune={"backend": "local"},
                      provider={"base_url": "http://127.0.0.1:9/v1"})
    ws = Workspace.open(spec)
    try:
        folder = _job_folder(ws, "local-20260101-000000-cafe", None)
        append_event(folder, "status", status="paused", message="paused at step 3")
        with pytest.raises(UserError, match="job local-20260101-000000-cafe trains Qwen/Qwen3-0.6B, but "
                                            r"\[student\] model is now other/model"):
            LocalBackend(ws).resume("local-20260101-000000-cafe")
    finally:
        ws.close()


def test_cancelling_a_paused_local_job_from_the_command_line(tmp_path, monkeypatch, capsys):
    import builtins

    from distill_tui.cli import main

    spec = local_spec(tmp_path)
    ws = Workspace.open(spec)
    folder = _job_folder(ws, "local-20260101-000000-f00d", None)
    append_event(folder, "status", status="paused", message="paused at step 3")
    ws.close()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(builtins, "input", lambda *a: "y")
    code = main(["finetune", str(spec), "--job", "local-20260101-000000-f00d", "--cancel"])
    err = capsys.readouterr().err
    assert code == 0 and "Training stops for good and its checkpoints stay on disk." in err
    assert "job local-20260101-000000-f00d: cancelled" in err


def test_cancelling_a_local_job_from_the_jobs_screen(tmp_path):
    import asyncio

    from distill_tui.core.train.follow import attach_job
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
    from tests.test_screen_jobs import _wait_for

    ws = Workspace.open(local_spec(tmp_path))
    folder = _job_folder(ws, "local-20260101-000000-0b0e", None)
    append_event(folder, "status", status="paused", message="paused at step 3")
    attach_job(ws, "local-20260101-000000-0b0e")

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            screen = app.screen
            await pilot.press("x")
            await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            assert app.screen._body == "Training stops and cannot resume; its checkpoints stay on disk."
            await pilot.press("y")
            await _wait_for(pilot, lambda: screen._local["local-20260101-000000-0b0e"].status == "cancelled")

    try:
        asyncio.run(run())
    finally:
        ws.close()


def test_cancelling_a_trainer_still_starting_ends_cancelled_not_failed(tmp_path):
    ws = Workspace.open(local_spec(tmp_path))
    try:
        # A process with no SIGTERM handler yet, as the trainer is while Python starts: the signal kills it.
        starting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)  # local-20260101-000000-5a5a"])
        folder = _job_folder(ws, "local-20260101-000000-5a5a", starting.pid)
        append_event(folder, "status", status="queued", message="starting the trainer")
        import distill_tui.core.train.local as local

        local._children[starting.pid] = starting  # started here: reaped like the backend's own
        snapshot = LocalBackend(ws).cancel("local-20260101-000000-5a5a")
        assert snapshot.status == "cancelled"
    finally:
        ws.close()
