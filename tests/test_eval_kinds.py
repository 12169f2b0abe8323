"""Evaluation of extraction and generation tasks (issue 14): the comparison has a number per model
before any grader exists (exact match against the reference, or the teacher's answers), and the
held-out rows API that graders read. Answers are fabricated in the store (no provider needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

from distill_tui.core.evaluate import comparison, heldout
from distill_tui.core.evaluate.comparison import BASE, TEACHER, EvalModel
from distill_tui.core.store.database import Answer
from distill_tui.core.task import kinds
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace


@pytest.fixture
def opened():
    """Open workspaces, closed after the test."""
    spaces: list[Workspace] = []

    def open_(path: Path) -> Workspace:
        spaces.append(Workspace.open(path))
        return spaces[-1]

    yield open_
    for ws in spaces:
        ws.close()

TEACHER_M, BASE_M = "offline-teacher", "offline-student"
SCHEMA = {"type": "object", "properties": {"grape": {"type": "string"}}, "required": ["grape"],
          "additionalProperties": False}


def qa_spec(folder: Path, **sections) -> Path:
    n = 40
    pd.DataFrame({
        "question": [f"Which grape for dish {i}?" for i in range(n)],
        "answer": [["Merlot pairs well.", "Syrah, peppery.", "Riesling with spice."][i % 3] for i in range(n)],
        "fields": [json.dumps({"grape": ["Merlot", "Syrah"][i % 2]}) for i in range(n)],
    }).to_csv(folder / "qa.csv", index=False)
    data = {"dataset": {"path": "qa.csv", "seed": 1, "eval_fraction": 0.25}, "prompt": {"user": "Q: {question}"},
            "teacher": {"model": TEACHER_M}, "student": {"model": BASE_M}, "provider": {"base_url": "offline"}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    path = folder / "spec.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def answer(ws: Workspace, model: str, texts: list[str | None]) -> None:
    """Save `texts[i]` as the answer of `model` to the i-th eval row (None: not answered)."""
    for request, text in zip(iter_requests(ws.spec, ws.data, model, "eval"), texts):
        if text is None:
            continue
        parsed = kinds.parse_answer(ws.spec, text, ws.data.labels, "stop")
        ws.store.record_answer(Answer(
            model=model, row_id=request.row_id, prompt_hash=request.prompt_hash, split="eval", status="ok",
            gold=request.gold, content=text, label=parsed.label, valid=parsed.valid, problem=parsed.problem,
            finish_reason="stop", prompt_tokens=20, completion_tokens=8, cost_usd=0.0001))


def golds(ws: Workspace) -> list[str | None]:
    return [r.gold for r in iter_requests(ws.spec, ws.data, TEACHER_M, "eval")]


def test_generation_is_scored_by_normalised_exact_match_against_the_reference(tmp_path, opened):
    ws = opened(qa_spec(tmp_path, dataset={"reference": "answer"}))
    refs = golds(ws)
    assert len(refs) == 10
    answer(ws, TEACHER_M, [r.upper() for r in refs])  # case differs: still the same answer
    answer(ws, BASE_M, [r.rstrip(".") if i < 4 else "Something else." for i, r in enumerate(refs)])
    table = comparison.build_table(ws, [EvalModel(TEACHER_M, TEACHER), EvalModel(BASE_M, BASE)])
    teacher, base = table.rows
    assert (teacher.n, teacher.correct, teacher.accuracy) == (10, 10, 1.0)
    assert (base.correct, base.accuracy, base.invalid) == (4, 0.4, 0)
    assert table.to_json()["kind"] == "generation" and table.to_json()["against"] == "reference"
    assert table.measure() == "accuracy: exact match (normalised) with the reference answer"
    assert table.details[BASE_M].n == 0  # no classes, no confusions


def test_without_references_the_teacher_is_the_target_and_the_table_says_so(tmp_path, opened):
    ws = opened(qa_spec(tmp_path))
    assert ws.spec.kind == "generation" and set(golds(ws)) == {None}
    answer(ws, TEACHER_M, [f"Answer {i}." for i in range(10)])
    answer(ws, BASE_M, [f"answer {i}" if i % 2 else "No idea." for i in range(10)])
    table = comparison.build_table(ws, [EvalModel(TEACHER_M, TEACHER), EvalModel(BASE_M, BASE)])
    teacher, base = table.rows
    assert teacher.accuracy is None and teacher.ci_low is None and teacher.n == 10
    assert (base.correct, base.accuracy) == (5, 0.5)
    assert table.against == "teacher" and "the teacher's answers are the targets" in table.measure()


def test_extraction_compares_json_by_value(tmp_path, opened):
    ws = opened(qa_spec(tmp_path, prompt={"schema": SCHEMA}, dataset={"reference": "fields"}))
    refs = golds(ws)
    spaced = [json.dumps(json.loads(r), indent=2) for r in refs]  # other spacing, same value
    answer(ws, BASE_M, spaced[:6] + ['{"grape": "Gamay"}'] * 3 + ['{"grape": 3}'])
    row = comparison.build_table(ws, [EvalModel(BASE_M, BASE)]).rows[0]
    assert (row.n, row.correct, row.invalid) == (10, 6, 1)


def test_the_held_out_rows_api_for_graders(tmp_path, opened):
    ws = opened(qa_spec(tmp_path, dataset={"reference": "answer"}))
    refs = golds(ws)
    answer(ws, TEACHER_M, refs)
    answer(ws, BASE_M, ["Merlot."] * 5 + [None] * 5)
    held = heldout.gather(ws, [TEACHER_M, BASE_M])
    assert [r.reference for r in held.rows] == refs and held.against == "reference"
    assert held.targets() == {r.row_id: r.reference for r in held.rows}
    answers = held.answers()
    assert len(answers[BASE_M]) == 5 and set(answers[BASE_M].values()) == {"Merlot."}
    assert answers[TEACHER_M] == held.targets()
    first = held.rows[0]
    assert first.teacher == refs[0] and first.answers[BASE_M] == "Merlot."


def test_collect_is_pure_and_marks_unusable_answers_none():
    saved = [Answer(model="m", row_id=1, prompt_hash="h", split="eval", status="ok", label="x", valid=False),
             Answer(model="m", row_id=2, prompt_hash="h", split="eval", status="failed"),
             Answer(model="t", row_id=1, prompt_hash="h", split="eval", status="ok", label="Merlot", valid=True)]
    held = heldout.collect("generation", {1: None, 2: None}, {"m": saved[:2], "t": saved[2:]}, "t")
    assert held.against == "teacher" and held.targets() == {1: "Merlot", 2: None}
    assert held.answers() == {"m": {1: None}, "t": {1: "Merlot"}}  # the failed row is absent


@pytest.mark.parametrize("a, b, same", [
    ("Pinot noir.", "pinot  NOIR", True), ("Ｍｅｒｌｏｔ", "merlot", True), ("Merlot", "Merlots", False),
])
def test_normalised_exact_match(a, b, same):
    assert heldout.same_answer("generation", a, b) is same


def test_cli_eval_of_a_generation_task_through_the_offline_provider(tmp_path, capsys):
    from distill_tui.cli import main

    spec = qa_spec(tmp_path, dataset={"reference": "answer"}, evaluate={"max_rows": 6})
    code = main(["eval", str(spec), "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["kind"] == "generation" and payload["against"] == "reference"
    assert payload["eval_rows"] == 6  # [evaluate] max_rows
    for model in payload["models"]:
        assert model["n"] == 6 and model["accuracy"] is not None and model["invalid"] == 0
    assert main(["eval", str(spec)]) == 0
    assert "accuracy: exact match (normalised) with the reference answer" in capsys.readouterr().out


def test_a_served_generation_student_is_said_to_answer_free_text(tmp_path):
    from types import SimpleNamespace

    from distill_tui.core.evaluate.serving import served_label
    from distill_tui.core.task.spec import load_spec

    for sections, said in (({"serve": {"engine": "light"}}, "light server, free text"),
                           ({"serve": {"engine": "vllm"}, "prompt": {"schema": SCHEMA}},
                            "vLLM, constrained to the schema by vLLM guided decoding")):
        spec = load_spec(qa_spec(tmp_path, **sections))
        assert served_label(SimpleNamespace(spec=spec)) == said
