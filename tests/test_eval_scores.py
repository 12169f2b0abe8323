"""Grader scores in the comparison table: `models[].scores` in `eval --json`, one line per grader in
the reports, and the exact grader over classification labels agreeing with the accuracy column."""

from __future__ import annotations

import csv
import io
import json

import pytest

from distill_tui.core.evaluate import comparison as evaluate
from distill_tui.core.evaluate import report
from distill_tui.core.task.graders_spec import GraderSpec
from tests.test_evaluate import BASE_M, TEACHER_M, TUNED_M, eval_requests, fabricate, three_models, ws  # noqa: F401


def test_exact_over_labels_agrees_with_accuracy(ws) -> None:  # noqa: F811
    total = len(eval_requests(ws))
    rest = ["right"] * (total - 12)
    fabricate(ws, TEACHER_M, ["right"] * 12 + rest)
    fabricate(ws, BASE_M, ["wrong"] * 5 + ["invalid"] * 2 + ["right"] * 3 + ["failed", None] + rest)
    fabricate(ws, TUNED_M, ["right"] * 6 + ["wrong"] + ["invalid"] + ["right"] * 4 + rest)
    table = evaluate.build_table(ws, three_models())
    for row in table.rows:
        exact = row.scores["exact"]
        assert (exact.n, exact.against) == (row.n, "reference")
        assert exact.mean == pytest.approx(row.accuracy) and exact.pass_rate == pytest.approx(row.accuracy)
    tuned, base = table.row(TUNED_M), table.row(BASE_M)
    vs = tuned.scores["exact"].vs_base
    assert (vs.n, vs.wins, vs.losses) == (tuned.paired_n, tuned.wins_vs_base, tuned.losses_vs_base)
    assert vs.p_value == tuned.p_value_vs_base and vs.test == "mcnemar"
    assert base.scores["exact"].vs_base is None


def test_scores_in_json_and_reports(ws) -> None:  # noqa: F811
    ws.spec.graders = [GraderSpec("exact", "exact", 1.0), GraderSpec("close", "fuzzy", 0.9)]
    total = len(eval_requests(ws))
    fabricate(ws, TEACHER_M, ["right"] * total)
    fabricate(ws, BASE_M, ["right"] * (total - 2) + ["wrong"] * 2)
    fabricate(ws, TUNED_M, ["right"] * total)
    table = evaluate.build_table(ws, three_models())
    data = json.loads(report.json_text(table))
    tuned = next(m for m in data["models"] if m["model"] == TUNED_M)
    assert set(tuned["scores"]) == {"exact", "close"}
    exact = tuned["scores"]["exact"]
    assert {"mean", "ci_low", "ci_high", "pass_rate", "n", "vs_base"} <= set(exact)
    assert {"diff", "ci_low", "ci_high", "p_value", "significant"} <= set(exact["vs_base"])
    assert exact["vs_base"]["p_value"] == 0.5 and exact["vs_base"]["significant"] is False
    lines = report.score_lines(table)
    assert len(lines) == 1 + 3 * 2  # a header, then a line per model per grader
    tuned_exact = next(line for line in lines if line.startswith(f"{TUNED_M} · exact"))
    assert f"; vs base {2 / total:+.3f} (+0.000 to " in tuned_exact  # 2 rows only the tuned model got right
    assert tuned_exact.endswith("not significant, p = 0.5")  # McNemar 2 · P(X ≤ 0), X ~ Bin(2, ½)
    assert f"pass 100% at 1, n {total}" in tuned_exact
    markdown = report.markdown(table)
    assert "## Scores" in markdown and f"- {TUNED_M} · close 1.000 (1.000–1.000)" in markdown
    rows = list(csv.DictReader(io.StringIO(report.csv_text(table))))
    tuned_csv = next(r for r in rows if r["model"] == TUNED_M)
    assert tuned_csv["close_mean"] == "1.0" and tuned_csv["exact_p_value_vs_base"] == "0.5"
    assert next(r for r in rows if r["model"] == BASE_M)["exact_diff_vs_base"] == ""


