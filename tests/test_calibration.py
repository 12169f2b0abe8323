"""Calibration by a person (core/evaluate/calibration.py, core/store/human_grades.py): grades stored with
who and when, each grader's agreement with them (kappa for pass/fail, Spearman for 1-5), the JSON and the
CSV/JSONL exports."""

from __future__ import annotations

import csv
import json

import pytest

from distill_tui.core.common.errors import UserError
from distill_tui.core.evaluate import calibration
from distill_tui.core.evaluate.agreement import cohen_kappa, spearman
from distill_tui.core.store.human_grades import PASS_FAIL, SCORE, HumanGrade
from tests.test_evaluate import BASE_M, TEACHER_M, TUNED_M, eval_requests, fabricate, ws  # noqa: F401


def test_a_grade_outside_its_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="1-5"):
        HumanGrade("m", 1, "h", SCORE, 6)
    with pytest.raises(ValueError):
        HumanGrade("m", 1, "h", PASS_FAIL, 2)
    assert HumanGrade("m", 1, "h", SCORE, 4).shown == "4/5" and HumanGrade("m", 1, "h", PASS_FAIL, 0).shown == "fail"


def test_agreement_of_pools_pass_fail_and_scores_against_the_graders_verdicts() -> None:
    grades = [HumanGrade("a", r, "h", PASS_FAIL, g) for r, g in enumerate([1, 1, 0, 0, 1, 0])]
    grades += [HumanGrade("b", r, "h", SCORE, g) for r, g in enumerate([5, 4, 2, 1, 3])]
    scored = {("a", r): (float(p), bool(p)) for r, p in enumerate([1, 0, 0, 0, 1, 1])}
    scored |= {("b", r): (s, s >= 0.5) for r, s in enumerate([0.9, 0.8, 0.3, 0.1])}  # row 4 not scored
    got = calibration.agreement_of("g", grades, scored)
    assert got.kappa == cohen_kappa([1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 1, 1])
    assert got.spearman == spearman([5, 4, 2, 1, 3], [0.9, 0.8, 0.3, 0.1, None])
    assert got.kappa.n == 6 and got.spearman.n == 4 and got.spearman.invalid == 1
    lines = got.lines()
    assert lines[0].startswith("vs the person: g kappa 0.33") and "n 6 pass/fail grades" in lines[0]
    assert any(line.startswith("warning: g: judge agrees poorly with the person: kappa 0.33") for line in lines)
    assert "Spearman 1.00" in got.short() and "n 4" in got.short()


def _grade_some(ws, n: int = 8) -> list[HumanGrade]:  # noqa: F811
    hashes = {r.row_id: r.prompt_hash for r in eval_requests(ws)}
    rows = sorted(hashes)[:n]
    # The person fails the distilled student's first three answers (its wrong ones) and passes the rest.
    return [ws.store.save_human_grade(HumanGrade(TUNED_M, r, hashes[r], PASS_FAIL, int(i >= 3)))
            for i, r in enumerate(rows)]


def test_calibrate_the_exact_grader_on_saved_answers(ws) -> None:  # noqa: F811
    total = len(eval_requests(ws))
    fabricate(ws, TEACHER_M, ["right"] * total)
    fabricate(ws, BASE_M, ["right"] * total)
    fabricate(ws, TUNED_M, ["wrong"] * 3 + ["right"] * (total - 3))
    assert calibration.calibrate(ws) == {}  # nobody graded anything
    grades = _grade_some(ws)
    got = calibration.calibrate(ws)["exact"]
    assert got.kappa.value == pytest.approx(1.0) and got.kappa.n == 8 and got.spearman is None
    # n 8 is too few to lean on: the warning says so.
    assert got.lines()[-1] == "warning: exact: only 8 rows graded by a person: kappa 1.00 is uncertain (grade 30+)"
    # A grade of an answer to another prompt (the template changed) is kept but not counted.
    stale = HumanGrade(TUNED_M, grades[0].row_id + 10_000, "old-hash", PASS_FAIL, 1)
    ws.store.save_human_grade(stale)
    assert calibration.calibrate(ws)["exact"].kappa.n == 8
    payload = calibration.add_to_json({"models": [{"model": TUNED_M, "scores": {"exact": {"mean": 0.9}}}]},
                                      calibration.current_grades(ws), calibration.calibrate(ws))
    assert len(payload["human_grades"]) == 8 and payload["human_grades"][0]["grader"]
    assert payload["calibration"]["exact"]["kappa"]["n"] == 8
    assert payload["models"][0]["scores"]["exact"]["human_agreement"]["kappa"]["value"] == pytest.approx(1.0)
    assert payload["calibration"]["exact"]["by_model"][TUNED_M]["kappa"]["n"] == 8
    other = calibration.add_to_json({"models": [{"model": BASE_M, "scores": {"exact": {}}}]}, [], calibration.calibrate(ws))
    assert other["models"][0]["scores"]["exact"]["human_agreement"] is None  # none of its answers graded
    json.dumps(payload)


