"""Pairwise judges (core/evaluate/pairwise_judging.py, `[[graders]] type = "pairwise"`): both orders,
ties on disagreement, the flip rate, and eval end to end against the offline judge with and without
position bias."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w

from distill_tui import locations
from distill_tui.core.common.errors import SpecError
from distill_tui.core.evaluate import pairwise_judging as pj
from distill_tui.core.evaluate.agreement import FIRST, SECOND
from distill_tui.core.evaluate.report import score_line
from distill_tui.core.task.graders_spec import GraderSpec, parse_graders
from distill_tui.core.workspace.workspace import Workspace
from tests.conftest_offline import running

PREF = GraderSpec("pref", "pairwise", 1.0, model="offline-judge", opponent="teacher")  # a pass is a win


def test_spec_pairwise_defaults_and_bad_input() -> None:
    [grader] = parse_graders([{"name": "pref", "type": "pairwise", "model": "offline-judge"}], "generation", "s.toml")
    assert grader == PREF and grader.to_toml()["opponent"] == "teacher"
    with pytest.raises(SpecError, match='opponent must be "teacher" or "base"'):
        parse_graders([{"type": "pairwise", "model": "j", "opponent": "distilled"}], "generation", "s.toml")
    with pytest.raises(SpecError, match="needs model = the judge model"):
        parse_graders([{"type": "pairwise"}], "generation", "s.toml")


def test_plan_asks_both_orders_and_decides_the_obvious_rows() -> None:
    answers = {"teacher": {1: "Merlot", 2: "Syrah", 3: "Gamay", 4: None},
               "base": {1: "Malbec", 2: "Syrah", 3: None, 4: "Gamay"},
               "tuned": {1: "Malbec"}}
    planned = pj.plan(PREF, {r: f"q{r}" for r in range(1, 5)}, {r: None for r in range(1, 5)}, answers, "teacher")
    # Row 1 is asked in both orders once, though two models gave the same answer.
    assert len(planned.requests) == 2
    first, second = (r.messages[1]["content"] for r in planned.requests)
    assert "<answer_1>Malbec</answer_1>\n<answer_2>Merlot</answer_2>" in first
    assert "<answer_1>Merlot</answer_1>\n<answer_2>Malbec</answer_2>" in second
    assert planned.asks[("base", 1)] == planned.asks[("tuned", 1)]
    assert (planned.asks[("base", 2)], planned.asks[("base", 3)], planned.asks[("base", 4)]) == ("tie", "loss", "win")
    assert ("teacher", 1) not in planned.asks


def test_scores_and_summaries_from_verdicts() -> None:
    answers = {"teacher": {r: f"t{r}" for r in range(4)}, "base": {r: f"b{r}" for r in range(4)}}
    planned = pj.plan(PREF, {r: "q" for r in range(4)}, {}, answers, "teacher")
    found = {("base", 0): (FIRST, SECOND),   # base first and preferred, then teacher first and base preferred: win
             ("base", 1): (SECOND, FIRST),   # the teacher preferred both times: loss
             ("base", 2): (FIRST, FIRST),    # always the first shown: a flip, a tie
             ("base", 3): (None, FIRST)}     # no verdict: invalid
    assert pj.row_scores(planned, found, "base") == {0: 1.0, 1: 0.0, 2: 0.5, 3: None}
    summary = pj.summaries(planned, found)["base"]
    assert (summary.n, summary.invalid, summary.win.count, summary.tie.count, summary.flip.count) == (3, 1, 1, 1, 1)


def _spec(folder: Path, **grader: object) -> Path:
    shutil.copyfile(locations.package_assets() / "generation.csv", folder / "generation.csv")
    spec = tomllib.loads((locations.package_assets() / "generation.toml").read_text())
    spec["graders"] = [{"name": "pref", "type": "pairwise", "model": "offline-judge", **grader}]
    spec["evaluate"] = {"max_rows": 16}
    (folder / "qa.toml").write_text(tomli_w.dumps(spec))
    return folder / "qa.toml"


def _eval(spec: Path, url: str) -> tuple[dict, list]:
    from distill_tui.core.evaluate.comparison import build_table
    from distill_tui.core.evaluate.run import models_of_interest, run_evaluation

    ws = Workspace.open(spec, base_url=url)
    try:
        models = models_of_interest(ws)
        run = run_evaluation(ws, models)
        table = build_table(ws, models)
        return {r.model: r.scores["pref"] for r in table.rows}, run.judges
    finally:
        ws.close()


def test_eval_pairwise_against_the_teacher_without_bias(tmp_path: Path, offline_server) -> None:
    scores, judges = _eval(_spec(tmp_path), offline_server.base_url)
    assert judges[0].failed == 0 and judges[0].ok > 0
    base = scores["offline-student"]
    pair = base.pairwise
    assert pair["opponent"] == "offline-teacher" and pair["n"] == base.n == 16
    assert pair["flip_rate"] == 0.0  # the judge's method does not look at the order
    assert pair["loss_rate"] > pair["win_rate"]  # the base student knows less than the teacher
    assert base.mean == pytest.approx(pair["win_rate"] + pair["tie_rate"] / 2)
    assert {"win_rate", "tie_rate", "loss_rate", "flip_rate", "win_ci_low", "flip_ci_high"} <= set(pair)
    assert scores["offline-teacher"].n == 0 and scores["offline-teacher"].pairwise is None  # not against itself
    line = score_line("offline-teacher", scores["offline-teacher"])  # eval and the Results screen say why
    assert "opponent" in line and "no answer" not in line
    entry = base.to_json()  # eval --json: the rates beside mean and n, the details under "pairwise"
    assert entry["flip_rate"] == 0.0 and entry["win_rate"] == pair["win_rate"] and entry["pairwise"]["n"] == 16


def test_eval_pairwise_with_position_bias_shows_flips_as_ties(tmp_path: Path) -> None:
    with running(judge_position_bias=0.5) as server:
        scores, _ = _eval(_spec(tmp_path, opponent="teacher"), server.base_url)
    pair = scores["offline-student"].pairwise
    assert pair["flip_rate"] > 0.1 and pair["flip_ci_low"] > 0
    assert pair["ties"] >= pair["flips"]  # every flip is a tie, never a win or a loss


def test_pairwise_needs_two_models(tmp_path: Path, offline_server) -> None:
    from distill_tui.core.evaluate.judges import run_judges

    ws = Workspace.open(_spec(tmp_path), base_url=offline_server.base_url)
    try:
        [judged] = run_judges(ws, ["offline-teacher"])
        assert judged.asked == 0 and "compares two models' answers" in judged.note
    finally:
        ws.close()
    assert json.dumps(judged.note)  # one line, no traceback
