"""Fine-tuning jobs against the offline provider through the real SDK: success, a bad file, cancel,
reattach after a restart, and the ways training can be refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill_tui.core.train.backend import JobRequest
from distill_tui.core.train.backends import backend_for
from distill_tui.core.train.errors import ModelUnavailable, TrainingClosed
from distill_tui.core.train.follow import (
    PollPolicy,
    attach_job,
    control_job,
    follow_job,
    job_events,
    job_json,
    metrics_series,
)
from distill_tui.core.train.jobs import create_job
from distill_tui.core.train.plan import plan_job, request_for
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec
from tests.test_finetune_poll import write_training

FAST = PollPolicy(initial=0.05, factor=1.5, maximum=0.3)


def make_workspace(folder: Path, base_url: str, *, validation: bool = False, lines: int = 12) -> Workspace:
    """A workspace on `base_url` whose newest export is a fresh training (and validation) file."""
    ws = Workspace.open(write_spec(folder, provider={"base_url": base_url}))
    train = write_training(folder / "train.jsonl", n=lines)
    valid = write_training(folder / "valid.jsonl", n=10, label="Syrah") if validation else None
    ws.store.record_export(str(train), examples=lines, tokens=0, validation_path=str(valid) if valid else None,
                           validation_examples=10 if valid else 0)
    return ws


@pytest.fixture
def workspace(tmp_path, offline_server):
    ws = make_workspace(tmp_path, offline_server.base_url, validation=True)
    yield ws
    ws.close()


def test_a_job_succeeds_with_events_metrics_checkpoints_and_a_model(workspace):
    plan = plan_job(workspace)
    assert plan.backend == "compatible" and plan.validation_examples == 10 and plan.cost_usd is not None
    statuses = []
    record = create_job(workspace, plan.request, estimate=plan, on_status=statuses.append)
    assert record.id.startswith("ftjob-") and statuses[-1].startswith(f"job {record.id} created")
    saved = workspace.store.job(record.id)  # saved the moment it existed, before any following
    assert saved is not None and saved.local_training_path == str(plan.request.training_path)
    assert saved.data["estimated_cost_usd"] == pytest.approx(plan.cost_usd)

    updates = []
    final = follow_job(workspace, record.id, poll=FAST, on_update=updates.append)
    assert final.status == "succeeded"
    assert final.fine_tuned_model and final.fine_tuned_model.startswith("ft:offline-student")
    assert any(u.status_changed for u in updates)

    stored = workspace.store.job(record.id)
    assert stored.status == "succeeded" and stored.fine_tuned_model == final.fine_tuned_model
    assert stored.trained_tokens and stored.data["training_cost_usd"] == pytest.approx(stored.trained_tokens * 3.0 / 1e6)
    assert [s for s, _ in stored.data["timeline"]][-1] == "succeeded"
    events = job_events(workspace.store, record.id)
    assert any(e["type"] == "metrics" for e in events)
    assert len({e["event_id"] for e in events}) == len(events)
    steps = [e["data"]["step"] for e in events if e["type"] == "metrics"]
    assert steps == sorted(steps) and steps[-1] == len(steps)  # every step, in order, across pages
    series = metrics_series(events)
    assert len(series["train_loss"]) == len(steps) and series["valid_loss"]
    assert series["train_mean_token_accuracy"] and series["valid_mean_token_accuracy"]
    checkpoints = workspace.store.checkpoints(record.id)
    assert checkpoints and checkpoints[-1]["model_name"].startswith(final.fine_tuned_model)
    assert checkpoints[-1]["metrics"]["train_loss"] is not None
    assert job_json(stored)["fine_tuned_model"] == final.fine_tuned_model


def create_unchecked(ws: Workspace, path: Path) -> str:
    """A job made straight through the SDK, skipping our checks: the provider's own failure path."""
    client = ws.client()
    with open(path, "rb") as handle:
        file_id = client.files.create(file=(path.name, handle), purpose="fine-tune").id
    return client.fine_tuning.jobs.create(model="offline-student", training_file=file_id).id


def test_a_bad_file_fails_with_the_providers_message(tmp_path, offline_server):
    from distill_tui.core.train.errors import FIX_THE_FILE, JobFailed

    ws = make_workspace(tmp_path, offline_server.base_url, lines=3)
    try:
        job_id = create_unchecked(ws, tmp_path / "train.jsonl")
        attach_job(ws, job_id)
        final = follow_job(ws, job_id, poll=FAST)
        assert final.status == "failed"
        assert "at least 10" in final.error
        assert ws.store.job(job_id).error == final.error
        assert ws.store.job(job_id).data["error_param"] == "training_file"
        failed = JobFailed.from_record(ws.store.job(job_id))
        assert failed.bad_file and failed.alternatives == FIX_THE_FILE and failed.title == "Training file rejected"
        assert "at least 10" in failed.what and "rejected the training file" in str(failed)
        details = "\n".join(failed.details())
        assert "export again" in details and "what else can train" not in details and "Azure" not in details
    finally:
        ws.close()