def test_embeddings_are_asked_once_across_table_rebuilds(ws, monkeypatch) -> None:  # noqa: F811
    from types import SimpleNamespace

    calls: list[list[str]] = []

    def create(model: str, input: list[str]) -> SimpleNamespace:
        calls.append(list(input))
        return SimpleNamespace(data=[SimpleNamespace(index=i, embedding=[1.0, float(len(t))]) for i, t in enumerate(input)])

    class Client:  # weakly referable, as openai.OpenAI is
        embeddings = SimpleNamespace(create=create)

    client = Client()
    monkeypatch.setattr(type(ws), "client", lambda self: client)
    ws.spec.graders = [GraderSpec("near", "embedding", 0.8, model="emb")]
    total = len(eval_requests(ws))
    fabricate(ws, BASE_M, ["right"] * total)
    first = evaluate.build_table(ws, three_models()).row(BASE_M).scores["near"]
    asked = sum(len(c) for c in calls)
    again = evaluate.build_table(ws, three_models()).row(BASE_M).scores["near"]
    assert first.mean == again.mean == 1.0 and asked > 0
    assert sum(len(c) for c in calls) == asked  # the second table asked nothing


def test_generation_scores_against_the_reference_and_without_one(tmp_path) -> None:
    from distill_tui.core.evaluate.comparison import BASE, TEACHER, EvalModel
    from distill_tui.core.workspace.workspace import Workspace
    from tests.test_eval_kinds import BASE_M as STUDENT, TEACHER_M as TEACHER_Q, answer, golds, qa_spec

    models = [EvalModel(TEACHER_Q, TEACHER), EvalModel(STUDENT, BASE)]
    (tmp_path / "a").mkdir()
    ws = Workspace.open(qa_spec(tmp_path / "a", dataset={"reference": "answer"}))
    try:
        refs = golds(ws)
        answer(ws, TEACHER_Q, refs)
        answer(ws, STUDENT, ["No idea." if i % 2 else r for i, r in enumerate(refs)])
        table = evaluate.build_table(ws, models)
        teacher, base = (table.row(m).scores for m in (TEACHER_Q, STUDENT))
        assert set(teacher) == {"chrf", "rouge_l"} and teacher["chrf"].against == "reference"
        assert teacher["chrf"].mean == 1.0 and teacher["rouge_l"].pass_rate == 1.0
        assert base["chrf"].mean < 0.6 and base["chrf"].n == len(refs)
        assert teacher["chrf"].vs_base.diff == pytest.approx(1.0 - base["chrf"].mean)
    finally:
        ws.close()

    (tmp_path / "b").mkdir()
    ws = Workspace.open(qa_spec(tmp_path / "b"))  # no reference column: the teacher's answers are the targets
    try:
        texts = [f"Answer number {i}." for i in range(len(golds(ws)))]
        answer(ws, TEACHER_Q, texts)
        answer(ws, STUDENT, texts[:5] + ["Wrong."] * (len(texts) - 5))
        table = evaluate.build_table(ws, models)
        assert table.row(TEACHER_Q).scores == {}  # not graded against itself
        chrf = table.row(STUDENT).scores["chrf"]
        assert chrf.against == "teacher" and chrf.pass_rate == pytest.approx(5 / len(texts))
        assert "against the teacher's answers" in report.score_lines(table)[0]
        assert json.loads(report.json_text(table))["models"][0]["scores"] == {}
    finally:
        ws.close()


def test_extraction_scores_per_field(tmp_path) -> None:
    from distill_tui.core.evaluate.comparison import BASE, TEACHER, EvalModel
    from distill_tui.core.workspace.workspace import Workspace
    from tests.test_eval_kinds import BASE_M as STUDENT, SCHEMA, TEACHER_M as TEACHER_Q, answer, golds, qa_spec

    ws = Workspace.open(qa_spec(tmp_path, task={"kind": "extraction"}, dataset={"reference": "fields"},
                                prompt={"schema": SCHEMA}))
    try:
        refs = golds(ws)
        answer(ws, TEACHER_Q, refs)
        answer(ws, STUDENT, ['{"grape": "Merlot"}'] * len(refs))  # right on the Merlot rows only
        table = evaluate.build_table(ws, [EvalModel(TEACHER_Q, TEACHER), EvalModel(STUDENT, BASE)])
        fields = table.row(STUDENT).scores["json_fields"]
        merlot = sum(json.loads(r)["grape"] == "Merlot" for r in refs) / len(refs)
        assert fields.fields == {"grape": pytest.approx(merlot)} and fields.mean == pytest.approx(merlot)
        assert table.row(TEACHER_Q).scores["json_fields"].fields == {"grape": 1.0}
    finally:
        ws.close()
