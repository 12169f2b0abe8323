"""The local trainer for real: a tiny model built in the test, trained by `python -m distill_tui.trainer` as a
detached process through `LocalBackend`, followed from its events.jsonl. CPU, no network."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("peft")

from distill_tui.core.train.follow import PollPolicy, control_job, follow_job, job_events, metrics_series
from distill_tui.core.train.jobs import create_job
from distill_tui.core.train.local import LocalBackend
from distill_tui.core.train.plan import request_for
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec
from tests.tiny_model import build_tiny_model

FAST = PollPolicy(initial=0.1, factor=1.5, maximum=0.5)
LABELS = ("red", "white", "rose")


def write_chat(path: Path, n: int) -> Path:
    """A repetitive chat JSONL (three answers, each always after the same question): loss falls fast."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            label = LABELS[i % 3]
            messages = [{"role": "system", "content": "answer with one label"},
                        {"role": "user", "content": f"wine {label}: grape variety"},
                        {"role": "assistant", "content": json.dumps({"label": label})}]
            out.write(json.dumps({"messages": messages}) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def local_workspace(folder: Path, model: Path, rows: int = 24, **finetune) -> Workspace:
    settings = {"backend": "local", "n_epochs": 3, "batch_size": 4, "learning_rate": 1e-2, "logging_steps": 1,
                "save_steps": 4, "device": "cpu", "lora_r": 8, "lora_alpha": 16, "max_seq_length": 128, **finetune}
    spec = write_spec(folder, student={"model": str(model)}, provider={"base_url": "http://127.0.0.1:9/v1"},
                      finetune=settings)
    ws = Workspace.open(spec)
    train = write_chat(folder / "train.jsonl", rows)
    valid = write_chat(folder / "valid.jsonl", 3)
    ws.store.record_export(str(train), examples=rows, tokens=0, validation_path=str(valid), validation_examples=3)
    return ws


def wait_for(predicate, what: str, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def folder_events(ws: Workspace, job_id: str) -> list[dict]:
    from distill_tui.core.common.job_folder import read_events

    return read_events(LocalBackend(ws).folder(job_id))


def test_finetune_cli_trains_merges_and_records_tokens_and_gpu_hours(tmp_path, tiny_model, capsys):
    from transformers import AutoModelForCausalLM

    from distill_tui.cli import main

    ws = local_workspace(tmp_path, tiny_model, merge=True)
    spec = ws.spec.source
    ws.close()
    code = main(["finetune", str(spec), "--yes", "--follow", "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert ("hyperparameters: method=lora, lora_r=8, lora_alpha=16, epochs=3, batch_size=4, learning_rate=0.01, "
            "max_seq_length=128, device=cpu, merge=True") in captured.err
    assert "uploading" not in captured.err and "on this machine (the local trainer)" in captured.err
    assert code == 0 and out["status"] == "succeeded" and out["backend"] == "local", out
    merged = Path(out["fine_tuned_model"])
    assert merged.name == "merged" and (merged.parent / "adapter" / "adapter_config.json").is_file()
    assert AutoModelForCausalLM.from_pretrained(merged) is not None
    assert out["trained_tokens"] and out["trained_tokens"] > 0
    assert out["gpu_hours"] == 0 and out["cpu_hours"] > 0 and out["device"] == "cpu"
    assert Path(out["job_folder"]) == merged.parent

    ws = Workspace.open(spec)
    try:
        record = ws.store.job(out["id"])
        assert record.data["gpu_hours"] == 0 and record.data["cpu_hours"] > 0 and record.data["device"] == "cpu"
        events = job_events(ws.store, out["id"])
        losses = [v for _, v in metrics_series(events)["train_loss"]]
        assert len(losses) == 18, losses  # 24 rows / 4 a step × 3 epochs
        assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3, losses  # ~5.7 → ~5.1 here
        assert metrics_series(events)["valid_loss"]
        assert [c["step"] for c in ws.store.checkpoints(out["id"])][:2] == [4, 8]
    finally:
        ws.close()


def test_pause_kill_resume_and_cancel_continue_from_the_checkpoint(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-" + "k" * 40)
    ws = local_workspace(tmp_path, tiny_model, rows=150, batch_size=1, logging_steps=2, save_steps=3)
    try:
        record = create_job(ws, request_for(ws))
        job_id = record.id
        assert job_id.startswith("local-") and record.backend == "local"
        checkpoint = lambda: [e for e in folder_events(ws, job_id) if e["type"] == "checkpoint"]

        # Pause: stops at a checkpoint with status paused.
        wait_for(checkpoint, "a first checkpoint")
        paused = control_job(ws, job_id, "pause")
        assert paused.status == "paused"
        paused_at = max(e["step"] for e in checkpoint())

        # Resume continues from there; kill -9 leaves a failed job that resumes again.
        assert control_job(ws, job_id, "resume").status in ("queued", "running")
        wait_for(lambda: max(e["step"] for e in checkpoint()) > paused_at, "a checkpoint after resuming")
        pid = json.loads((LocalBackend(ws).folder(job_id) / "job.json").read_text())["pid"]
        assert os.getsid(pid) == pid != os.getsid(0)  # its own session: a closed terminal sends it no SIGHUP
        if Path("/proc").is_dir():  # Linux: the trainer needs no API key, so it is not given one
            assert b"OPENAI_API_KEY" not in Path(f"/proc/{pid}/environ").read_bytes()
        os.kill(pid, signal.SIGKILL)
        killed_at = max(e["step"] for e in checkpoint())
        crashed = wait_for(lambda: (s := LocalBackend(ws).retrieve(job_id)).status == "failed" and s, "failed")
        assert "the trainer stopped: see" in crashed.error and "train.log" in crashed.error

        assert control_job(ws, job_id, "resume").status in ("queued", "running")
        resumed = wait_for(lambda: [e for e in folder_events(ws, job_id)
                                    if e["type"] == "status" and "resuming from" in (e.get("message") or "")
                                    and e["status"] == "running"][1:], "the second resume")
        assert f"checkpoint-{killed_at}" in resumed[0]["message"]
        runs = _metrics_per_run(folder_events(ws, job_id))
        wait_for(lambda: len(_metrics_per_run(folder_events(ws, job_id))[-1]) >= 1, "metrics after the second resume")
        runs = _metrics_per_run(folder_events(ws, job_id))
        assert len(runs) == 3 and runs[1][0] > paused_at and runs[2][0] > killed_at, runs

        # Cancel: SIGTERM, the trainer says cancelled.
        cancelled = control_job(ws, job_id, "cancel")
        if cancelled.status != "cancelled":
            cancelled = follow_job(ws, job_id, poll=FAST)
        assert cancelled.status == "cancelled"
        assert ws.store.job(job_id).status == "cancelled"
    finally:
        ws.close()


def _metrics_per_run(events: list[dict]) -> list[list[int]]:
    """The training steps logged by each run of the job (a run starts at each queued status)."""
    runs: list[list[int]] = []
    for event in events:
        if event["type"] == "status" and event["status"] == "queued":
            runs.append([])
        elif event["type"] == "metrics" and "train_loss" in event and runs:
            runs[-1].append(event["step"])
    return runs


def run_in_process(folder: Path) -> tuple[int, list[dict]]:
    """The trainer's `run_job` in this process (fast: torch is imported already); SIGTERM restored."""
    from distill_tui.core.common.job_folder import read_events
    from distill_tui.trainer.train import run_job

    before = signal.getsignal(signal.SIGTERM)
    try:
        code = run_job(folder)
    finally:
        signal.signal(signal.SIGTERM, before)
    return code, read_events(folder)


def job_folder(tmp_path: Path, model: str, training: Path, **hyper) -> Path:
    folder = tmp_path / "job"
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({
        "id": "local-test", "model": model, "training_path": str(training), "validation_path": None,
        "hyperparameters": {"device": "cpu", "epochs": 1, "batch_size": 2, "max_seq_length": 64, **hyper},
    }))
    return folder


def test_a_folder_that_is_not_a_model_fails_in_one_line(tmp_path):
    (tmp_path / "notamodel").mkdir()
    code, events = run_in_process(job_folder(tmp_path, str(tmp_path / "notamodel"), write_chat(tmp_path / "t.jsonl", 4)))
    assert code == 2 and events[-1]["status"] == "failed"
    assert "a folder, but not a model (no config.json)" in events[-1]["message"]


def test_an_unknown_model_id_offline_fails_in_one_line(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what the trainer process reads at start
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import: in this process
    code, events = run_in_process(job_folder(tmp_path, "nobody/no-such-model", write_chat(tmp_path / "t.jsonl", 4)))
    assert code == 2 and events[-1]["status"] == "failed"
    assert "cannot load the model 'nobody/no-such-model'" in events[-1]["message"]
    assert "\n" not in events[-1]["message"]


def test_a_row_the_chat_template_cannot_render_is_named(tmp_path, tiny_model):
    training = write_chat(tmp_path / "t.jsonl", 4)
    with training.open("a") as out:
        out.write(json.dumps({"messages": [{"role": "user", "content": {"not": "text"}}]}) + "\n")
    from transformers import AutoTokenizer

    model = tmp_path / "strict"
    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.chat_template = ("{% for m in messages %}{% if m['content'] is not string %}"
                         "{{ raise_exception('content must be text') }}{% endif %}{{ m['content'] }}{% endfor %}")
    tok.save_pretrained(model)
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        if (tiny_model / name).exists():
            (model / name).write_bytes((tiny_model / name).read_bytes())
    code, events = run_in_process(job_folder(tmp_path, str(model), training))
    assert code == 2 and events[-1]["status"] == "failed"
    assert f"{training}:5: the chat template of {model} cannot render this example" in events[-1]["message"]


def test_checkpoints_from_another_base_model_are_refused(tmp_path, tiny_model):
    training = write_chat(tmp_path / "t.jsonl", 4)
    folder = job_folder(tmp_path, str(tiny_model), training)
    checkpoint = folder / "checkpoints" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    (checkpoint / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "Qwen/Qwen3-0.6B"}))
    code, events = run_in_process(folder)
    assert code == 2 and "were trained from Qwen/Qwen3-0.6B, not" in events[-1]["message"]


def test_a_template_without_generation_marks_falls_back_to_completion_loss(tmp_path, tiny_model):
    from transformers import AutoTokenizer

    model = tmp_path / "plain"
    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.chat_template = tok.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    tok.save_pretrained(model)
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        if (tiny_model / name).exists():
            (model / name).write_bytes((tiny_model / name).read_bytes())
    code, events = run_in_process(job_folder(tmp_path, str(model), write_chat(tmp_path / "t.jsonl", 4), save_steps=100))
    assert code == 0 and events[-1]["status"] == "succeeded", events[-3:]
    assert any("no {% generation %} marks" in (e.get("message") or "") for e in events)


def test_the_jobs_screen_creates_and_follows_a_local_job(tmp_path, tiny_model):
    import asyncio

    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.screens.jobs import JobsScreen
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog
    from tests.test_screen_jobs import _open_jobs, _wait_for

    ws = local_workspace(tmp_path, tiny_model, rows=12)

    async def run() -> None:
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await _open_jobs(pilot)
            await pilot.press("n")
            await _wait_for(pilot, lambda: isinstance(app.screen, NewJobDialog) and bool(app.screen.query("#estimate")))
            await pilot.press("ctrl+s")
            await _wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen._local)
            screen = app.screen
            job_id = next(iter(screen._local))
            assert job_id.startswith("local-")
            await _wait_for(pilot, lambda: screen._local[job_id].status == "succeeded", timeout=60)
            await _wait_for(pilot, lambda: screen.query_one("#job-chart").series.get("train_loss"))
            assert ws.store.checkpoints(job_id) and ws.store.job(job_id).fine_tuned_model.endswith("adapter")

    try:
        asyncio.run(run())
    finally:
        ws.close()


def test_out_of_gpu_memory_names_the_knobs(tmp_path, tiny_model, monkeypatch):
    import torch

    from distill_tui.trainer import setup

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(setup, "load_model", out_of_memory)
    code, events = run_in_process(job_folder(tmp_path, str(tiny_model), write_chat(tmp_path / "t.jsonl", 4)))
    assert code == 1 and events[-1]["status"] == "failed"
    for knob in ("out of GPU memory", "batch_size", "gradient_accumulation", "max_seq_length", '"qlora"'):
        assert knob in events[-1]["message"]


def test_examples_longer_than_max_seq_length_are_warned_about(tmp_path, tiny_model):
    training = write_chat(tmp_path / "t.jsonl", 4)
    with training.open("a") as out:
        long = [{"role": "user", "content": "wine red grape variety " * 40}, {"role": "assistant", "content": "red"}]
        out.write(json.dumps({"messages": long}) + "\n")
    code, events = run_in_process(job_folder(tmp_path, str(tiny_model), training, max_seq_length=64, save_steps=100))
    assert code == 0 and events[-1]["status"] == "succeeded"
    [warning] = [e["message"] for e in events if "max_seq_length" in (e.get("message") or "")]
    assert warning.startswith("warning: 1 of 5 training examples are longer than max_seq_length = 64 tokens")

    code, events = run_in_process(job_folder(tmp_path / "all", str(tiny_model), training, max_seq_length=16))
    assert code == 2 and events[-1]["message"].startswith(
        "every training example is longer than [finetune] max_seq_length = 16 tokens (shortest ")


def test_full_fine_tuning_saves_a_whole_model(tmp_path, tiny_model):
    from transformers import AutoModelForCausalLM

    folder = job_folder(tmp_path, str(tiny_model), write_chat(tmp_path / "t.jsonl", 4), method="full", merge=True,
                        save_steps=100)
    code, events = run_in_process(folder)
    assert code == 0 and events[-1]["status"] == "succeeded", events[-3:]
    result = next(e for e in events if e["type"] == "result")
    assert result["merged"] is None and (folder / "adapter" / "config.json").is_file()
    assert AutoModelForCausalLM.from_pretrained(folder / "adapter") is not None
