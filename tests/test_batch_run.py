"""`distill-tui generate --batch`: teacher generation through the Batch API of the offline provider.

Nothing here asserts timings: batches are either fast (`fast`, done within a second or so, and
waited for with --wait) or so slow (`slow`) that they stay in flight for the whole test.
"""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from distill_tui.cli import main
from distill_tui.core.curate.selection import Curation
from distill_tui.core.run import batch_api, batch_files, batch_session, batch_summary
from distill_tui.core.run.batch_session import BatchSession
from distill_tui.core.run.engine_parts import Controls
from distill_tui.core.run.plan import spent
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.offline import OfflineOptions, prompt_hash, start_server
from tests.helpers import write_spec
from tests.settle import workers_done


@pytest.fixture(scope="module")
def fast():
    server = start_server(OfflineOptions(batch_seconds=0.2))
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def slow():
    """Batches stay in flight for the whole test (cancelled by the tests that need them to end)."""
    server = start_server(OfflineOptions(batch_seconds=600))
    yield server
    server.shutdown()


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(batch_session, "POLL_FIRST_S", 0.05)
    monkeypatch.setattr(batch_session, "POLL_MAX_S", 0.2)


def _spec(folder: Path, server, **generation) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_spec(folder, provider={"base_url": server.base_url}, generation={"workers": 4, **generation})


