"""`distill-tui finetune` and `distill-tui jobs` end to end against the offline provider: JSON shapes,
exit codes, confirmation rules and the refused-training path."""

from __future__ import annotations

import io
import json

import pytest

from distill_tui.cli import main
from distill_tui.core.train.backend import NO_EXPORT
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec
from tests.test_finetune import make_workspace

JOB_KEYS = {"id", "status", "model", "fine_tuned_model", "trained_tokens", "training_cost_usd", "error"}


@pytest.fixture(autouse=True)
def no_tty(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


@pytest.fixture
def spec(tmp_path, offline_server):
    ws = make_workspace(tmp_path, offline_server.base_url)
    path = ws.spec.source
    ws.close()
    return str(path)


def test_finetune_yes_json_follow_succeeds(spec, capsys):
    code = main(["finetune", spec, "--yes", "--json", "--follow"])
    out, err = capsys.readouterr()
    assert code == 0, err
    job = json.loads(out)
    assert JOB_KEYS <= set(job)
    assert job["status"] == "succeeded" and job["fine_tuned_model"].startswith("ft:offline-student")
    assert job["trained_tokens"] > 0 and job["training_cost_usd"] == pytest.approx(job["trained_tokens"] * 3e-6)
    assert job["error"] is None
    assert "estimated training:" in err and "status: succeeded" in err and "train loss" in err
    assert "base model: offline-student on the OpenAI-compatible endpoint http://127.0.0.1:" in err
    assert f"job {job['id']} created" in err


def test_finetune_without_follow_prints_the_id_and_jobs_lists_it(spec, capsys):
    assert main(["finetune", spec, "--yes"]) == 0
    job_id = capsys.readouterr().out.strip()
    assert job_id.startswith("ftjob-")

    assert main(["jobs", spec, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    mine = [j for j in listed["jobs"] if j["id"] == job_id]
    assert len(mine) == 1 and mine[0]["source"] == "local" and JOB_KEYS <= set(mine[0])
    assert listed["notes"] == []

    # Reattach and follow to the end headless.
    assert main(["finetune", spec, "--job", job_id, "--follow", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"

    assert main(["jobs", spec]) == 0
    table = capsys.readouterr().out
    assert "fine-tuned model" in table and job_id in table and "succeeded" in table


def test_jobs_without_spec_lists_every_workspace(spec, capsys):
    assert main(["finetune", spec, "--yes"]) == 0
    job_id = capsys.readouterr().out.strip()
    assert main(["jobs", "--json", "--local"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [j["id"] for j in listed["jobs"]] == [job_id]
    assert listed["jobs"][0]["workspace"] == "spec.toml"


def test_jobs_with_an_unreachable_provider_still_lists_local_jobs(tmp_path, capsys):
    ws = Workspace.open(write_spec(tmp_path, provider={"base_url": "http://127.0.0.1:9/v1"}))
    from distill_tui.core.store.jobs import JobRecord

    ws.store.save_job(JobRecord(id="ftjob-local", backend="openai", base_model="gpt-4o-mini", status="succeeded",
                                trained_tokens=1000, created_at=1.0))
    ws.close()
    assert main(["jobs", str(tmp_path / "spec.toml"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert [j["id"] for j in json.loads(out)["jobs"]] == ["ftjob-local"]
    assert "note: provider not asked: cannot reach the provider" in err


def test_not_a_tty_without_yes_is_an_input_error(spec, capsys):
    assert main(["finetune", spec]) == 2
    err = capsys.readouterr().err
    assert "pass --yes" in err and err.count("distill-tui: error:") == 1


def test_no_export_is_an_input_error(tmp_path, offline_server, capsys):
    spec = write_spec(tmp_path, provider={"base_url": offline_server.base_url})
    assert main(["finetune", str(spec), "--yes"]) == 2
    assert NO_EXPORT in capsys.readouterr().err


def test_a_file_the_provider_would_reject_is_not_uploaded_exit_2(tmp_path, offline_server, capsys, monkeypatch):
    from distill_tui.core.train.backend import OpenAIJobsBackend

    uploads = []
    monkeypatch.setattr(OpenAIJobsBackend, "upload", lambda self, path, purpose="fine-tune": uploads.append(path))
    ws = make_workspace(tmp_path, offline_server.base_url, lines=3)
    ws.close()
    code = main(["finetune", str(tmp_path / "spec.toml"), "--yes", "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and uploads == []
    assert json.loads(out) == {"error": err.removeprefix("distill-tui: error: ").strip(), "exit_code": 2}
    assert err.count("\n") == 1 and "distill-tui: error:" in err
    assert "provider would reject" in err and "only 3 examples; at least 10 are needed" in err and "export again" in err


def test_a_job_failed_on_its_file_says_to_fix_it_exit_1(tmp_path, offline_server, capsys):
    from tests.test_finetune import create_unchecked

    ws = make_workspace(tmp_path, offline_server.base_url, lines=3)
    job_id = create_unchecked(ws, tmp_path / "train.jsonl")
    ws.close()
    code = main(["finetune", str(tmp_path / "spec.toml"), "--job", job_id, "--follow", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    job = json.loads(out)
    assert job["status"] == "failed" and "at least 10" in job["error"]
    assert "rejected the training file" in err and "export again" in err
    assert "what else can train" not in err and "Azure" not in err


def test_training_closed_exit_1_with_the_file_and_alternatives(tmp_path, capsys):
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(job_seconds=1.0, refuse_training=True))
    try:
        ws = make_workspace(tmp_path, server.base_url)
        ws.close()
        code = main(["finetune", str(tmp_path / "spec.toml"), "--yes", "--json"])
    finally:
        server.shutdown()
    out, err = capsys.readouterr()
    assert code == 1
    job = json.loads(out)
    assert job["id"] is None and job["error_code"] == "training_not_available"
    assert job["local_training_path"] == str(tmp_path / "train.jsonl")
    assert "fine-tuning is closed" in err and "Azure OpenAI" in err and "local trainer" in err
    assert "Traceback" not in err


def test_unknown_model_exit_2(tmp_path, offline_server, capsys):
    ws = make_workspace(tmp_path, offline_server.base_url)
    ws.close()
    spec = write_spec(tmp_path, provider={"base_url": offline_server.base_url}, student={"model": "nope-model"})
    assert main(["finetune", str(spec), "--yes"]) == 2
    assert "nope-model cannot be fine-tuned" in capsys.readouterr().err


def test_pause_resume_and_cancel_headless(tmp_path, capsys):
    import time

    from tests.conftest_offline import client_for, running

    with running(job_seconds=8.0) as server:
        ws = make_workspace(tmp_path, server.base_url, lines=40)
        ws.close()
        spec = str(tmp_path / "spec.toml")
        assert main(["finetune", spec, "--yes"]) == 0
        job_id = capsys.readouterr().out.strip()
        client = client_for(server)
        deadline = time.monotonic() + 30
        while client.fine_tuning.jobs.retrieve(job_id).status != "running" and time.monotonic() < deadline:
            time.sleep(0.05)

        assert main(["finetune", spec, "--pause"]) == 2
        assert "--pause needs the job: --job ID" in capsys.readouterr().err
        assert main(["finetune", spec, "--job", job_id, "--pause", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "paused"
        assert main(["finetune", spec, "--job", job_id, "--pause"]) == 2  # already paused: one line, no traceback
        err = capsys.readouterr().err
        assert "only a running job can be paused" in err and "Traceback" not in err
        assert main(["jobs", spec, "--json", "--local"]) == 0
        assert [j["status"] for j in json.loads(capsys.readouterr().out)["jobs"] if j["id"] == job_id] == ["paused"]

        assert main(["finetune", spec, "--job", job_id, "--resume", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "running"
        assert main(["finetune", spec, "--job", job_id, "--cancel"]) == 2  # not a terminal, no --yes
        assert "pass --yes to cancel the job" in capsys.readouterr().err
        assert main(["finetune", spec, "--job", job_id, "--cancel", "--yes", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "cancelled"


def test_follow_prints_metrics_at_most_every_few_seconds_and_the_last_one(capsys):
    from types import SimpleNamespace

    from distill_tui.commands.finetune import UpdatePrinter

    now = [0.0]
    printer = UpdatePrinter(every_s=5.0, clock=lambda: now[0])

    def update(steps, status_changed=False, status="running"):
        events = [{"type": "metrics", "data": {"step": s, "train_loss": 1.0 / s}} for s in steps]
        return SimpleNamespace(new_events=events, status_changed=status_changed, note=None,
                               record=SimpleNamespace(status=status))

    for second in range(12):  # 100 steps a second for 12 s
        now[0] = float(second)
        printer(update(range(second * 100 + 1, second * 100 + 101)))
    now[0] = 12.0
    printer(update([], status_changed=True, status="succeeded"))
    lines = capsys.readouterr().err.splitlines()
    steps = [line.split(",")[0].strip() for line in lines if "train loss" in line]
    assert steps == ["step 1", "step 501", "step 1001", "step 1200"]  # every 5 s, then the last before the end
    assert lines[-1] == "status: succeeded"
