"""Unit tests of fine-tune following without a server: backoff with a fake clock, saving as things
arrive, metrics series, estimated finish, the cost estimate and the plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill_tui.core.common.errors import UserError
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.train.backend import NO_EXPORT, JobRequest, JobSnapshot
from distill_tui.core.train.follow import PollPolicy, estimated_finish, follow_job, metrics_series
from distill_tui.core.train.jobs import record_from
from distill_tui.core.train.plan import estimate_training_cost, plan_job, request_for
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec


def write_training(path: Path, n: int = 12, label: str = "Merlot") -> Path:
    """A valid chat-format JSONL of `n` lines."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            messages = [
                {"role": "system", "content": "You are a sommelier."},
                {"role": "user", "content": f"Review {i}: plum soft round cherry."},
                {"role": "assistant", "content": json.dumps({"variety": label})},
            ]
            out.write(json.dumps({"messages": messages}) + "\n")
    return path


def exported_workspace(folder: Path, base_url: str, n: int = 12):
    """A workspace on `base_url` whose newest export is a valid training file of `n` lines."""
    from distill_tui.core.workspace.workspace import Workspace
    from tests.helpers import write_spec

    ws = Workspace.open(write_spec(folder, provider={"base_url": base_url}))
    path = write_training(folder / "train.jsonl", n=n)
    ws.store.record_export(str(path), examples=n, tokens=0)
    return ws


class FakeBackend:
    """Scripted job: one status per poll, events arriving at chosen polls."""

    name = "fake"

    def __init__(self, statuses: list[str], events_at: dict[int, list[dict]] | None = None) -> None:
        self.statuses = statuses
        self.events_at = events_at or {}
        self.poll = -1
        self.seen_after: list[str | None] = []

    def retrieve(self, job_id: str) -> JobSnapshot:
        self.poll += 1
        status = self.statuses[min(self.poll, len(self.statuses) - 1)]
        done = status == "succeeded"
        return JobSnapshot(id=job_id, status=status, model="offline-student", created_at=1000.0,
                           fine_tuned_model="ft:offline-student:x" if done else None,
                           trained_tokens=5000 if done else None, finished_at=2000.0 if done else None)

    def events(self, job_id: str, after: str | None = None) -> list[dict]:
        self.seen_after.append(after)
        out = []
        for poll in range(self.poll + 1):
            out += self.events_at.get(poll, [])
        ids = [e["id"] for e in out]
        return out[ids.index(after) + 1:] if after in ids else out

    def checkpoints(self, job_id: str) -> list[dict]:
        if self.statuses[min(self.poll, len(self.statuses) - 1)] == "succeeded":
            return [{"id": "ckpt-1", "step": 30, "model_name": "ft:offline-student:x:ckpt-step-30",
                     "metrics": {"step": 30, "train_loss": 0.2}, "created_at": 1900.0}]
        return []


def _event(i: int, step: int | None = None, loss: float | None = None) -> dict:
    if step is None:
        return {"id": f"ev-{i}", "created_at": 1000.0 + i, "level": "info", "type": "message", "message": f"m{i}"}
    return {"id": f"ev-{i}", "created_at": 1000.0 + i, "level": "info", "type": "metrics",
            "message": f"Step {step}/30: training loss={loss}", "data": {"step": step, "train_loss": loss}}


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.open(write_spec(tmp_path))
    yield ws
    ws.close()


def test_policy_backs_off_and_resets():
    policy = PollPolicy(initial=1.0, factor=1.5, maximum=5.0)
    delays, delay = [], None
    for changed in (False, False, False, False, False, False, True, False):
        delay = policy.next_delay(delay, changed)
        delays.append(delay)
    assert delays == [1.0, 1.5, 2.25, 3.375, 5.0, 5.0, 1.0, 1.5]


