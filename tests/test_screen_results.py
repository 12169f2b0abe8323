"""The Results screen: Pilot tests on its state and snapshots at 80x24 (answers are fabricated with
fixed latencies and tokens, so every number is the same on every run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static
from textual.widgets._footer import FooterKey

from distill_tui.core.evaluate.comparison import NO_PRICE
from distill_tui.core.evaluate.run import CHECKPOINTS_SETTING, EXTRAS_SETTING, saved_extras
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.app import DistillApp
from tests.helpers import LABELS, write_dataset, write_spec
from tests.settle import workers_done
from tests.test_evaluate import BASE_M, TEACHER_M, eval_requests, fabricate

TUNED_M = "ft:offline-student:wine-demo:abc123"
ELSEWHERE_M = "ft:gpt-4o-mini-2024-07-18:acme::xyz"
OPENAI = "https://api.openai.com/v1"


def make_workspace(folder: Path, *, tuned: bool = True, failed_extra: bool = False, blocked: bool = False) -> Workspace:
    """Teacher, base and (`tuned`) a distilled student with answers; `failed_extra`: an extra model
    whose every request failed; `blocked`: a budget, an extra model with no price and a job of
    another provider."""
    ws = Workspace.open(write_spec(folder, **({"generation": {"budget_usd": 5.0}} if blocked else {})))
    total = len(eval_requests(ws))
    fabricate(ws, TEACHER_M, ["right"] * (total - 2) + ["wrong"] * 2, latency=0.8, prompt_tokens=120)
    fabricate(ws, BASE_M, ["wrong"] * 10 + ["invalid"] * 2 + ["right"] * (total - 12), latency=0.3)
    if tuned:
        ws.store.save_job(JobRecord(id="ftjob-1", backend="openai", base_model=BASE_M, status="succeeded",
                                    fine_tuned_model=TUNED_M, created_at=1.0))
        fabricate(ws, TUNED_M, ["wrong"] * 3 + ["right"] * (total - 3), latency=0.35)
    if failed_extra:
        ws.store.set_setting("results.extra_models", ["gpt-broken"])
        fabricate(ws, "gpt-broken", ["failed"] * total)
    if blocked:
        ws.store.set_setting(EXTRAS_SETTING, ["gpt-nothing"])
        ws.store.save_job(JobRecord(id="ftjob-away", backend="openai", base_model=BASE_M, status="succeeded",
                                    fine_tuned_model=ELSEWHERE_M, created_at=2.0, data={"base_url": OPENAI}))
    return ws


async def open_results(pilot) -> None:
    # Let the first screen finish loading, then wait until the Results screen's own workers are done.
    await pilot.pause()
    await workers_done(pilot.app)
    await pilot.press("6")
    for _ in range(3):
        await pilot.pause()
        await workers_done(pilot.app)
    await pilot.pause()


def cells(app: DistillApp, model: str) -> list[str]:
    table = app.screen.query_one("#models", DataTable)
    return [str(c) for c in table.get_row(model)]


async def test_table_state(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path, failed_extra=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        screen = app.screen
        assert screen.MODE == "results"
        table = screen.query_one("#models", DataTable)
        assert [k.value for k in table.rows] == [TEACHER_M, BASE_M, TUNED_M, "gpt-broken"]
        tuned = screen._table.row(TUNED_M)
        assert tuned.role == "distilled" and tuned.status == "ok" and tuned.p_value_vs_base is not None
        assert cells(app, "gpt-broken")[3] == "FAILED"
        assert cells(app, BASE_M)[5] == "–"  # no p-value against itself
        # The newest distilled model is highlighted and its detail shown.
        assert screen._selected == TUNED_M
        assert "no fine-tuned model yet" not in str(screen.query_one("#summary", Static).render())


async def test_roles_read_as_in_the_json_and_the_key_columns_fit_80(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        assert [cells(app, m)[1] for m in (TEACHER_M, BASE_M, TUNED_M)] == ["teacher", "base student", "distilled"]
        table = app.screen.query_one("#models", DataTable)
        shown = [c.get_render_width(table) for c in table.columns.values()]
        # model, role, n, accuracy, CI, p vs base and cost / 1k are in view without scrolling
        assert sum(shown[:7]) <= table.scrollable_content_region.width, shown


async def test_highlight_and_detail_modes(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        screen = app.screen
        await pilot.press("up")
        await pilot.pause()
        assert screen._selected == BASE_M
        per_class = screen.query_one("#per-class", DataTable)
        assert per_class.row_count == len(screen.workspace.data.labels)
        await pilot.press("c")
        await pilot.pause()
        assert screen._detail_mode == "matrix"
        assert screen.query_one("#matrix", DataTable).row_count == len(screen.workspace.data.labels)
        await pilot.press("c")
        assert screen._detail_mode == "scores"
        await pilot.press("c")
        assert screen._detail_mode == "hidden"
        await pilot.press("c")
        assert screen._detail_mode == "classes"


async def test_empty_state_before_any_fine_tune(tmp_path: Path) -> None:
    ws = Workspace.open(write_spec(tmp_path))
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        screen = app.screen
        summary = str(screen.query_one("#summary", Static).render())
        assert "no fine-tuned model yet: press 5 for jobs" in summary
        assert [r.status for r in screen._table.rows] == ["not run", "not run"]
        assert "press r to run" in str(screen.query_one("#status", Static).render())


async def test_add_remove_model_and_checkpoints(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        await pilot.press("m")
        await pilot.pause()
        app.screen.query_one("#model-name", Input).value = "gpt-4.1-mini"
        await pilot.press("enter")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        screen = app.screen
        assert saved_extras(screen.workspace) == ["gpt-4.1-mini"]
        assert screen._table.row("gpt-4.1-mini").status == "not run"
        table = screen.query_one("#models", DataTable)
        table.move_cursor(row=table.get_row_index("gpt-4.1-mini"))
        await pilot.pause()
        await pilot.press("d")
        await workers_done(app)
        await pilot.pause()
        assert saved_extras(screen.workspace) == []
        assert screen._table.row("gpt-4.1-mini") is None

        screen.workspace.store.save_checkpoints("ftjob-1", [{"id": "cp-1", "step": 8, "model_name": TUNED_M + ":ckpt-step-8"}])
        await pilot.press("k")
        await workers_done(app)
        await pilot.pause()
        assert screen.workspace.store.setting(CHECKPOINTS_SETTING) is True
        assert screen._table.row(TUNED_M + ":ckpt-step-8").role == "checkpoint"


async def test_export_dialog(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        screen = app.screen
        await pilot.press("e")
        await pilot.pause()
        modal = app.screen
        default = modal.query_one("#path", Input).value
        assert default.endswith(".md") and "exports" in default
        await pilot.click("#fmt-csv")
        await pilot.pause()
        assert modal.query_one("#path", Input).value == default[:-3] + ".csv"
        target = tmp_path / "out" / "table.csv"
        modal.query_one("#path", Input).value = str(target)
        await pilot.click("#export")
        await pilot.pause()
        assert screen.last_export == target
        assert target.read_text(encoding="utf-8").startswith("model,role,status,eval_rows,n,correct,accuracy")
        assert str(target) in str(screen.query_one("#status", Static).render())


async def test_unpriced_model_and_other_provider_say_why(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path, blocked=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        screen = app.screen
        assert screen._table.row("gpt-nothing").reason == NO_PRICE
        assert screen._table.row(ELSEWHERE_M) is None  # never asked on this provider
        status = str(screen.query_one("#status", Static).render())
        assert f"gpt-nothing: not run: {NO_PRICE}" in status
        assert f"{ELSEWHERE_M} was trained on another provider ({OPENAI}); evaluate it there with --base-url" in status
        assert "press r" not in status  # r would not ask it
        assert "no fine-tuned model yet" not in str(screen.query_one("#summary", Static).render())
        table = screen.query_one("#models", DataTable)
        table.move_cursor(row=table.get_row_index("gpt-nothing"))
        await pilot.pause()
        pane = str(screen.query_one("#no-detail", Static).render())
        assert "NOT RUN" in pane and NO_PRICE in pane and "press r" not in pane


async def test_no_reload_without_changes(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        screen = app.screen
        shown = screen._table
        for keys in (["1", "6"], ["question_mark", "escape"], ["m", "escape"], ["e", "escape"]):
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
            await workers_done(app)
            await pilot.pause()
            assert app.screen is screen and screen._table is shown, keys
        # New answers (e.g. from the CLI meanwhile) are shown on the next visit.
        fabricate(screen.workspace, "gpt-4.1-mini", ["right"])
        screen.workspace.store.set_setting(EXTRAS_SETTING, ["gpt-4.1-mini"])
        await pilot.press("1")
        await open_results(pilot)
        assert screen._table is not shown and screen._table.row("gpt-4.1-mini").n == 1


async def test_footer_fits_80_columns(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        keys = list(app.screen.query(FooterKey))
        assert {"Help", "Screens"} <= {k.description for k in keys}
        assert all(k.region.right <= 80 and k.region.width > 0 for k in keys)


async def test_per_class_columns_are_not_cut(tmp_path: Path) -> None:
    labels = LABELS + ["Bordeaux-style Red Blend", "Rhône-style White Blend", "Cabernet Sauvignon", "Champagne Blend"]
    write_dataset(tmp_path / "data.csv", rows=4800, labels=labels)  # 100 eval rows a label
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        per_class = app.screen.query_one("#per-class", DataTable)
        assert per_class.row_count == len(labels)
        assert per_class.max_scroll_x == 0  # every column, f1 included, is whole


@pytest.fixture
def snap_workspace(tmp_path: Path):
    def make(**kw) -> Workspace:
        return make_workspace(tmp_path, **kw)

    return make


async def _results(pilot) -> None:
    await open_results(pilot)


async def _results_matrix(pilot) -> None:
    await open_results(pilot)
    await pilot.press("c")
    await pilot.pause()


def test_snapshot_results(snap_compare, snap_workspace) -> None:
    assert snap_compare(DistillApp(snap_workspace()), terminal_size=(80, 24), run_before=_results)


def test_snapshot_results_matrix(snap_compare, snap_workspace) -> None:
    assert snap_compare(DistillApp(snap_workspace()), terminal_size=(80, 24), run_before=_results_matrix)


def test_snapshot_results_before_fine_tune(snap_compare, tmp_path: Path) -> None:
    ws = Workspace.open(write_spec(tmp_path))
    assert snap_compare(DistillApp(ws), terminal_size=(80, 24), run_before=_results)


def test_snapshot_results_no_color_failed(snap_compare, snap_workspace, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(DistillApp(snap_workspace(failed_extra=True)), terminal_size=(80, 24), run_before=_results)


def test_snapshot_results_blocked(snap_compare, snap_workspace) -> None:
    assert snap_compare(DistillApp(snap_workspace(blocked=True)), terminal_size=(80, 24), run_before=_results)


async def test_students_served_here_say_how_under_the_table(tmp_path: Path) -> None:
    """A local job's base and distilled students are served here: the note the CLI and `eval --json`
    give (which server, how answers were constrained) is under the table too."""
    ws = Workspace.open(write_spec(tmp_path, student={"model": str(tmp_path / "base")}, serve={"engine": "light"}))
    ws.store.save_job(JobRecord(id="local-20261203-120000-ab12", backend="local", base_model=str(tmp_path / "base"),
                                status="succeeded", fine_tuned_model=str(tmp_path / "job" / "adapter")))
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        status = str(app.screen.query_one("#status", Static).render()).replace("\n", " ")
        assert "served here (light server, constrained to the labels by likelihood): base student, distilled" in status
        assert "press r to run" in status  # the note is beside the others, not instead of them
    ws = Workspace.open(ws.spec.source)
    ws.store.save_job(JobRecord(id="local-20261203-130000-cd34", backend="local", base_model=str(tmp_path / "base"),
                                status="succeeded", fine_tuned_model=str(tmp_path / "job2" / "adapter"),
                                created_at=2.0))
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        status = str(app.screen.query_one("#status", Static).render()).replace("\n", " ")
        assert "likelihood): base student, 2 distilled students" in status  # not "2 distilleds"
        # Adapter paths differ at their ends: the model column keeps those ("/tmp/…b12/adapter" read alike).
        assert cells(app, str(tmp_path / "job2" / "adapter"))[0] == "…" + str(tmp_path / "job2" / "adapter")[-20:]


async def test_the_status_says_the_students_server_is_starting(tmp_path: Path, offline_server) -> None:
    """Starting the students' server sends no progress (vLLM loads a model for minutes): the status says
    it is starting instead of showing the teacher's last progress line all that time."""
    import threading

    from distill_tui.core.common.errors import WorkFailed
    from distill_tui.core.evaluate import serving
    from tests.test_screen_jobs import _wait_for as wait_until

    release = threading.Event()

    def start(request):
        release.wait(20)
        raise WorkFailed("the light server stopped before serving")

    serving.use_serving_starter(start)
    spec = write_spec(tmp_path, student={"model": str(tmp_path / "base")}, provider={"base_url": offline_server.base_url})
    ws = Workspace.open(spec)
    ws.store.save_job(JobRecord(id="local-20261203-120000-ab12", backend="local", base_model=str(tmp_path / "base"),
                                status="succeeded", fine_tuned_model=str(tmp_path / "job" / "adapter")))
    app = DistillApp(ws)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await open_results(pilot)
            await pilot.press("r")
            status = app.screen.query_one("#status", Static)
            await wait_until(pilot, lambda: "starting the students' server" in str(status.render()))
            assert "[2/3]" in str(status.render()) and "(light server)" in str(status.render())
            release.set()
            await wait_until(pilot, lambda: not app.screen.running)
    finally:
        release.set()
        serving.use_serving_starter(None)


