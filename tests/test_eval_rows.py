"""The per-row view of an evaluation (core/evaluate/rows.py): answers, marks, disagreement order,
filters and search over fabricated answers."""

from __future__ import annotations

from distill_tui.core.evaluate import rows as per_row
from distill_tui.core.evaluate.comparison import BASE, TEACHER, EvalModel, build_table
from distill_tui.core.store.database import Answer
from distill_tui.core.workspace.workspace import Workspace
from tests.test_evaluate import BASE_M, TEACHER_M, TUNED_M, eval_requests, fabricate, three_models, ws  # noqa: F401


def _fabricate_three(ws: Workspace) -> int:
    total = len(eval_requests(ws))
    fabricate(ws, TEACHER_M, ["right"] * total)
    fabricate(ws, BASE_M, ["wrong", "right", "invalid", "failed"] + ["right"] * (total - 4))
    fabricate(ws, TUNED_M, ["right", "right", "right", "right", "wrong", None] + ["right"] * (total - 6))
    return total


def test_each_row_has_every_models_answer_and_mark(ws: Workspace) -> None:
    total = _fabricate_three(ws)
    rows = per_row.load_rows(ws, three_models())
    assert len(rows) == total
    first, invalid, failed, distilled_wrong, unasked = rows[0], rows[2], rows[3], rows[4], rows[5]
    assert [a.mark for a in first.answers] == ["✓", "✗", "✓"]
    assert first.reference == eval_requests(ws)[0].gold and first.prompt  # the user message, in full
    assert invalid.answers[1].text == '{"variety": "Cabernet Franc-ish"}' and not invalid.answers[1].valid
    assert failed.answers[1].mark == "!" and "boom" in failed.answers[1].error
    assert distilled_wrong.answers[2].mark == "✗" and unasked.answers[2].mark == "·"
    # The marks agree with the comparison table's counts.
    table = build_table(ws, three_models())
    for i, model in enumerate((TEACHER_M, BASE_M, TUNED_M)):
        assert sum(r.answers[i].correct is True for r in rows) == table.row(model).correct


def test_disagreement_order_puts_the_distilled_students_mistakes_first(ws: Workspace) -> None:
    _fabricate_three(ws)
    rows = per_row.load_rows(ws, three_models())
    ids = [r.row_id for r in rows]
    ordered = per_row.arrange(rows, "disagreement")
    # distilled wrong, then the rows where models disagree (base wrong, base invalid), then the rest in row order
    assert [r.row_id for r in ordered[:3]] == [ids[4], ids[0], ids[2]]
    assert [r.row_id for r in ordered[3:]] == sorted(r.row_id for r in ordered[3:])
    assert [r.row_id for r in per_row.arrange(rows, "row")] == ids
    by_reference = [r.reference for r in per_row.arrange(rows, "reference")]
    assert by_reference == sorted(by_reference, key=str.casefold)


def test_filters_and_search(ws: Workspace) -> None:
    _fabricate_three(ws)
    rows = per_row.load_rows(ws, three_models())
    ids = [r.row_id for r in rows]
    assert [r.row_id for r in per_row.arrange(rows, "row", "distilled wrong")] == [ids[4]]
    assert [r.row_id for r in per_row.arrange(rows, "row", "disagree")] == [ids[0], ids[2], ids[4]]
    assert per_row.arrange(rows, "row", "teacher wrong") == []
    assert per_row.counts(rows)["any wrong"] == 3
    assert [r.row_id for r in per_row.arrange(rows, "row", "all", "franc-ISH")] == [ids[2]]
    needle = rows[7].prompt[-30:]
    assert ids[7] in [r.row_id for r in per_row.arrange(rows, "row", "all", needle)]


def test_an_answer_to_an_older_prompt_is_not_this_rows_answer(ws: Workspace) -> None:
    request = eval_requests(ws)[0]
    ws.store.record_answer(Answer(model=TEACHER_M, row_id=request.row_id, prompt_hash="older", split="eval",
                                  status="ok", label=request.gold, valid=True))
    rows = per_row.load_rows(ws, three_models())
    assert rows[0].answers[0].mark == "·" and not rows[0].disagree


def test_a_judge_can_replace_exact_match(ws: Workspace) -> None:
    _fabricate_three(ws)
    rows = per_row.load_rows(ws, three_models(), judge=lambda answer, gold: None)
    assert all(a.correct is None for r in rows for a in r.answers)
    # The spec's first grader (classification's default: exact) still gives each answer its verdict.
    assert per_row.counts(rows)["any wrong"] == 3 and rows[0].answers[1].scores == {"exact": 0.0}


def test_generation_rows_carry_each_graders_score_against_the_reference(tmp_path) -> None:
    from tests.test_eval_kinds import BASE_M as QA_BASE, TEACHER_M as QA_TEACHER, answer, golds, qa_spec

    spec = qa_spec(tmp_path, dataset={"reference": "answer"})
    spec.write_text(spec.read_text() + '\n[[graders]]\nname = "chrf"\ntype = "chrf"\nthreshold = 0.5\n'
                    '\n[[graders]]\nname = "exact"\ntype = "exact"\n')
    ws = Workspace.open(spec)
    refs = golds(ws)
    answer(ws, QA_TEACHER, refs)
    answer(ws, QA_BASE, [r.lower() + " " if i < 4 else "Something else entirely." for i, r in enumerate(refs)])
    models = [EvalModel(QA_TEACHER, TEACHER), EvalModel(QA_BASE, BASE)]
    rows = per_row.load_rows(ws, models)
    first, later = rows[0], rows[5]
    assert first.reference == refs[0] and first.free_text
    assert first.answers[0].scores == {"chrf": 1.0, "exact": 1.0} and first.answers[0].mark == "✓"
    assert first.answers[1].correct  # exact match normalises case and spaces, as the table does
    assert later.answers[1].scores["chrf"] < 0.5 and later.answers[1].mark == "✗" and later.disagree
    ws.close()


def test_without_references_answers_are_judged_against_the_teacher(tmp_path) -> None:
    from tests.test_eval_kinds import BASE_M as QA_BASE, TEACHER_M as QA_TEACHER, answer, qa_spec

    ws = Workspace.open(qa_spec(tmp_path))
    n = len(eval_requests(ws))
    answer(ws, QA_TEACHER, [f"Answer {i}." for i in range(n)])
    answer(ws, QA_BASE, [f"answer {i}" if i % 2 else "No idea." for i in range(n)])
    rows = per_row.load_rows(ws, [EvalModel(QA_TEACHER, TEACHER), EvalModel(QA_BASE, BASE)])
    assert all(r.reference is None for r in rows)
    assert {r.answers[0].mark for r in rows} == {"?"}  # the teacher is the target, not judged
    assert [r.answers[1].correct for r in rows[:4]] == [False, True, False, True]
    ws.close()


def test_among_equal_rows_the_distilled_students_lowest_score_comes_first() -> None:
    from distill_tui.core.evaluate.comparison import DISTILLED

    def row(row_id: int, score: float) -> per_row.RowView:
        answer = per_row.ModelAnswer("ft:x", DISTILLED, per_row.OK, text="t", passed=False, scores={"chrf": score})
        return per_row.RowView(row_id, "ref", (), (answer,), free_text=True)

    rows = [row(1, 0.4), row(2, 0.1), row(3, 0.3)]
    assert [r.row_id for r in per_row.arrange(rows, "disagreement")] == [2, 3, 1]