def test_follow_waits_longer_while_nothing_changes_and_stops_at_the_end(workspace):
    statuses = ["queued", "queued", "queued", "running", "running", "running", "succeeded"]
    backend = FakeBackend(statuses, {3: [_event(1, 1, 2.0)], 4: [_event(2, 2, 1.5)]})
    waits: list[float] = []
    updates = []

    def fake_wait(seconds: float, should_stop) -> bool:
        waits.append(seconds)
        return False

    record = follow_job(workspace, "ftjob-1", backend=backend, wait=fake_wait, on_update=updates.append,
                        poll=PollPolicy(initial=1.0, factor=2.0, maximum=3.0))
    # first poll is new (changed) → 1; no change → 2, 3 (capped); running + event → 1; event → 1; nothing → 2.
    assert waits == [1.0, 2.0, 3.0, 1.0, 1.0, 2.0]
    assert record.status == "succeeded" and record.fine_tuned_model == "ft:offline-student:x"
    assert [u.record.status for u in updates][-1] == "succeeded"
    saved = workspace.store.job("ftjob-1")
    assert saved.status == "succeeded" and saved.trained_tokens == 5000
    assert saved.data["training_cost_usd"] == pytest.approx(5000 * 3.0 / 1e6)
    assert [s for s, _ in saved.data["timeline"]] == ["queued", "running", "succeeded"]
    assert [e["event_id"] for e in workspace.store.events("ftjob-1")] == ["ev-1", "ev-2"]
    assert workspace.store.checkpoints("ftjob-1")[0]["model_name"].endswith("ckpt-step-30")
    assert backend.seen_after[-1] == "ev-2"  # asks only for what is newer than the last saved event


def test_follow_stops_when_asked(workspace):
    backend = FakeBackend(["running"])
    calls = []

    def fake_wait(seconds, should_stop):
        calls.append(seconds)
        return len(calls) >= 2

    record = follow_job(workspace, "ftjob-2", backend=backend, wait=fake_wait)
    assert record.status == "running" and len(calls) == 2
    assert workspace.store.job("ftjob-2").status == "running"


def test_metrics_series_and_estimated_finish():
    events = [
        _event(0),
        _event(1, 10, 2.0),
        {**_event(2, 20, 1.0), "data": {"step": 20, "train_loss": 1.0, "valid_loss": 1.2,
                                        "train_mean_token_accuracy": 0.5, "valid_mean_token_accuracy": 0.4}},
    ]
    series = metrics_series(events)
    assert series["train_loss"] == [(10, 2.0), (20, 1.0)]
    assert series["valid_loss"] == [(20, 1.2)]
    assert series["train_mean_token_accuracy"] == [(20, 0.5)]
    record = JobRecord(id="j", backend="b", base_model="m", status="running", data={})
    # 10 steps took 1 s (events at 1001 and 1002), 10 steps remain after step 20 → 1 s more.
    assert estimated_finish(record, events) == pytest.approx(1003.0)
    record.data = {"estimated_finish": 5000}
    assert estimated_finish(record, events) == 5000.0


def test_record_from_keeps_local_paths_and_grows_the_timeline():
    base = JobRecord(id="j", backend="openai", base_model="gpt-4o-mini", status="validating_files",
                     local_training_path="/tmp/t.jsonl", data={"timeline": [["validating_files", 1.0]]})
    snap = JobSnapshot(id="j", status="failed", model="gpt-4o-mini", error="bad line 3", finished_at=9.0,
                       error_code="invalid_training_file")
    record = record_from(snap, "openai", base)
    assert record.local_training_path == "/tmp/t.jsonl" and record.error == "bad line 3"
    assert record.data["timeline"] == [["validating_files", 1.0], ["failed", 9.0]]
    assert record.data["error_code"] == "invalid_training_file"


def test_no_export_is_a_user_error(workspace):
    with pytest.raises(UserError) as info:
        request_for(workspace)
    assert str(info.value) == NO_EXPORT


def test_estimate_and_plan_use_the_newest_export(workspace, tmp_path):
    path = write_training(tmp_path / "train.jsonl", n=20)
    workspace.store.record_export(str(path), examples=20, tokens=0)
    tokens, cost, epochs = estimate_training_cost(workspace, path)
    assert epochs == 5  # auto: 20 examples × 5 epochs ≥ 100
    assert tokens > 0 and cost == pytest.approx(tokens * 3.0 / 1e6)
    plan = plan_job(workspace, live=False)
    assert plan.request.training_path == path and plan.examples == 20 and plan.trained_tokens == tokens
    assert plan.request.model == "offline-student"
    fixed = plan_job(workspace, JobRequest("gpt-4o-mini", path, n_epochs=2), live=False)
    assert fixed.epochs == 2
    assert any("gpt-4o-mini shuts down on 2027-01-14" in w or "was shut down" in w for w in fixed.warnings)


def test_new_events_hold_the_pace_and_status_changes_reset_it():
    policy = PollPolicy(initial=5.0, factor=2.0, maximum=30.0)
    assert policy.next_delay(None, True, True) == 5.0
    assert policy.next_delay(5.0, False, False) == 10.0
    assert policy.next_delay(10.0, True, False) == 10.0, "a metrics event alone does not speed polling up"
    assert policy.next_delay(10.0, True, True) == 5.0
