"""The Results screen: the evaluation shows a judge's progress ('judging NAME: N of M'), coalesced like the
models' progress; the summary carries the near-duplicate leak line eval prints; the export carries the
graders' agreement with the person."""

from __future__ import annotations

import threading
from pathlib import Path

from textual.widgets import Static

from distill_tui.core.evaluate import judging
from distill_tui.core.evaluate import run as eval_run
from distill_tui.tui.app import DistillApp
from tests.test_screen_jobs import _wait_for
from tests.test_screen_results import make_workspace, open_results


async def test_the_evaluation_shows_the_judges_progress(tmp_path: Path, monkeypatch) -> None:
    release = threading.Event()

    def evaluation(ws, models, *, on_judge_progress=None, **_):
        for done in range(4):  # many snapshots in a burst: the screen keeps the newest
            on_judge_progress(judging.JudgeProgress("judge", done, 0, 10, 0.001 * done))
        release.wait(20)
        return eval_run.EvalRun()

    monkeypatch.setattr(eval_run, "run_evaluation", evaluation)
    app = DistillApp(make_workspace(tmp_path))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_results(pilot)
            await pilot.press("r")
            status = app.screen.query_one("#status", Static)
            await _wait_for(pilot, lambda: "judging judge: 3 of 10" in str(status.render()))
            release.set()
            await _wait_for(pilot, lambda: not app.screen.running)
    finally:
        release.set()


async def test_the_summary_warns_of_eval_rows_that_nearly_repeat_a_train_row(tmp_path: Path) -> None:
    from distill_tui.core.evaluate.near_leak import near_leaks

    ws = make_workspace(tmp_path)
    expected = near_leaks(ws).line()  # the fabricated notes share most words: eval prints this line too
    assert expected and expected.startswith("WARNING: ")
    app = DistillApp(ws)
    async with app.run_test(size=(120, 24)) as pilot:
        await open_results(pilot)
        summary = app.screen.query_one("#summary", Static)
        assert str(summary.render()).startswith(expected) and summary.has_class("warning")


async def test_the_export_carries_the_agreement_with_the_person(tmp_path: Path) -> None:
    from textual.widgets import Input

    from distill_tui.core.store.human_grades import PASS_FAIL, HumanGrade
    from tests.test_evaluate import eval_requests
    from tests.test_screen_results import TUNED_M

    ws = make_workspace(tmp_path)
    for i, request in enumerate(sorted(eval_requests(ws), key=lambda r: r.row_id)[:6]):
        ws.store.save_human_grade(HumanGrade(TUNED_M, request.row_id, request.prompt_hash, PASS_FAIL, int(i >= 3)))
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        screen = app.screen
        await pilot.press("e")
        await pilot.pause()
        target = tmp_path / "out" / "table.md"
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.click("#export")
        await pilot.pause()
        assert screen.last_export == target
        text = target.read_text(encoding="utf-8")
        assert "  - vs the person: kappa " in text and "- vs the person: exact kappa " in text
