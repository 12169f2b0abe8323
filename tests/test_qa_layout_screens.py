"""Text that has room is not cut, and counts and notes say what is true (QA findings on the Dataset,
Estimate, Curate and Jobs screens)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from distill_tui.core.curate.selection import Totals
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.app import DistillApp
from distill_tui.tui.widgets.curation_panes import distribution_text, totals_text
from tests.helpers import write_spec
from tests.settle import workers_done
from tests.test_jobs_dialog import visible_text
from tests.test_screen_jobs import UNREACHABLE, _open_jobs

LONG_MODEL = "ft:offline-student:offline:distill:PbpDVFKY"


async def wait_for(pilot, condition, timeout: float = 30.0) -> None:
    """Pause until `condition()` holds (workers done), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        await workers_done(pilot.app)
        await pilot.pause()
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the screen")
        await asyncio.sleep(0.02)


def text_of(widget) -> str:
    return str(widget.render())


# Estimate ------------------------------------------------------------------------------------


async def test_estimate_model_column_grows_with_the_terminal(tmp_path):
    app = DistillApp(Workspace.open(write_spec(tmp_path, rows=60)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        table = app.screen.query_one("#stages")
        await wait_for(pilot, lambda: table.row_count == 6)
        assert table.columns["model"].width == 13  # 80 columns: as before
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: table.columns["model"].width > 13)
        assert table.columns["model"].width >= len("offline-teacher")
        assert table.row_count == 6 and str(table.get_row_at(0)[1]) == "offline-teacher"


# Jobs ----------------------------------------------------------------------------------------


def _job(job_id: str, model: str | None = LONG_MODEL) -> JobRecord:
    return JobRecord(id=job_id, backend="offline", base_model="offline-student", status="succeeded",
                     fine_tuned_model=model, created_at=1_790_000_000.0)


def test_fit_columns_keeps_80_and_grows_id_model_and_fine_tuned():
    from distill_tui.tui.widgets.job_list import COLUMNS, fit_columns

    records = [(_job("ftjob-5JFFpqb1hSnNa87cFMHpshla"), False)]
    assert fit_columns(80, records) == COLUMNS
    wide = dict(fit_columns(120, records))
    assert sum(wide.values()) - sum(dict(COLUMNS).values()) == 40
    assert wide["id"] == len("5JFFpqb1hSnNa87cFMHpshla") and wide["model"] == len("offline-student")
    assert wide["status"] == dict(COLUMNS)["status"]
    # Room no value needs is left unused.
    assert dict(fit_columns(300, records))["fine-tuned"] == len(LONG_MODEL)


async def test_jobs_list_shows_whole_names_at_120_columns(tmp_path):
    ws = Workspace.open(write_spec(tmp_path, provider={"base_url": UNREACHABLE}))
    ws.store.save_job(_job("ftjob-5JFFpqb1hSnNa87cFMHpshla"))
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_jobs(pilot)
        options = app.screen.query_one("#jobs")
        assert "5JFFpqb1hSnN…" in str(options.get_option_at_index(0).prompt)
        await pilot.resize_terminal(120, 40)
        await wait_for(pilot, lambda: "5JFFpqb1hSnNa87cFMHpshla" in str(options.get_option_at_index(0).prompt))
        row = str(options.get_option_at_index(0).prompt)
        assert "offline-student " in row and LONG_MODEL[:36] in row and len(row) <= 120
        await pilot.resize_terminal(130, 40)
        await wait_for(pilot, lambda: LONG_MODEL in str(options.get_option_at_index(0).prompt))
        assert "fine-tuned" in text_of(app.screen.query_one("#job-list-header"))


async def test_jobs_without_a_job_say_so_whole_and_count_one_job(tmp_path):
    from distill_tui.tui.screens.jobs_messages import JobsListed

    ws = Workspace.open(write_spec(tmp_path, provider={"base_url": UNREACHABLE}))
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_jobs(pilot)
        screen = app.screen
        assert "No job selected. Press n to create one, a to attach one." in visible_text(screen.query_one("#job-model"))
        assert not screen.query_one("#job-overview").display
        screen.post_message(JobsListed([_job("ftjob-one")]))
        await wait_for(pilot, lambda: "here" in text_of(screen.query_one("#jobs-status")))
        assert "1 job here," in text_of(screen.query_one("#jobs-status"))
        assert screen.query_one("#job-overview").display


async def test_event_lines_wrap_instead_of_being_cut(tmp_path):
    ws = Workspace.open(write_spec(tmp_path, provider={"base_url": UNREACHABLE}))
    ws.store.save_job(_job("ftjob-events"))
    ws.store.save_events("ftjob-events", [
        {"id": "ev-1", "created_at": 1_790_000_000.0, "level": "info", "type": "message", "message": "Validating"},
        {"id": "ev-2", "created_at": 1_790_000_100.0, "level": "info", "type": "message",
         "message": f"New fine-tuned model created: {LONG_MODEL}"},
    ])
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_jobs(pilot)
        await pilot.press("t")
        log = app.screen.query_one("#job-events")
        await wait_for(pilot, lambda: LONG_MODEL in visible_text(log))
        await pilot.resize_terminal(120, 30)  # written again at the new width, whole on one line
        await wait_for(pilot, lambda: any(LONG_MODEL in strip.text for strip in log.lines))


# Dataset -------------------------------------------------------------------------------------


async def test_dataset_columns_tab_shows_whole_counts(demo_spec: Path):
    app = DistillApp(Workspace.open(demo_spec))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen._data is not None)
        await pilot.press("o")
        await wait_for(pilot, lambda: "600/600" in visible_text(screen.query_one("#columns-text")))


