"""What is checked before a training file is uploaded (rows held out today, a file the provider
would reject, an export older than the selection), uploads reused on a retry, and the provider a
job was attached from."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from distill_tui.cli import main
from distill_tui.core.common.errors import UserError
from distill_tui.core.task import requests
from distill_tui.core.train.backend import OpenAIJobsBackend
from distill_tui.core.train.checks import STALE_EXPORT, UPLOADS, remember_upload, upload_scope
from distill_tui.core.train.errors import TrainingClosed
from distill_tui.core.train.follow import attach_job, job_json
from distill_tui.core.train.jobs import create_job
from distill_tui.core.train.plan import plan_job, request_for
from distill_tui.core.workspace.workspace import Workspace, provider_url
from tests.test_finetune import create_unchecked, make_workspace
from tests.test_finetune_poll import write_training


@pytest.fixture
def uploads(monkeypatch):
    """Every file `OpenAIJobsBackend.upload` sends, in order (the upload still happens)."""
    sent: list[Path] = []
    real = OpenAIJobsBackend.upload

    def counting(self, path, purpose="fine-tune"):
        sent.append(Path(path))
        return real(self, path, purpose)

    monkeypatch.setattr(OpenAIJobsBackend, "upload", counting)
    return sent


def add_held_out_rows(ws: Workspace, path: Path, n: int) -> None:
    """Append `n` examples asking the user message of rows in today's eval split, under another
    system prompt (user messages alone are compared)."""
    spec = ws.spec
    held = list(requests.iter_requests(spec, ws.data, spec.teacher.model, "eval"))[:n]
    with path.open("a", encoding="utf-8") as out:
        for r in held:
            user = [m for m in r.messages if m["role"] == "user"]
            messages = [{"role": "system", "content": "An older system prompt."}, *user,
                        {"role": "assistant", "content": json.dumps({"variety": r.gold})}]
            out.write(json.dumps({"messages": messages}) + "\n")


# (a) rows held out for evaluation today --------------------------------------------------------


def test_rows_held_out_today_refuse_the_job_before_any_upload(tmp_path, offline_server, uploads, capsys):
    ws = make_workspace(tmp_path, offline_server.base_url)
    add_held_out_rows(ws, tmp_path / "train.jsonl", 2)
    with pytest.raises(UserError) as info:
        plan_job(ws, live=False)
    line = str(info.value)
    assert info.value.exit_code == 2 and "\n" not in line
    assert "2 examples of the export are rows held out for evaluation today" in line and "export again" in line
    with pytest.raises(UserError, match="held out for evaluation"):
        create_job(ws, request_for(ws))
    assert uploads == [] and ws.store.jobs() == []
    ws.close()

    assert main(["finetune", str(tmp_path / "spec.toml"), "--yes"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("distill-tui: error:") == 1 and "2 examples" in err
    assert uploads == []


def test_train_rows_only_pass(tmp_path, offline_server):
    ws = make_workspace(tmp_path, offline_server.base_url)
    spec = ws.spec
    train = next(requests.iter_requests(spec, ws.data, spec.teacher.model, "train"))
    with (tmp_path / "train.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps({"messages": [*train.messages, {"role": "assistant", "content": "x"}]}) + "\n")
    assert plan_job(ws, live=False).examples == 13
    ws.close()


# (b) a file the provider would reject ----------------------------------------------------------


def test_a_bad_line_is_refused_with_the_reports_first_error(tmp_path, offline_server, uploads):
    ws = make_workspace(tmp_path, offline_server.base_url)
    with (tmp_path / "train.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps({"messages": [{"role": "user", "content": "no answer"}]}) + "\n")
    with pytest.raises(UserError) as info:
        create_job(ws, request_for(ws))
    assert info.value.exit_code == 2
    assert "provider would reject the training file train.jsonl" in str(info.value)
    assert "no assistant message (line 13)" in str(info.value)
    assert uploads == []
    ws.close()


def test_an_empty_validation_file_is_refused(tmp_path, offline_server):
    ws = make_workspace(tmp_path, offline_server.base_url, validation=True)
    (tmp_path / "valid.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="reject the validation file valid.jsonl: only 0 examples; at least 1"):
        plan_job(ws, live=False)
    ws.close()


# (c) an export older than the selection --------------------------------------------------------


def test_a_selection_changed_after_the_export_is_a_warning(tmp_path, offline_server, capsys):
    ws = make_workspace(tmp_path, offline_server.base_url)
    ws.store.set_selections({0: True})
    ws.store.execute("UPDATE selections SET updated_at=?", (time.time() - 3600,))  # before the export
    assert STALE_EXPORT not in " ".join(plan_job(ws, live=False).warnings)
    ws.store.set_selections({1: False})  # after it
    plan = plan_job(ws, live=False)
    assert STALE_EXPORT in plan.warnings and STALE_EXPORT in plan.file_warnings
    ws.close()

    assert main(["finetune", str(tmp_path / "spec.toml"), "--yes"]) == 0  # a warning, not a refusal
    out, err = capsys.readouterr()
    assert out.strip().startswith("ftjob-")
    assert f"warning: {STALE_EXPORT}" in err


# 5. a retry after a refusal does not upload again ----------------------------------------------


def test_a_retry_after_training_not_available_reuses_the_uploaded_files(tmp_path, uploads):
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(job_seconds=1.0, refuse_training=True))
    ws = make_workspace(tmp_path, server.base_url, validation=True)
    try:
        for _ in range(2):
            with pytest.raises(TrainingClosed):
                create_job(ws, request_for(ws))
        assert [p.name for p in uploads] == ["train.jsonl", "valid.jsonl"]
        lines: list[str] = []
        with pytest.raises(TrainingClosed):
            create_job(ws, request_for(ws), on_status=lines.append)
        assert any("not uploading it again" in line for line in lines) and len(uploads) == 2

        # A new version of the file (another export to the same path) is uploaded again.
        train = tmp_path / "train.jsonl"
        write_training(train, n=14)
        os.utime(train, ns=(time.time_ns(), time.time_ns() + 10**9))
        with pytest.raises(TrainingClosed):
            create_job(ws, request_for(ws))
        assert [p.name for p in uploads] == ["train.jsonl", "valid.jsonl", "train.jsonl"]
        assert len(ws.store.setting(UPLOADS)) == 2  # the old version's id was dropped
    finally:
        ws.close()
        server.shutdown()


def test_a_remembered_id_the_provider_no_longer_has_is_uploaded_again(tmp_path, offline_server, uploads):
    ws = make_workspace(tmp_path, offline_server.base_url)
    try:
        request = request_for(ws)
        scope = upload_scope(ws, OpenAIJobsBackend(ws.client(), "compatible"))
        remember_upload(ws.store, scope, request.training_path, "file-deleted-long-ago")
        record = create_job(ws, request)
        assert record.training_file != "file-deleted-long-ago"
        assert uploads == [request.training_path]
    finally:
        ws.close()


# 7. the provider a job came from ---------------------------------------------------------------


def test_a_job_attached_from_another_provider_keeps_its_base_url(tmp_path, offline_server, capsys):
    from distill_tui.offline import OfflineOptions, start_server

    other = start_server(OfflineOptions(job_seconds=1.0))
    try:
        ws = make_workspace(tmp_path, offline_server.base_url)
        there = Workspace.open(ws.spec.source, base_url=other.base_url)
        job_id = create_unchecked(there, tmp_path / "train.jsonl")
        there.close()
        made_here = create_job(ws, request_for(ws))
        assert made_here.data["base_url"] == offline_server.base_url.rstrip("/") == provider_url(ws)
        ws.close()

        code = main(["finetune", str(tmp_path / "spec.toml"), "--job", job_id, "--base-url", other.base_url, "--json"])
        out, _ = capsys.readouterr()
        assert code == 0 and json.loads(out)["base_url"] == other.base_url.rstrip("/")
        again = Workspace.open(tmp_path / "spec.toml")
        try:
            assert again.store.job(job_id).data["base_url"] == other.base_url.rstrip("/")
            assert again.store.job(made_here.id).data["base_url"] != again.store.job(job_id).data["base_url"]
            assert job_json(again.store.job(job_id))["base_url"] == other.base_url.rstrip("/")
        finally:
            again.close()
    finally:
        other.shutdown()


def test_attach_records_the_workspace_provider(tmp_path, offline_server):
    ws = make_workspace(tmp_path, offline_server.base_url)
    try:
        job_id = create_unchecked(ws, tmp_path / "train.jsonl")
        assert attach_job(ws, job_id).data["base_url"] == provider_url(ws)
    finally:
        ws.close()


def test_provider_url_forms(tmp_path):
    from tests.helpers import write_spec

    ws = Workspace.open(write_spec(tmp_path, provider={"base_url": "offline"}))
    assert provider_url(ws) == "offline"
    ws.base_url = "http://example.test/v1/"
    assert provider_url(ws) == "http://example.test/v1"
    ws.close()
