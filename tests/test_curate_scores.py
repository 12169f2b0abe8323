"""Curation by grader score: the teacher's training answers of a generation task scored against their
references by the spec's graders, filtered and sorted in the curation and by `export --filter`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distill_tui.cli import main
from distill_tui.core.curate import edits
from distill_tui.core.curate.filters import Filters
from distill_tui.core.curate.export import plan_export
from distill_tui.core.curate.selection import Curation
from distill_tui.core.evaluate import answer_scores
from distill_tui.core.store.database import Answer
from distill_tui.core.task import kinds
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from tests.test_eval_kinds import TEACHER_M, qa_spec


@pytest.fixture
def ws(tmp_path: Path):
    spec = qa_spec(tmp_path, dataset={"reference": "answer"})
    spec.write_text(spec.read_text() + '\n[[graders]]\nname = "chrf"\ntype = "chrf"\nthreshold = 0.5\n')
    workspace = Workspace.open(spec)
    for i, request in enumerate(iter_requests(workspace.spec, workspace.data, TEACHER_M, "train")):
        text = request.gold if i % 3 else "I would not know which grape to pick, sorry."
        parsed = kinds.parse_answer(workspace.spec, text, workspace.data.labels, "stop")
        workspace.store.record_answer(Answer(
            model=TEACHER_M, row_id=request.row_id, prompt_hash=request.prompt_hash, split="train", status="ok",
            gold=request.gold, messages=request.messages, content=text, label=parsed.label, valid=parsed.valid,
            finish_reason="stop", prompt_tokens=20, completion_tokens=8, cost_usd=0.0001))
    yield workspace
    workspace.close()


def test_training_answers_are_scored_against_their_references(ws) -> None:
    cur = Curation.from_workspace(ws)
    answer_scores.attach(ws, cur)
    chrf = cur.scores["chrf"]
    assert not np.isnan(chrf).any()
    off = np.array([a.content.startswith("I would not") for a in cur.answers])
    assert (chrf[~off] == 1.0).all() and (chrf[off] < 0.5).all()
    low = cur.ids[cur.mask(Filters(score=("chrf", None, 0.5)))].tolist()
    assert sorted(low) == sorted(cur.ids[off].tolist())
    cur.set_filters(Filters(sort="-score"))
    assert off[cur.view()[: int(off.sum())]].all()  # the lowest scores first


def test_an_edit_is_scored_again(ws) -> None:
    cur = Curation.from_workspace(ws)
    answer_scores.attach(ws, cur)
    p = int(np.flatnonzero([a.content.startswith("I would not") for a in cur.answers])[0])
    row = int(cur.ids[p])
    edits.edit(cur, row, cur.answers[p].gold, edits.parser(ws))
    assert cur.scores["chrf"][p] == 1.0


def test_export_filters_by_score(ws, tmp_path, capsys) -> None:
    out = tmp_path / "good.jsonl"
    code = main(["export", str(ws.spec.source), "-o", str(out), "--json", "--filter", "score=chrf:0.9.."])
    assert code == 0, capsys.readouterr()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and not any(line["messages"][-1]["content"].startswith("I would not") for line in lines)
    assert main(["export", str(ws.spec.source), "-o", str(out), "--filter", "score=bleu:0.5.."]) == 2
    assert "graded by chrf" in capsys.readouterr().err


def test_a_refusal_is_left_out_by_default_and_an_edit_that_answers_selects_it(tmp_path) -> None:
    from tests.test_curate import make_ws

    def refusal_at_2(i, req, labels):
        return {"content": "I'm sorry, but I can't help with that."} if i == 2 else None

    ws = make_ws(tmp_path, answer=refusal_at_2)  # a valid label, yet a refusal in words
    cur = Curation.from_workspace(ws)
    p = int(np.flatnonzero(cur.refusal)[0])
    assert cur.valid[p] and not cur.effective[p] and cur.effective.sum() == cur.n - 1
    edits.edit(cur, int(cur.ids[p]), json.dumps({"variety": cur.answers[p].gold}), edits.parser(ws))
    assert cur.effective[p] and not cur.refusal[p]
    assert Curation.from_workspace(ws).effective[p]
    edits.revert(cur, [int(cur.ids[p])])
    cur.toggle(int(cur.ids[p]))  # selected by hand: exported, with a warning
    plan = plan_export(cur)
    assert plan.refusals == 1 and any("read as a refusal" in line for line in plan.lines())
    ws.close()


def _generation_ws(tmp_path: Path, texts, graders: str = "") -> Workspace:
    spec = qa_spec(tmp_path, dataset={"reference": "answer"})
    spec.write_text(spec.read_text() + graders)
    workspace = Workspace.open(spec)
    for i, request in enumerate(iter_requests(workspace.spec, workspace.data, TEACHER_M, "train")):
        text = texts(i, request.gold)
        parsed = kinds.parse_answer(workspace.spec, text, workspace.data.labels, "stop")
        workspace.store.record_answer(Answer(
            model=TEACHER_M, row_id=request.row_id, prompt_hash=request.prompt_hash, split="train", status="ok",
            gold=None if i == 0 else request.gold, messages=request.messages, content=text, label=parsed.label,
            valid=parsed.valid, finish_reason="stop", prompt_tokens=20, completion_tokens=8, cost_usd=0.0001))
    return workspace


def test_free_text_agreement_uses_the_task_comparison_and_the_first_grader(tmp_path) -> None:
    # Case and punctuation differ from the reference: the task's exact match says they agree.
    ws = _generation_ws(tmp_path, lambda i, gold: gold.upper().rstrip(".") if i % 2 else "Something else.")
    cur = Curation.from_workspace(ws)
    even = np.array([not a.content.isupper() for a in cur.answers])
    no_ref = np.array([a.gold is None for a in cur.answers])
    assert no_ref.sum() == 1 and (cur.agrees[no_ref] == -1).all()  # no reference: nothing to compare
    assert (cur.agrees[~even & ~no_ref] == 1).all() and (cur.agrees[even & ~no_ref] == 0).all()
    ws.close()


def test_free_text_agreement_follows_the_first_graders_pass_and_an_edit(tmp_path) -> None:
    graders = '\n[[graders]]\nname = "chrf"\ntype = "chrf"\nthreshold = 0.5\n'
    ws = _generation_ws(tmp_path, lambda i, gold: f"I'd say: {gold} Truly." if i % 2 else "Something else.",
                        graders)
    cur = Curation.from_workspace(ws)
    answer_scores.attach(ws, cur)
    close = np.array([a.content.startswith("I'd say") for a in cur.answers])
    ref = np.array([a.gold is not None for a in cur.answers])
    assert (cur.scores["chrf"][close & ref] >= 0.5).all()
    assert (cur.agrees[close & ref] == 1).all() and (cur.agrees[~close & ref] == 0).all()
    p = int(np.flatnonzero(~close & ref)[0])
    edits.edit(cur, int(cur.ids[p]), cur.answers[p].gold + " Indeed.", edits.parser(ws))
    assert cur.agrees[p] == 1
    ws.close()


def test_export_agrees_filter_reads_free_text_agreement_as_the_screen_does(tmp_path, capsys) -> None:
    graders = '\n[[graders]]\nname = "chrf"\ntype = "chrf"\nthreshold = 0.5\n'
    ws = _generation_ws(tmp_path, lambda i, gold: f"I'd say: {gold} Truly." if i % 2 else "Something else.",
                        graders)
    spec = str(ws.spec.source)
    ws.close()
    out = tmp_path / "agree.jsonl"
    assert main(["export", spec, "-o", str(out), "--json", "--filter", "agrees=yes"]) == 0, capsys.readouterr()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(line["messages"][-1]["content"].startswith("I'd say") for line in lines)
