"""The per-row results browser opened from the Results screen: Pilot tests on its state and a snapshot
at 80x24 (answers fabricated, so every cell is the same on every run)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, Static
from textual.widgets._footer import FooterKey

from distill_tui.tui.app import DistillApp
from distill_tui.tui.widgets.results_rows import RowBrowser
from tests.settle import settle, workers_done
from tests.test_evaluate import TEACHER_M
from tests.test_screen_results import TUNED_M, make_workspace, open_results


async def open_rows(pilot) -> None:
    await open_results(pilot)
    await pilot.press("v")
    await pilot.pause()
    await workers_done(pilot.app)
    await settle(pilot)


def title(app: DistillApp) -> str:
    return str(app.screen.query_one("#rows-title", Static).render())


def detail(app: DistillApp) -> str:
    return str(app.screen.query_one("#row-text", Static).render())


async def test_v_opens_every_eval_row_with_each_models_answer_and_esc_goes_back(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_rows(pilot)
        screen = app.screen
        assert isinstance(screen, RowBrowser)
        total = screen._workspace.store.execute("SELECT COUNT(*) FROM answers WHERE model=?", (TUNED_M,))[0][0]
        table = screen.query_one("#rows", DataTable)
        assert table.row_count == len(screen.rows) == total
        assert [str(c.label) for c in table.columns.values()] == ["row", "reference", "teacher", "base", "distilled"]
        assert table.max_scroll_x == 0  # every column in view at 80 columns
        # Disagreement first: the distilled student's three mistakes lead.
        assert all(str(table.get_row_at(i)[4]).startswith("✗") for i in range(3))
        assert str(table.get_row_at(3)[4]).startswith("✓")
        first = screen.shown[0]
        assert f"row {first.row_id}" in detail(app) and first.prompt in detail(app)
        assert f"reference: {first.reference}" in detail(app)
        await pilot.press("down")
        await pilot.pause()
        assert f"row {screen.shown[1].row_id}" in detail(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.MODE == "results"


async def test_sort_filter_and_search_keys(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_rows(pilot)
        screen = app.screen
        await pilot.press("s")
        assert screen.sort == "row" and [r.row_id for r in screen.shown] == sorted(r.row_id for r in screen.rows)
        assert "sort: row" in title(app)
        await pilot.press("f", "f")
        assert screen.filter == "distilled wrong" and len(screen.shown) == 3
        assert title(app).startswith(f"3 of {len(screen.rows)} rows")
        assert screen.query_one("#rows", DataTable).row_count == 3
        for _ in range(3):
            await pilot.press("f")
        assert screen.filter == "all"
        wanted = screen.rows[5]
        await pilot.press("slash")
        field = screen.query_one("#row-search", Input)
        assert field.has_focus and field.display
        # s and f are typed into the search, not taken as keys.
        await pilot.press(*wanted.prompt[8:60].lower())
        assert screen.sort == "row" and screen.filter == "all"
        await pilot.press("enter")
        await pilot.pause()
        assert wanted.row_id in [r.row_id for r in screen.shown] and len(screen.shown) < len(screen.rows)
        assert not field.display and title(app).endswith(f"“{wanted.prompt[8:60].lower().strip()}”")
        await pilot.press("slash", "escape")  # Esc in the field clears the search and stays
        await pilot.pause()
        assert isinstance(app.screen, RowBrowser) and screen.search == "" and len(screen.shown) == len(screen.rows)


async def test_a_long_list_is_cut_to_its_first_rows(tmp_path: Path, monkeypatch) -> None:
    from distill_tui.tui.widgets import results_rows

    monkeypatch.setattr(results_rows, "LISTED", 5)
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_rows(pilot)
        screen = app.screen
        assert screen.query_one("#rows", DataTable).row_count == 5
        assert title(app).startswith(f"{len(screen.rows)} of {len(screen.rows)} rows · first 5 listed")
        await pilot.press("f", "f")  # the distilled student's 3 mistakes: all listed
        assert screen.query_one("#rows", DataTable).row_count == 3 and "listed" not in title(app)


async def test_footer_and_help_show_the_keys(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_rows(pilot)
        keys = list(app.screen.query(FooterKey))
        assert {"Back", "Sort", "Filter", "Search"} <= {k.description for k in keys}
        assert all(k.region.right <= 80 and k.region.width > 0 for k in keys)
        await pilot.press("question_mark")
        await pilot.pause()
        from textual.widgets import Markdown

        text = app.screen.query_one(Markdown).source
        assert "| s | Sort |" in text and "| / | Search |" in text and "disagreement" in text


async def test_results_footer_shows_v(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_results(pilot)
        keys = {k.description: k for k in app.screen.query(FooterKey)}
        assert "Rows" in keys and keys["Rows"].region.right <= 80


async def _rows(pilot) -> None:
    await open_rows(pilot)


def test_snapshot_result_rows(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(DistillApp(make_workspace(tmp_path)), terminal_size=(80, 24), run_before=_rows)


async def test_grading_by_key_is_saved_shown_and_kept_across_restarts(tmp_path: Path) -> None:
    from distill_tui.core.store.human_grades import PASS_FAIL, SCORE

    ws = make_workspace(tmp_path)
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_rows(pilot)
        screen = app.screen
        assert "0 graded (distilled)" in title(app)
        first, second = screen.shown[0], screen.shown[1]
        await pilot.press("n")  # the distilled student's answer to the first row fails; the cursor moves on
        await pilot.pause()
        assert f"row {second.row_id}" in detail(app)
        await pilot.press("4")
        await pilot.pause()
        assert "2 graded (distilled)" in title(app)
        await pilot.press("up")
        await pilot.pause()
        assert "person: 4/5" in detail(app)
        await pilot.press("m")  # the teacher is in focus now (models cycle): its answers are not graded
        await pilot.pause()
        assert "0 graded (teacher)" in title(app)
        await pilot.press("y")
        await pilot.pause()
    from distill_tui.core.store.database import Store

    again = Store(ws.store.path)  # the app closed its store: a new session reads the same grades
    saved = again.human_grades()
    again.close()
    by_model = {(g.model, g.row_id): (g.scale, g.grade) for g in saved.values()}
    assert by_model == {(TUNED_M, first.row_id): (PASS_FAIL, 0), (TUNED_M, second.row_id): (SCORE, 4),
                        (TEACHER_M, second.row_id): (PASS_FAIL, 1)}
    assert all(g.grader and g.graded_at > 0 and g.prompt_hash for g in saved.values())


async def test_backspace_removes_a_grade_and_sort_by_a_graders_score(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_rows(pilot)
        screen = app.screen
        assert screen.sorts[-1] == "score: exact"  # classification's default grader
        await pilot.press("5", "up", "backspace")
        await pilot.pause()
        assert "0 graded" in title(app) and "person:" not in detail(app)
        await pilot.press(*"s" * (len(screen.sorts) - 1))
        await pilot.pause()
        assert screen.sort == "score: exact" and "sort: score: exact" in title(app)
        scores = [r.answers[screen.focus_index].scores.get("exact") for r in screen.shown]
        assert scores[:3] == [0.0, 0.0, 0.0] and scores[3] == 1.0  # the distilled student's 3 mistakes first


async def test_help_lists_the_grading_keys(tmp_path: Path) -> None:
    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_rows(pilot)
        keys = {k.description: k for k in app.screen.query(FooterKey)}
        assert {"Grade", "Score", "Model", "Sample"} <= set(keys) and all(k.region.right <= 80 for k in keys.values())
        await pilot.press("question_mark")
        await pilot.pause()
        from textual.widgets import Markdown

        text = app.screen.query_one(Markdown).source
        assert "| y | grade the answer: pass |" in text and "| n | grade the answer: fail |" in text
        assert "| 3 | score the answer 3 of 5 |" in text
        assert "kappa" in text


async def test_g_walks_a_seeded_sample_and_counts_the_progress(tmp_path: Path) -> None:
    from distill_tui.core.evaluate.calibration import sample_rows

    app = DistillApp(make_workspace(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_rows(pilot)
        screen = app.screen
        await pilot.press("g")
        await pilot.pause()
        want = sample_rows([r.row_id for r in screen.rows], seed=screen._workspace.spec.dataset.seed)
        assert screen.sample == want and [r.row_id for r in screen.shown] == want and len(want) == 30
        assert title(app).startswith("sample: 0 of 30 graded (distilled)")
        await pilot.press("y", "y", "n")
        await pilot.pause()
        assert "3 of 30 graded" in title(app) and f"row {want[3]}" in detail(app)
        await pilot.press("g")  # every row again
        await pilot.pause()
        assert screen.sample is None and len(screen.shown) == len(screen.rows) and "3 graded" in title(app)
        await pilot.press("g")  # the same sample, the cursor on the first row not graded
        await pilot.pause()
        assert screen.sample == want and f"row {want[3]}" in detail(app)


def test_a_sample_is_the_same_for_the_same_seed() -> None:
    from distill_tui.core.evaluate.calibration import sample_rows

    assert sample_rows(range(100), seed=7) == sample_rows(list(reversed(range(100))), seed=7)
    assert sample_rows(range(100), seed=7) != sample_rows(range(100), seed=8)
    assert sorted(sample_rows(range(5))) == [0, 1, 2, 3, 4]


async def _sample(pilot) -> None:
    await open_rows(pilot)
    await pilot.press("g", "y", "4")
    await pilot.pause()


def test_snapshot_result_rows_sample(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(DistillApp(make_workspace(tmp_path)), terminal_size=(80, 24), run_before=_sample)


def test_help_of_the_row_browser_names_its_grading_keys_and_what_1_to_5_do_there() -> None:
    from distill_tui.tui.screens.dataset import DatasetScreen
    from distill_tui.tui.screens.help import help_markdown
    from distill_tui.tui.widgets.results_rows import RowBrowser

    text = help_markdown(RowBrowser)
    assert "| y | grade the answer: pass |" in text and "| n | grade the answer: fail |" in text
    assert "| 3 | score the answer 3 of 5 |" in text
    # The Everywhere table: 1-5 score here, they do not switch screens; 6 still does.
    assert "| 1 | Dataset screen (not here: score the answer 1 of 5) |" in text
    assert "| 6 | Results screen |" in text and "| 1 | Dataset screen |" not in text
    assert "| 1 | Dataset screen |" in help_markdown(DatasetScreen)