def test_the_table_exports_carry_the_agreement_with_the_person(ws, tmp_path) -> None:  # noqa: F811
    from distill_tui.core.evaluate import report
    from distill_tui.core.evaluate.comparison import build_table
    from tests.test_evaluate import three_models

    total = len(eval_requests(ws))
    fabricate(ws, TEACHER_M, ["right"] * total)
    fabricate(ws, BASE_M, ["right"] * total)
    fabricate(ws, TUNED_M, ["wrong"] * 3 + ["right"] * (total - 3))
    _grade_some(ws)
    table, agreements = build_table(ws, three_models()), calibration.calibrate(ws)
    md = report.export(table, tmp_path / "t.md", agreements=agreements).read_text(encoding="utf-8")
    lines = md.splitlines()
    tuned = next(i for i, line in enumerate(lines) if line.startswith(f"- {TUNED_M} · exact"))
    assert lines[tuned + 1] == "  - vs the person: kappa 1.00, n 8, uncertain"  # its own, under its line
    assert "- vs the person: exact kappa 1.00" in md and "- warning: exact: only 8 rows graded by a person" in md
    written = report.export(table, tmp_path / "t.csv", agreements=agreements)
    rows = {r["model"]: r for r in csv.DictReader(written.open(encoding="utf-8"))}
    assert (rows[TUNED_M]["exact_human_kappa"], rows[TUNED_M]["exact_human_kappa_n"]) == ("1.0", "8")
    assert rows[BASE_M]["exact_human_kappa"] == "" and rows[TUNED_M]["exact_human_spearman"] == ""
    assert "exact_human_kappa" not in report.csv_text(table)  # without grades: the columns as before


def test_export_csv_and_jsonl(ws, tmp_path) -> None:  # noqa: F811
    grades = _grade_some(ws, 3)
    out = calibration.export(grades, tmp_path / "grades.csv")
    rows = list(csv.DictReader(out.open()))
    assert [r["grade"] for r in rows] == ["0", "0", "0"] and rows[0]["model"] == TUNED_M and rows[0]["graded_at"]
    lines = calibration.export(grades, tmp_path / "out" / "grades.jsonl").read_text().splitlines()
    assert json.loads(lines[2])["scale"] == PASS_FAIL
    with pytest.raises(UserError, match=r"must be \.csv or \.jsonl"):
        calibration.export(grades, tmp_path / "grades.txt")


