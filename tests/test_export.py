"""Export: file content, validation split, leak guard, atomic writes, the CLI, and a round trip
through the offline provider's fine-tuning job."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from distill_tui.cli import main
from distill_tui.core.common.errors import UserError
from distill_tui.core.curate.export import check_paths, plan_export, write_export
from distill_tui.core.curate.filters import Filters
from distill_tui.core.curate.selection import Curation
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec
from tests.test_curate import TEACHER, fabricate, make_ws, wrong


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def ws(tmp_path: Path):
    workspace = make_ws(tmp_path, rows=80)
    yield workspace
    workspace.close()


def test_export_lines_are_the_teacher_answers(ws, tmp_path):
    cur = Curation.from_workspace(ws)
    plan = plan_export(cur)
    result = write_export(plan, tmp_path / "out" / "train.jsonl", store=ws.store)
    lines = read_jsonl(result.path)
    assert len(lines) == cur.effective.sum() == result.examples
    by_id = {a.row_id: a for a in ws.store.answers(model=TEACHER)}
    for row, line in zip(plan.train_rows, lines):
        assert list(line) == ["messages"]
        assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]
        assert line["messages"][:2] == by_id[row].messages
        assert line["messages"][2]["content"] == by_id[row].content  # exactly what the teacher said
    assert ws.store.exports()[0]["examples"] == len(lines)
    assert ws.store.exports()[0]["tokens"] == plan.train_tokens
    assert [p.name for p in result.path.parent.iterdir()] == ["train.jsonl"]  # no temp file left


def test_validation_file_is_stratified_and_disjoint(ws, tmp_path):
    cur = Curation.from_workspace(ws)
    plan = plan_export(cur, validation_fraction=0.25)
    result = write_export(plan, tmp_path / "t.jsonl", tmp_path / "v.jsonl")
    assert set(plan.train_rows).isdisjoint(plan.validation_rows)
    assert set(plan.train_rows) | set(plan.validation_rows) == set(cur.ids[cur.effective].tolist())
    labels = {int(r): cur.answers[cur.pos[r]].label for r in cur.ids.tolist()}
    val, every = Counter(labels[r] for r in plan.validation_rows), Counter(labels[r] for r in cur.ids[cur.effective])
    for label, n in every.items():
        assert val[label] == min(int(n * 0.25 + 0.5), n - 1)  # per label, as the dataset split does
    assert len(read_jsonl(result.validation_path)) == len(plan.validation_rows)


def test_export_by_filter_ignores_the_saved_selection(ws):
    cur = Curation.from_workspace(ws)
    cur.select_none()
    plan = plan_export(cur, filters=Filters(agrees="yes"))
    assert set(plan.train_rows) == set(cur.ids[cur.agrees == 1].tolist())
    assert "agrees=yes" in plan.source


def test_export_actions_dedupe_and_cap(ws):
    cur = Curation.from_workspace(ws)
    plan = plan_export(cur, filters=Filters(), actions={"dedupe": True, "cap": 3})
    labels = Counter(cur.answers[cur.pos[r]].label for r in plan.train_rows)
    assert max(labels.values()) == 3 and plan.dropped["cap of 3 per label"] > 0


def test_rejected_plan_is_never_written(ws, tmp_path):
    cur = Curation.from_workspace(ws)
    cur.select_none()
    cur.set_rows(cur.ids[:5].tolist(), True)
    plan = plan_export(cur)
    assert not plan.ok and "too_few_examples" in plan.report.errors
    with pytest.raises(UserError, match="nothing written"):
        write_export(plan, tmp_path / "train.jsonl")
    assert not (tmp_path / "train.jsonl").exists()


def test_eval_rows_are_never_exported_and_counted(tmp_path):
    ws = make_ws(tmp_path, rows=80, dataset={"eval_fraction": 0.0})
    spec = ws.spec.source
    ws.close()
    spec.write_text(spec.read_text().replace("eval_fraction = 0.0", "eval_fraction = 0.25"))
    ws = Workspace.open(spec)
    cur = Curation.from_workspace(ws)
    eval_rows = set(ws.data.eval["_row"].tolist())
    for plan in (plan_export(cur), plan_export(cur, filters=Filters())):
        assert eval_rows.isdisjoint(plan.train_rows)
        assert plan.excluded_eval == len(eval_rows)
        assert any("held out for evaluation" in line for line in plan.lines())


def test_check_paths(tmp_path):
    with pytest.raises(UserError, match=".jsonl"):
        check_paths(tmp_path / "train.txt", None)
    with pytest.raises(UserError, match="must differ"):
        check_paths(tmp_path / "a.jsonl", tmp_path / "a.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(UserError, match="folder"):
        check_paths(tmp_path / "dir.jsonl", None)


# CLI ------------------------------------------------------------------------------------------
def test_cli_export_writes_and_reports(ws, tmp_path, capsys):
    out, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    code = main(["export", str(ws.spec.source), "-o", str(out), "--validation", str(val)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "OK: the provider would accept this file" in captured.out and f"to {out}" in captured.out
    n_train, n_val = len(read_jsonl(out)), len(read_jsonl(val))
    assert n_val == pytest.approx(0.1 * (n_train + n_val), abs=8)  # default fraction 0.1, per label


def test_cli_export_json(ws, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    assert main(["export", str(ws.spec.source), "-o", str(out), "--json", "--filter", "agrees=yes"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["written"] and data["output"] == str(out)
    assert data["examples"] == len(read_jsonl(out)) and data["report"]["errors"] == {}


def test_cli_export_exit_2_with_report_when_rejected(ws, tmp_path, capsys):
    out = tmp_path / "train.jsonl"
    code = main(["export", str(ws.spec.source), "-o", str(out), "--filter", "label=Merlot"])  # < 10 rows
    captured = capsys.readouterr()
    assert code == 2
    assert "REJECTED" in captured.err and "at least 10 are needed" in captured.err
    assert "nothing written" in captured.err and not out.exists()


@pytest.mark.parametrize("args", [
    ["--filter", "colour=red"],
    ["--validation-fraction", "0.2"],
    ["--validation", "v.jsonl", "--validation-fraction", "1.5"],
])
def test_cli_export_bad_flags_exit_2(ws, tmp_path, capsys, args):
    code = main(["export", str(ws.spec.source), "-o", str(tmp_path / "t.jsonl"), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("distill-tui: error:") and len(err.strip().splitlines()) == 1


def test_cli_export_without_answers_exit_2(tmp_path, capsys):
    spec = write_spec(tmp_path, rows=40)
    code = main(["export", str(spec), "-o", str(tmp_path / "t.jsonl")])
    assert code == 2 and "no teacher answers yet" in capsys.readouterr().err


def test_cli_uses_the_saved_selection(ws, tmp_path, capsys):
    cur = Curation.from_workspace(ws)
    cur.toggle(int(cur.ids[0]))
    out = tmp_path / "train.jsonl"
    assert main(["export", str(ws.spec.source), "-o", str(out)]) == 0
    assert len(read_jsonl(out)) == cur.effective.sum()


# round trip ---------------------------------------------------------------------------------
def test_round_trip_offline_fine_tuning_job(tmp_path, offline_server):
    ws = make_ws(tmp_path, rows=80, answer=wrong)
    out = tmp_path / "train.jsonl"
    result = write_export(plan_export(Curation.from_workspace(ws), filters=Filters(agrees="yes")), out)
    import openai

    client = openai.OpenAI(base_url=offline_server.base_url, api_key="offline")
    with open(result.path, "rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="offline-student", training_file=uploaded.id)
    deadline = time.monotonic() + 60
    while job.status not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model


def test_fabricate_counts(tmp_path):
    ws = Workspace.open(write_spec(tmp_path, rows=40))
    assert fabricate(ws) == len(ws.data.train)