def test_cancel(workspace):
    record = create_job(workspace, request_for(workspace))
    cancelled = control_job(workspace, record.id, "cancel")
    assert cancelled.status == "cancelled"
    assert workspace.store.job(record.id).status == "cancelled"
    assert follow_job(workspace, record.id, poll=FAST).status == "cancelled"


def test_pause_and_resume(tmp_path):
    from distill_tui.core.common.errors import UserError
    from tests.conftest_offline import running

    with running(job_seconds=6.0) as server:
        ws = make_workspace(tmp_path, server.base_url, lines=40)
        try:
            record = create_job(ws, request_for(ws))
            with pytest.raises(UserError, match="only a running job can be paused"):
                control_job(ws, record.id, "pause")  # still validating its files
            follow_job(ws, record.id, poll=FAST, should_stop=lambda: ws.store.job(record.id).status == "running")
            assert control_job(ws, record.id, "pause").status == "paused"
            assert ws.store.job(record.id).status == "paused"
            with pytest.raises(UserError, match="only a running job can be paused"):
                control_job(ws, record.id, "pause")
            assert control_job(ws, record.id, "resume").status == "running"
            done = follow_job(ws, record.id, poll=FAST)
            assert done.status == "succeeded" and done.fine_tuned_model
            assert {"Fine-tuning job paused", "Fine-tuning job resumed"} <= {e["message"] for e in job_events(ws.store, record.id)}
        finally:
            ws.close()


def test_reattach_after_a_restart_shows_the_history_and_resumes(tmp_path, offline_server):
    ws = make_workspace(tmp_path, offline_server.base_url)
    record = create_job(ws, request_for(ws))
    # Follow a little, then "lose the SSH link".
    follow_job(ws, record.id, poll=FAST, should_stop=lambda: bool(job_events(ws.store, record.id)))
    seen = len(job_events(ws.store, record.id))
    spec_path = ws.spec.source
    ws.close()

    again = Workspace.open(spec_path)
    try:
        assert again.spec.provider.base_url == offline_server.base_url
        restored = again.store.job(record.id)
        assert restored is not None and restored.id == record.id
        assert len(job_events(again.store, record.id)) == seen >= 1
        final = follow_job(again, record.id, poll=FAST)
        assert final.status == "succeeded"
        events = job_events(again.store, record.id)
        assert len(events) > seen and len({e["event_id"] for e in events}) == len(events)
    finally:
        again.close()


def test_attach_a_job_created_elsewhere(workspace, tmp_path):
    client = workspace.client()
    with open(workspace.store.exports()[0]["path"], "rb") as handle:
        file_id = client.files.create(file=("t.jsonl", handle), purpose="fine-tune").id
    job = client.fine_tuning.jobs.create(model="offline-student", training_file=file_id)
    assert workspace.store.job(job.id) is None
    record = attach_job(workspace, job.id)
    assert workspace.store.job(job.id).data["source"] == "attached"
    assert follow_job(workspace, record.id, poll=FAST).status == "succeeded"
    listed = {j.id for j in backend_for(workspace).list_jobs()}
    assert job.id in listed


def test_training_not_available_keeps_the_file_and_says_what_else_trains(tmp_path):
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(job_seconds=1.0, refuse_training=True))
    ws = make_workspace(tmp_path, server.base_url, validation=True)
    try:
        request = request_for(ws)
        with pytest.raises(TrainingClosed) as info:
            create_job(ws, request)
        exc = info.value
        assert exc.exit_code == 1 and exc.code == "training_not_available"
        assert exc.paths == [str(request.training_path), str(request.validation_path)]
        assert str(request.training_path) in str(exc)
        details = "\n".join(exc.details())
        assert "Azure OpenAI" in details and "TRL" in details
        assert ws.store.jobs() == []
    finally:
        ws.close()
        server.shutdown()


def test_unknown_base_model_is_a_clear_input_error(workspace):
    request = request_for(workspace)
    bad = JobRequest(**{**request.__dict__, "model": "no-such-model"})
    with pytest.raises(ModelUnavailable) as info:
        create_job(workspace, bad)
    assert info.value.exit_code == 2 and "no-such-model" in str(info.value)


def test_unknown_job_id_is_a_user_error(workspace):
    from distill_tui.core.common.errors import UserError

    with pytest.raises(UserError, match="no fine-tuning job ftjob-nope"):
        attach_job(workspace, "ftjob-nope")