def test_cli_eval_reports_and_exports_the_persons_grades(tmp_path, offline_server, capsys) -> None:
    from distill_tui.cli import main
    from distill_tui.core.workspace.workspace import Workspace
    from tests.test_evaluate_run import spec_path

    spec = spec_path(tmp_path)
    base = ["--base-url", offline_server.base_url]
    assert main(["eval", str(spec), "--json", *base]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["human_grades"] == [] and payload["calibration"] == {}
    ws = Workspace.open(spec, base_url=offline_server.base_url)
    teacher = ws.spec.teacher.model
    gold = {r.row_id: r.gold for r in eval_requests(ws)}
    saved = {a.row_id: a for a in ws.store.answers(model=teacher, prompt_hashes={r.row_id: r.prompt_hash
                                                                                  for r in eval_requests(ws)})}
    rows = sorted(saved)[:6]
    for r in rows:  # the person agrees with exact match on every row
        ws.store.save_human_grade(HumanGrade(teacher, r, saved[r].prompt_hash, PASS_FAIL,
                                             int(saved[r].label == gold[r])))
    ws.close()
    out = tmp_path / "grades.jsonl"
    assert main(["eval", str(spec), "--json", *base, "--human-grades", str(out)]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert len(payload["human_grades"]) == 6 and payload["calibration"]["exact"]["kappa"]["n"] == 6
    agreement = payload["models"][0]["scores"]["exact"]["human_agreement"]
    assert agreement["warnings"] and "only 6 rows graded by a person" in " ".join(agreement["warnings"]) \
        or "not defined" in " ".join(agreement["warnings"])
    assert len(out.read_text().splitlines()) == 6 and "6 human grades written to" in captured.err
    assert main(["eval", str(spec), *base]) == 0
    text = capsys.readouterr().out
    assert "vs the person: exact kappa" in text and "n 6 pass/fail grades" in text and "warning: exact:" in text
    teacher_line = next(i for i, line in enumerate(text.splitlines()) if line.startswith(f"{teacher} · exact"))
    assert text.splitlines()[teacher_line + 1].startswith("  vs the person: kappa ")  # its own, under its line
    assert main(["eval", str(spec), *base, "--human-grades", str(tmp_path / "g.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must be .csv or .jsonl" in err[0]


def test_a_rubric_judge_is_calibrated_and_its_grades_show_row_by_row(tmp_path, offline_server) -> None:
    import shutil
    import tomllib

    import tomli_w

    from distill_tui import locations
    from distill_tui.core.evaluate import rows as per_row
    from distill_tui.core.evaluate.run import models_of_interest, run_evaluation
    from distill_tui.core.workspace.workspace import Workspace

    shutil.copyfile(locations.package_assets() / "generation.csv", tmp_path / "generation.csv")
    spec = tomllib.loads((locations.package_assets() / "generation.toml").read_text())
    spec["graders"] = [g for g in spec["graders"] if g["type"] != "rubric"]  # the demo's own judge
    spec["graders"].append({"name": "judge", "type": "rubric", "model": "offline-judge",
                            "rubric": "says what the reference says", "scale": "1-5"})
    spec["evaluate"] = {"max_rows": 10}
    (tmp_path / "qa.toml").write_text(tomli_w.dumps(spec))
    ws = Workspace.open(tmp_path / "qa.toml", base_url=offline_server.base_url)
    try:
        models = models_of_interest(ws)
        run_evaluation(ws, models)
        shown = per_row.load_rows(ws, models)
        judged = [(r.row_id, a) for r in shown for a in r.answers if "judge" in a.scores]
        assert len(judged) == 20  # every answer of both models, beside the local graders' scores
        assert all(set(a.scores) == {"chrf", "rouge_l", "judge"} for _, a in judged)
        # The person gives each answer the judge's own 1-5 grade, rounded one step down on half the rows.
        for i, (row, answer) in enumerate(judged):
            grade = round(answer.scores["judge"] * 4) + 1
            ws.store.save_human_grade(HumanGrade(answer.model, row, answer.prompt_hash, SCORE,
                                                 max(1, grade - (i % 2 and grade == 5))))
        got = calibration.calibrate(ws)
        assert got["judge"].spearman.n == 20 and got["judge"].spearman.value > 0.8
        assert got["judge"].kappa is None and got["chrf"].spearman.n == 20
        assert got["judge"].lines()[-1].startswith("warning: judge: only 20 rows graded by a person")
    finally:
        ws.close()


def test_no_grades_reads_no_prompts(ws, monkeypatch) -> None:  # noqa: F811
    from distill_tui.core.evaluate import heldout

    def boom(_ws):
        raise AssertionError("the eval rows' prompts were built with nothing graded")

    monkeypatch.setattr(heldout, "eval_rows", boom)
    assert calibration.current_grades(ws) == [] and calibration.calibrate(ws) == {}