async def test_waiting_for_workers_survives_a_replaced_prompt_worker(demo_spec: Path):
    """Moving the cursor replaces the prompt worker (exclusive): the one it replaces is cancelled, and
    waiting for the screen's work must treat that as done (it raised WorkerCancelled: a flaky test)."""
    app = DistillApp(Workspace.open(demo_spec))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: screen._data is not None)
        for position in (1, 2, 3):
            screen.render_prompt(position)
        await wait_for(pilot, lambda: "row " in visible_text(screen.query_one("#prompt-text")))


async def test_an_edit_set_back_to_the_saved_value_is_not_unsaved(tmp_path):
    app = DistillApp(Workspace.open(write_spec(tmp_path, rows=60)))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        status = screen.query_one("#status")
        await wait_for(pilot, lambda: screen._data is not None)
        for seed, unsaved in (("8", True), ("7", False)):
            screen.query_one("#f-seed").value = seed
            screen.query_one("#f-seed").focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.workspace.spec.dataset.seed == int(seed) and "rows" in text_of(status))
            assert ("unsaved edits" in text_of(status)) is unsaved

        await pilot.press("2")
        estimate = app.screen
        status = estimate.query_one("#status")
        await wait_for(pilot, lambda: "prices as of" in text_of(status))
        for model, unsaved in (("offline-other", True), ("offline-teacher", False)):
            field = estimate.query_one("#f-teacher")
            field.value = model
            field.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.workspace.spec.teacher.model == model and "prices as of" in text_of(status))
            assert ("unsaved edits" in text_of(status)) is unsaved


# Curate --------------------------------------------------------------------------------------


def test_totals_say_selected_of_all_rows_when_nothing_is_filtered():
    totals = Totals(examples=370, shown=420, selected_shown=370, tokens=1000, epochs=3, cost_usd=1.0, leaked=0)
    line = str(totals_text(totals, rows=420))
    assert line.startswith("370 selected of 420 rows ·") and "shown" not in line
    filtered = Totals(examples=370, shown=69, selected_shown=65, tokens=1000, epochs=3, cost_usd=1.0, leaked=0)
    assert str(totals_text(filtered, rows=420)).startswith("370 selected · 69 shown, 65 of them selected ·")


def test_distribution_pane_says_it_counts_teacher_labels():
    assert str(distribution_text([("Bordeaux-style Red Blend", 65, 73)])).splitlines()[0].startswith("teacher label")


async def test_curate_totals_line_with_no_filter(tmp_path):
    from tests.test_curate import make_ws
    from tests.test_screen_curate import CurateApp

    ws = make_ws(tmp_path, rows=60)
    app = CurateApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.cur is not None)
        cur = app.screen.cur
        await pilot.press("space")
        await wait_for(pilot, lambda: "rows ·" in text_of(app.screen.query_one("#totals")))
        line = text_of(app.screen.query_one("#totals"))
        assert line.startswith(f"{cur.totals().examples} selected of {cur.n} rows ·")
    ws.close()