def score_pane(app: DistillApp) -> str:
    return str(app.screen.query_one("#score-lines", Static).render())


async def _results_scores(pilot) -> None:
    await open_results(pilot)
    await pilot.press("c", "c")
    await pilot.pause()
    await workers_done(pilot.app)
    await pilot.pause()


async def test_scores_pane_shows_every_models_score_lines_as_the_cli(tmp_path: Path) -> None:
    from distill_tui.core.evaluate import report

    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await _results_scores(pilot)
        screen = app.screen
        assert screen._detail_mode == "scores" and not screen.query_one("ClassDetail").display
        text = " ".join(score_pane(app).split())
        tuned = screen._table.row(TUNED_M)
        line = report.score_line("ft:offline-stu…ine-demo:abc123", tuned.scores["exact"])
        assert " ".join(line.split()) in text and "vs base" in line
        assert "better, p = " in text  # the distilled student's 3 wrong against the base student's 12
        assert "No answer graded by a person yet" in text


async def test_scores_pane_shows_the_agreement_with_the_person_after_grading(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await _results_scores(pilot)
        await pilot.press("v")
        await pilot.pause()
        await workers_done(pilot.app)
        await pilot.pause()
        await pilot.press("n", "n", "n", "y", "y", "n")  # the 3 mistakes fail; then 2 right pass, 1 right fails
        await pilot.press("escape")
        await pilot.pause()
        await workers_done(pilot.app)
        await pilot.pause()
        text = " ".join(score_pane(app).split())
        assert "vs the person: exact kappa 0.67 (" in text and "n 6 pass/fail grades" in text
        # Under the distilled student's own line, its answers' agreement (the only ones graded here).
        assert "n 32; vs base +0.281 (+0.118 to +0.444), better, p = 0.0039 vs the person: kappa 0.67, n 6, uncertain" in text
        assert "warning: exact: only 6 rows graded by a person: kappa 0.67 is uncertain (grade 30+)" in text


def test_snapshot_results_scores(snap_compare, snap_workspace) -> None:
    assert snap_compare(DistillApp(snap_workspace()), terminal_size=(80, 24), run_before=_results_scores)


async def test_a_generation_task_starts_on_the_scores(tmp_path: Path) -> None:
    from tests.test_eval_kinds import BASE_M as QA_BASE, TEACHER_M as QA_TEACHER, answer, golds, qa_spec

    ws = Workspace.open(qa_spec(tmp_path, dataset={"reference": "answer"}))
    refs = golds(ws)
    answer(ws, QA_TEACHER, refs)
    answer(ws, QA_BASE, ["Something else entirely."] * len(refs))
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        await workers_done(pilot.app)
        await pilot.pause()
        assert app.screen._detail_mode == "scores" and app.screen.query_one("ScorePane").display
        text = " ".join(score_pane(app).split())
        assert "offline-teacher · chrf 1.000" in text or f"{QA_TEACHER} · chrf 1.000" in text
