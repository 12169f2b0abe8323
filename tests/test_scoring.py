"""The pure scoring layer: per model and grader, mean with its interval, pass rate, n and the
paired comparison with the base student."""

from __future__ import annotations

import pytest

from distill_tui.core.evaluate import stats
from distill_tui.core.evaluate.scoring import REFERENCE, TEACHER_ANSWERS, score_models
from distill_tui.core.task.graders_spec import GraderSpec, default_graders

EXACT = default_graders("classification")


def test_exact_over_labels_is_the_accuracy_and_mcnemar() -> None:
    gold = {1: "a", 2: "b", 3: "a", 4: "c", 5: "b", 6: "a", 7: "c"}
    answers = {
        "teacher": {1: "a", 2: "b", 3: "a", 4: "c", 5: "b", 6: "a", 7: "c"},
        "base": {1: "a", 2: None, 3: "b", 4: "b", 5: "b", 6: "c", 7: "c"},  # None: not a label
        "tuned": {1: "a", 2: "b", 3: "a", 4: "c", 5: "b", 6: "a"},  # row 7 failed: not in n
    }
    scores = score_models(EXACT, gold, answers, base="base")
    tuned = scores["tuned"]["exact"]
    assert (tuned.n, tuned.mean, tuned.pass_rate, tuned.against) == (6, 1.0, 1.0, REFERENCE)
    base = scores["base"]["exact"]
    assert base.mean == pytest.approx(3 / 7) and base.vs_base is None
    vs = tuned.vs_base
    # rows 1-6 in common: tuned right on all, base right on 1 and 5 → 4 wins, 0 losses.
    assert (vs.n, vs.wins, vs.losses, vs.test) == (6, 4, 0, "mcnemar")
    assert vs.diff == pytest.approx(4 / 6) and vs.pass_diff == pytest.approx(4 / 6)
    assert vs.p_value == stats.mcnemar_exact(4, 0) == 0.125
    assert not vs.significant and vs.verdict().startswith("not significant")


def test_without_references_the_teacher_is_the_target_and_not_scored() -> None:
    teacher = {1: "The capital is Paris.", 2: "Water boils at 100 °C."}
    answers = {"teacher": teacher, "student": {1: "the capital is paris", 2: "Water boils at 90 °C."}}
    scores = score_models(EXACT, teacher, answers, against=TEACHER_ANSWERS, target_model="teacher")
    assert "teacher" not in scores
    assert scores["student"]["exact"].against == TEACHER_ANSWERS
    assert scores["student"]["exact"].mean == 0.5


def test_json_fields_per_field_accuracy() -> None:
    refs = {1: {"grape": "Merlot", "year": 2019}, 2: {"grape": "Syrah", "year": 2020}}
    answers = {"m": {1: '{"grape": "merlot", "year": 2019}', 2: '{"grape": "Shiraz", "year": 2020}'}}
    score = score_models([GraderSpec("f", "json_fields", 1.0)], refs, answers)["m"]["f"]
    assert score.fields == {"grape": 0.5, "year": 1.0}
    assert score.mean == 0.75 and score.pass_rate == 0.5


def test_a_grader_that_fails_is_reported_not_raised() -> None:
    def refuse(model: str) -> object:
        raise RuntimeError("embeddings: 404")

    spec = [GraderSpec("e", "embedding", 0.8, model="emb"), *EXACT]
    scores = score_models(spec, {1: "x"}, {"m": {1: "x"}}, embedder=refuse, describe_error=lambda e: str(e))
    assert scores["m"]["e"].error == "embeddings: 404" and scores["m"]["e"].mean is None
    assert scores["m"]["exact"].mean == 1.0
    with pytest.raises(RuntimeError):
        score_models(spec, {1: "x"}, {"m": {1: "x"}}, embedder=refuse)


def test_to_json_keeps_p_values_whole() -> None:
    gold = {i: "a" for i in range(40)}
    answers = {"base": {i: "b" for i in range(40)}, "tuned": dict(gold)}
    data = score_models(EXACT, gold, answers, base="base")["tuned"]["exact"].to_json()
    assert set(data) >= {"mean", "ci_low", "ci_high", "pass_rate", "n", "vs_base"}
    assert set(data["vs_base"]) >= {"diff", "ci_low", "ci_high", "p_value", "significant"}
    assert data["vs_base"]["p_value"] == 2 / 2**40 and data["vs_base"]["significant"] is True


def test_without_references_graders_that_need_none_score_the_teacher_too() -> None:
    from distill_tui.core.evaluate.scoring import NO_TARGET

    teacher = {1: "Serve it at 12 °C.", 2: "Decant it for an hour."}
    answers = {"teacher": teacher, "student": {1: "Serve it cold.", 2: "Serve at 14 °C."}}
    graders = [*EXACT, GraderSpec("degrees", "regex", 1.0, pattern=r"\d+ °C"),
               GraderSpec("kind", "rubric", 0.75, model="judge", rubric="r", scale="pass_fail")]
    asked: list[tuple[str, dict]] = []

    def judge(grader, model, given, references):  # pass when the answer names a temperature
        asked.append((model, dict(references)))
        return {r: float("°C" in (text or "")) for r, text in given.items()}

    scores = score_models(graders, teacher, answers, base="student", against=TEACHER_ANSWERS,
                          target_model="teacher", judge=judge)
    assert set(scores["teacher"]) == {"degrees", "kind"}  # never exact match against its own answers
    own = scores["teacher"]["degrees"]
    assert (own.n, own.mean, own.against, own.vs_base) == (2, 0.5, NO_TARGET, None)
    assert scores["teacher"]["kind"].mean == 0.5
    assert ("teacher", {1: None, 2: None}) in asked  # the judge grades the teacher without a reference
    assert scores["student"]["degrees"].mean == 0.5 and scores["student"]["exact"].against == TEACHER_ANSWERS


def test_a_pairwise_pass_is_a_win_not_a_tie() -> None:
    from distill_tui.core.task.graders_spec import parse_graders

    [pref] = parse_graders([{"name": "pref", "type": "pairwise", "model": "judge", "opponent": "teacher"}],
                           "generation", "spec.toml")
    outcomes = {1: 1.0, 2: 0.5, 3: 0.5, 4: 0.0}  # a win, two ties, a loss

    def judge(grader, model, given, references):
        return {r: outcomes[r] for r in given}

    refs = dict.fromkeys(outcomes, "ref")
    [score] = score_models([pref], refs, {"tuned": dict.fromkeys(outcomes, "a")}, judge=judge)["tuned"].values()
    assert score.mean == 0.5 and score.pass_rate == 0.25 and score.threshold == 1.0