def _batch(spec: Path, *extra: str, capsys) -> tuple[int, dict, str]:
    code = main(["generate", str(spec), "--batch", "--json", *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def _sdk(server):
    return openai.OpenAI(base_url=server.base_url, api_key="offline", max_retries=0)


def _batch_ids(server) -> list[str]:
    return [b.id for b in _sdk(server).batches.list(limit=100)]


def _keys(ws: Workspace) -> dict[tuple[int, str], object]:
    return {(r.row_id, r.prompt_hash): r for r in iter_requests(ws.spec, ws.data, ws.spec.teacher.model, "train")}


def test_submit_then_wait_commits_answers_at_the_batch_price_like_the_engine(tmp_path, fast, capsys, monkeypatch):
    spec = _spec(tmp_path / "batch", fast)
    code, first, err = _batch(spec, capsys=capsys)
    assert code == 1 and len(first["submitted"]) == 1 and first["requests"] == first["total"] == 88
    assert first["done"] == 0 and first["waiting"] == 88 and first["batches"][0]["id"] == first["submitted"][0]
    assert f"check again with `distill-tui generate {spec} --batch`" in err.strip().splitlines()[-1]
    assert first["submitted"][0] in err.strip().splitlines()[-1]

    code, done, err = _batch(spec, "--wait", capsys=capsys)
    assert code == 0, err
    assert done["done"] == done["total"] == 88 and done["failed"] == 0 and done["left"] == 0
    assert done["answered_now"] == done["committed_rows"] == 88 and done["submitted"] == []
    assert done["batches"][0]["status"] == "completed" and done["batches"][0]["request_counts"]["completed"] == 88
    assert err.strip().splitlines()[-1] == "all 88 rows answered" and "Traceback" not in err

    # The same rows answered by the threaded engine in another workspace: the same answers, at twice the price.
    engine_spec = _spec(tmp_path / "engine", fast)
    # A copy of a spec would reuse the batch's answers (core/workspace/reuse.py): here the engine must ask.
    monkeypatch.setattr("distill_tui.core.workspace.reuse.adopt", lambda *args: None)
    assert main(["generate", str(engine_spec)]) == 0
    capsys.readouterr()
    ws, engine_ws = Workspace.open(spec), Workspace.open(engine_spec)
    try:
        price = ws.prices.price("offline-teacher")
        batch_answers = {a.row_id: a for a in ws.store.answers("offline-teacher", "train")}
        engine_answers = {a.row_id: a for a in engine_ws.store.answers("offline-teacher", "train")}
        assert batch_answers.keys() == engine_answers.keys() and len(batch_answers) == 88
        same = ("prompt_hash", "split", "status", "gold", "messages", "content", "label", "valid", "problem",
                "finish_reason", "prompt_tokens", "completion_tokens", "source")
        for row_id, answer in batch_answers.items():
            twin = engine_answers[row_id]
            assert {k: getattr(answer, k) for k in same} == {k: getattr(twin, k) for k in same}
            at_batch_price = price.cost(answer.prompt_tokens, answer.completion_tokens, batch=True)
            assert answer.cost_usd == pytest.approx(at_batch_price)
            assert answer.cost_usd == pytest.approx(twin.cost_usd / 2)
            assert answer.latency_s is None and answer.request_id
        assert done["cost_usd"] == pytest.approx(spent(ws, "offline-teacher", "train"), abs=1e-6)
        # Curation sees them exactly as it sees the engine's.
        ours, theirs = Curation.from_workspace(ws), Curation.from_workspace(engine_ws)
        assert len(ours.answers) == len(theirs.answers) == 88
        assert (ours.totals().examples, ours.totals().tokens) == (theirs.totals().examples, theirs.totals().tokens)
        assert ours.distribution() == theirs.distribution()
        assert [(a.row_id, a.label) for a in ours.answers] == [(a.row_id, a.label) for a in theirs.answers]
    finally:
        ws.close()
        engine_ws.close()


def test_a_second_run_polls_the_batch_in_flight_and_never_resubmits(tmp_path, slow, capsys):
    spec = _spec(tmp_path, slow)
    before = set(_batch_ids(slow))
    code, first, _ = _batch(spec, capsys=capsys)
    assert code == 1 and len(first["submitted"]) == 1
    batch_id = first["submitted"][0]
    for _ in range(2):
        code, again, err = _batch(spec, capsys=capsys)
        assert code == 1 and again["submitted"] == [] and again["requests"] == 0 and again["waiting"] == 88
        assert [b["id"] for b in again["batches"]] == [batch_id]
        assert batch_id in err.strip().splitlines()[-1]
    assert set(_batch_ids(slow)) - before == {batch_id}
    # The threaded engine does not ask rows that wait in a batch either.
    asked = sum(slow.stats["requests_by_prompt_hash"].values())
    assert main(["generate", str(spec), "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["requests"] == 0 and sum(slow.stats["requests_by_prompt_hash"].values()) == asked
    assert "88 wait in a batch" in err and "--batch" in err
    # Cancelled on the provider: what it answered is committed, the rest is free to be asked again.
    _sdk(slow).batches.cancel(batch_id)
    code, collected, _ = _batch(spec, "--wait", capsys=capsys)
    assert code == 1 and collected["batches"][0]["status"] == "cancelled" and collected["batches"][0]["committed"]
    assert collected["waiting"] == 0 and collected["left"] == 88 - collected["done"]


def test_rows_answered_by_the_engine_are_not_batched(tmp_path, slow, capsys):
    spec = _spec(tmp_path, slow)
    assert main(["generate", str(spec), "--limit", "10"]) == 0
    code, first, _ = _batch(spec, capsys=capsys)
    assert code == 1 and first["done"] == 10 and first["requests"] == 78
    ws = Workspace.open(spec)
    try:
        answered = ws.store.answered_keys("offline-teacher")
        requests = _keys(ws)
        (record,) = ws.store.batches(open_only=True)
        assert record.id == first["submitted"][0] and record.requests == 78
        content = _sdk(slow).files.content(record.input_file_id).text
        lines = [json.loads(line) for line in content.splitlines()]
        keys = {batch_files.parse_custom_id(line["custom_id"]) for line in lines}
        assert len(lines) == len(keys) == 78 and not keys & answered and keys | answered == set(requests)
        for line in lines:
            assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
            assert line["body"] == requests[batch_files.parse_custom_id(line["custom_id"])].body
        assert lines[0]["body"]["response_format"]["type"] == "json_schema" and lines[0]["body"]["store"] is True
    finally:
        ws.close()
    _sdk(slow).batches.cancel(first["submitted"][0])


def test_failed_lines_become_failed_rows_and_generate_asks_only_those(tmp_path, capsys):
    flaky = start_server(OfflineOptions(batch_seconds=0.2, fail_rate=0.25, seed=5))
    steady = start_server(OfflineOptions())
    try:
        spec = _spec(tmp_path, flaky)
        assert _batch(spec, capsys=capsys)[0] == 1
        code, data, err = _batch(spec, "--wait", capsys=capsys)
        assert code == 1 and 0 < data["failed"] == data["failed_now"] < 88 and data["done"] == 88 - data["failed"]
        assert "failed; ask them again" in err.strip().splitlines()[-1]
        ws = Workspace.open(spec)
        try:
            failed = ws.store.answers("offline-teacher", "train", status="failed")
            assert len(failed) == data["failed"]
            assert all(a.error.startswith("batch request failed (500") and a.cost_usd is None for a in failed)
            failed_hashes = {prompt_hash(a.messages) for a in failed}
        finally:
            ws.close()
        assert main(["generate", str(spec), "--json", "--base-url", steady.base_url]) == 0
        rerun = json.loads(capsys.readouterr().out)
        assert rerun["requests"] == data["failed"] and rerun["done"] == 88
        assert set(steady.stats["requests_by_prompt_hash"]) == failed_hashes
    finally:
        flaky.shutdown()
        steady.shutdown()


def test_collecting_the_same_output_twice_commits_nothing_twice(tmp_path, fast, capsys):
    spec = _spec(tmp_path, fast)
    assert _batch(spec, "--wait", capsys=capsys)[0] == 0
    ws = Workspace.open(spec)
    try:
        def state():
            rows = ws.store.execute("SELECT COUNT(*), SUM(cost_usd) FROM answers")[0]
            runs = ws.store.execute("SELECT COUNT(*) FROM runs WHERE kind='batch'")[0][0]
            return rows[0], rows[1], runs, spent(ws, "offline-teacher", "train")

        before = state()
        (record,) = ws.store.batches()
        batch = _sdk(fast).batches.retrieve(record.id)
        session = BatchSession(ws, "offline-teacher", "train", None, None, None)
        summary = batch_summary.BatchSummary("offline-teacher", "train", str(spec))
        session.collect(record, batch, summary)  # marked committed: nothing happens
        assert state() == before and summary.answered_now == 0
        ws.store.execute("UPDATE batches SET committed_at=NULL")  # as if the mark were lost
        session.collect(ws.store.batch(record.input_file_id), batch, summary)
        assert summary.answered_now == 0 and summary.cost_usd == 0
        assert state()[:2] == before[:2] and state()[3] == before[3]
    finally:
        ws.close()


def test_budget_refuses_the_batch_before_submitting(tmp_path, fast, capsys):
    spec = _spec(tmp_path, fast, budget_usd=0.005)
    before = _batch_ids(fast)
    files = len(_sdk(fast).files.list(purpose="batch").data)
    code, data, err = _batch(spec, capsys=capsys)
    # Exit 1 like `generate` stopping at its budget: the spec is fine, the work is left to do.
    assert code == 1 and data["stopped"] == "budget" and data["submitted"] == [] and data["requests"] == 0
    line = err.strip().splitlines()[-1]
    assert line.startswith("budget: a batch of 88 rows could cost up to $") and "budget_usd = $0.0050" in line
    assert _batch_ids(fast) == before and len(_sdk(fast).files.list(purpose="batch").data) == files
    # Within the budget it goes ahead (the worst case of 88 rows is about $0.02 at the Batch price).
    spec = _spec(tmp_path / "enough", fast, budget_usd=0.05)
    assert _batch(spec, "--wait", capsys=capsys)[0] == 0


def test_a_submission_cut_short_is_found_again_not_resubmitted(tmp_path, fast, capsys, monkeypatch):
    spec = _spec(tmp_path, fast)
    before = set(_batch_ids(fast))
    real_save = BatchSession.save

    def crash(self, input_file_id, batch):
        raise KeyboardInterrupt  # killed right after batches.create returned

    monkeypatch.setattr(BatchSession, "save", crash)
    assert main(["generate", str(spec), "--batch"]) == 1
    monkeypatch.setattr(BatchSession, "save", real_save)
    created = set(_batch_ids(fast)) - before
    assert len(created) == 1
    code, data, _ = _batch(spec, "--wait", capsys=capsys)
    assert code == 0 and data["submitted"] == [] and [b["id"] for b in data["batches"]] == list(created)
    assert set(_batch_ids(fast)) - before == created


def test_a_refused_submission_frees_its_rows(tmp_path, fast, capsys, monkeypatch):
    spec = _spec(tmp_path, fast)
    before = set(_batch_ids(fast))
    create = openai.resources.batches.Batches.create

    def refuse(self, **kwargs):
        # A real connection failure (nothing listens on port 9), so the error is built by the SDK itself.
        openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0).batches.list()

    monkeypatch.setattr(openai.resources.batches.Batches, "create", refuse)
    code, data, err = _batch(spec, capsys=capsys)
    assert code == 1 and data["error"].startswith("cannot reach the provider") and "Traceback" not in err
    # Only the refusal is undone: undo() would also drop the isolated data folder (tests/conftest.py).
    monkeypatch.setattr(openai.resources.batches.Batches, "create", create)
    code, data, _ = _batch(spec, "--wait", capsys=capsys)
    assert code == 0 and len(data["submitted"]) == 1 and set(_batch_ids(fast)) - before == set(data["submitted"])


def test_ctrl_c_while_waiting_leaves_the_batch_running(tmp_path, slow):
    spec = _spec(tmp_path, slow)
    ws = Workspace.open(spec)
    controls = Controls()
    lines: list[str] = []

    def on_status(line: str) -> None:
        lines.append(line)
        controls.cancel()  # as the command's SIGINT handler does

    try:
        summary = batch_api.run_teacher_batch(ws, wait=True, controls=controls, on_status=on_status)
    finally:
        ws.close()
    assert summary.stopped == "interrupted" and summary.exit_code == 1 and len(summary.submitted) == 1
    assert "keeps running on the provider" in summary.message and summary.submitted[0] in summary.message
    assert _sdk(slow).batches.retrieve(summary.submitted[0]).status in ("validating", "in_progress")
    _sdk(slow).batches.cancel(summary.submitted[0])


def test_a_batch_the_provider_lost_frees_its_rows(tmp_path, capsys):
    gone = start_server(OfflineOptions(batch_seconds=600))
    spec = _spec(tmp_path, gone)
    try:
        assert _batch(spec, capsys=capsys)[0] == 1
    finally:
        gone.shutdown()
    again = start_server(OfflineOptions(port=gone.port, batch_seconds=0.2))  # same URL, no memory of it
    try:
        code, data, err = _batch(spec, capsys=capsys)
        assert code == 1 and data["batches"][0]["status"] == "lost" and data["waiting"] == 0
        assert "no longer knows" in err
        assert _batch(spec, "--wait", capsys=capsys)[0] == 0
    finally:
        again.shutdown()


def test_flags_that_do_not_go_together(tmp_path, capsys):
    spec = write_spec(tmp_path)
    assert main(["generate", str(spec), "--wait"]) == 2
    assert "--wait goes with --batch" in capsys.readouterr().err
    assert main(["generate", str(spec), "--batch", "--limit", "3"]) == 2
    assert "--limit does not apply to --batch" in capsys.readouterr().err


def test_custom_ids_and_input_files_are_split_at_the_limits():
    from distill_tui.core.task.requests import RowRequest

    assert batch_files.parse_custom_id(batch_files.custom_id(17, "ab12")) == (17, "ab12")
    assert batch_files.parse_custom_id("request-1") is None and batch_files.parse_custom_id("row-x-ab") is None
    reqs = [RowRequest(i, "train", "Merlot", {"model": "m", "messages": [{"role": "user", "content": "x" * 50}]},
                       f"h{i}") for i in range(7)]
    assert [len(c.reqs) for c in batch_files.chunks(reqs, max_requests=3)] == [3, 3, 1]
    size = len(batch_files.batch_line(reqs[0])) + 1
    by_bytes = list(batch_files.chunks(reqs, max_bytes=2 * size + 1))
    assert [len(c.reqs) for c in by_bytes] == [2, 2, 2, 1] and all(len(c.content) <= 2 * size + 1 for c in by_bytes)
    assert [json.loads(x)["custom_id"] for x in by_bytes[0].content.splitlines()] == ["row-0-h0", "row-1-h1"]


def test_results_are_joined_on_custom_id_and_errors_read_as_one_line():
    ok = {"custom_id": "row-1-a", "response": {"status_code": 200, "request_id": "r1", "body": {"choices": []}}}
    failed = {"custom_id": "row-1-a", "response": {"status_code": 500, "body": {"error": {"message": "boom\nagain"}}}}
    expired = {"custom_id": "row-2-b", "response": None, "error": {"code": "batch_expired", "message": "too late"}}
    found = batch_files.read_results([json.dumps(failed), "not json\n" + json.dumps(expired) + "\n" + json.dumps(ok)])
    assert found["row-1-a"] is not failed and batch_files.line_error(found["row-1-a"]) is None
    assert batch_files.request_id(found["row-1-a"]) == "r1"
    assert batch_files.line_error(found["row-2-b"]) == "batch request failed (batch_expired): too late"
    assert batch_files.line_error(failed) == "batch request failed (500): boom again"


def test_older_workspaces_gain_the_batch_tables(tmp_path):
    from distill_tui.core.store.database import Store

    path = tmp_path / "ws.sqlite"
    with Store(path) as store:
        store.execute("DROP TABLE batch_rows")
        store.execute("DROP TABLE batches")
    with Store(path) as store:
        assert store.batches() == [] and store.batch_keys_in_flight("m") == set()


async def test_the_generate_screen_notes_a_batch_in_flight(tmp_path, slow):
    from distill_tui.tui.app import DistillApp
    from distill_tui.tui.screens.generate import GenerateScreen

    spec = _spec(tmp_path, slow)
    ws = Workspace.open(spec)
    summary = batch_api.run_teacher_batch(ws)
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await workers_done(pilot.app)
        await pilot.pause()
        assert isinstance(pilot.app.screen, GenerateScreen)
        text = str(pilot.app.screen.query_one("#plan").render())
        assert f"Batch {summary.submitted[0]}" in text and "0/88 answered" in text
        assert "b checks and collects it" in text
    _sdk(slow).batches.cancel(summary.submitted[0])
