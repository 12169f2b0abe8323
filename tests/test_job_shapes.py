"""Provider text is data: a fine-tuning job whose numbers are text, or whose error spans several
lines, neither crashes `finetune` and `jobs` nor prints over several lines. Through the real SDK
against the offline provider's `odd_jobs` mode, and on records an older version stored as sent."""

from __future__ import annotations

import io
import json
import sqlite3

import pytest

from distill_tui.cli import main
from distill_tui.core.provider import values as pd
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.train.follow import estimated_finish, metrics_series
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.offline import OfflineOptions, start_server
from distill_tui.offline.odd_jobs import MULTILINE_ERROR
from tests.test_finetune import make_workspace


@pytest.fixture(autouse=True)
def no_tty(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


@pytest.fixture(scope="module")
def odd_provider():
    server = start_server(OfflineOptions(odd_jobs=True, job_seconds=0.5))
    yield server
    server.shutdown()


def _spec(folder, base_url: str, suffix: str) -> str:
    import tomllib

    import tomli_w

    ws = make_workspace(folder, base_url)
    path = ws.spec.source
    ws.close()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data.setdefault("finetune", {})["suffix"] = suffix
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return str(path)


def test_job_numbers_as_text_neither_crash_finetune_nor_jobs(tmp_path, odd_provider, capsys):
    """trained_tokens "1,234 tokens", created_at as an ISO date, estimated_finish "in a few minutes",
    metrics and checkpoint steps as text: followed to the end, listed, and shown as JSON."""
    spec = _spec(tmp_path, odd_provider.base_url, "ok")
    assert main(["finetune", spec, "--yes", "--follow", "--json"]) == 0
    out, err = capsys.readouterr()
    job = json.loads(out)
    assert job["status"] == "succeeded" and job["trained_tokens"] is None and job["error"] is None
    assert "Traceback" not in err and "trained tokens unknown" in err
    assert "train loss" in err, "metrics sent as numeric text are read as numbers"
    assert job["created_at"] > 1e9, "an ISO date is read as a time"
    assert main(["jobs", spec]) == 0
    listing = capsys.readouterr().out
    assert job["id"] in listing
    assert main(["jobs", spec, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["jobs"][0]["id"] == job["id"]
    ws = Workspace.open(spec)
    try:
        checkpoints = ws.store.checkpoints(job["id"])
        assert checkpoints and all(isinstance(c["step"], int) for c in checkpoints)
        assert metrics_series(ws.store.events(job["id"]))["train_loss"]
    finally:
        ws.close()


def test_a_multi_line_job_error_is_one_line(tmp_path, odd_provider, capsys):
    spec = _spec(tmp_path, odd_provider.base_url, "fail")
    assert main(["finetune", spec, "--yes", "--follow"]) == 1
    err = capsys.readouterr().err
    folded = " ".join(MULTILINE_ERROR.split())
    failure = [line for line in err.splitlines() if "Training failed" in line]
    assert failure and all(folded in line for line in failure), err
    assert "Traceback (most recent call last)" not in err.replace(folded, "")
    assert main(["jobs", spec, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["jobs"][0]["error"] == folded


def test_jobs_reads_what_an_older_version_stored_as_sent(tmp_path, capsys):
    """Records saved before the provider's values were checked ("n/a" tokens, a date as text, a
    multi-line error, an estimated finish in words) no longer break every later `jobs`."""
    ws = make_workspace(tmp_path, "http://127.0.0.1:9/v1")
    spec = str(ws.spec.source)
    ws.store.save_job(JobRecord(id="ftjob-old", backend="compatible", base_model="m", status="running",
                                created_at=1_700_000_000.0, data={"estimated_finish": 1}))
    with sqlite3.connect(ws.store.path) as db:
        db.execute("UPDATE jobs SET trained_tokens='n/a', created_at='2026-12-01T10:00:00Z', finished_at='later', "
                   "error=?, data=? WHERE id='ftjob-old'", ("line one\nline two", json.dumps({"estimated_finish": "soon"})))
    ws.store.save_events("ftjob-old", [{"id": "e1", "created_at": 5, "type": "metrics",
                                        "data": {"step": "step 3", "train_loss": "n/a"}, "message": "x"}])
    ws.close()
    ws = Workspace.open(spec)
    try:
        record = ws.store.job("ftjob-old")
        assert record.trained_tokens is None and record.created_at == pytest.approx(1_796_119_200.0)
        assert record.finished_at is None and record.error == "line one line two"
        assert estimated_finish(record, ws.store.events("ftjob-old")) is None
        assert metrics_series(ws.store.events("ftjob-old"))["train_loss"] == []
    finally:
        ws.close()
    assert main(["jobs", spec]) == 0 and "ftjob-old" in capsys.readouterr().out
    assert main(["jobs", spec, "--json"]) == 0
    job = json.loads(capsys.readouterr().out)["jobs"][0]
    assert job["trained_tokens"] is None and job["error"] == "line one line two"


@pytest.mark.parametrize("value, number", [(1200, 1200), ("1200", 1200), (3.0, 3), ("n/a", None), (True, None),
                                           ("1,234 tokens", None), (2.5, None), (None, None), ([1], None)])
def test_as_int(value, number):
    assert pd.as_int(value) == number


def test_readers_of_provider_values():
    assert pd.as_float("0.53") == 0.53 and pd.as_float("nan") is None and pd.as_float(float("inf")) is None
    assert pd.as_time("2026-12-01T10:00:00Z") == pytest.approx(1_796_119_200.0)
    assert pd.as_time("soon") is None and pd.as_time(0) is None and pd.as_time(1.5e9) == 1.5e9
    assert pd.as_text("a\n  b\tc") == "a b c" and pd.as_text("") is None and pd.as_text({"x": 1}) == "{'x': 1}"
    assert pd.as_metrics({"step": "7", "train_loss": "0.5", "acc": "n/a"}) == {"step": 7, "train_loss": 0.5}
    assert pd.as_metrics("text") is None
