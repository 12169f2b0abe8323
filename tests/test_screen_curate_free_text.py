"""The Curate screen's free-text tools: the refusal filter, the order, editing an answer in place and
putting in the gold label (Pilot tests and a snapshot of the edit dialog at 80x24)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import TextArea

from distill_tui.core.curate.selection import Curation
from distill_tui.tui.widgets.answer_edit_dialog import EditAnswerDialog
from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
from distill_tui.tui.widgets.curation_table import row_status
from tests.test_curate import make_ws
from tests.test_screen_curate import SIZE, CurateApp, settle


def answers(i, req, labels):
    if i == 2:
        return {"label": None, "content": "I'm sorry, but I can't help with that.", "valid": False}
    if i == 4:
        return {"content": json.dumps({"variety": req.gold, "note": "long " * 30})}
    if i % 4 == 1:
        return {"label": labels[(labels.index(req.gold) + 1) % len(labels)]}
    return None


@pytest.fixture
def ws(tmp_path: Path):
    workspace = make_ws(tmp_path, rows=60, answer=answers)
    yield workspace
    workspace.close()


def fresh(app) -> Curation:
    app.screen.cur.flush(10)
    return Curation.from_workspace(app.workspace)


async def test_u_shows_refusals_and_s_orders_by_length(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("u")
        assert screen.cur.filters.refusal is True and len(screen.table.view) == 1
        p = int(screen.table.view[0])
        assert row_status(screen.cur, p) == "refusal" and "refusal" in screen.status
        await pilot.press("u")
        assert screen.cur.filters.refusal is False and len(screen.table.view) == screen.cur.n - 1
        await pilot.press("u", "s")
        assert screen.cur.filters.sort == "long" and "longest" in screen.status
        assert "long long" in screen.cur.answers[int(screen.table.view[0])].content
        await pilot.press("s")
        assert screen.cur.filters.sort == "short"
        # The spec's grader (classification's default: exact against the gold label) scores the answers.
        assert set(screen.cur.scores) == {"exact"}
        await pilot.press("s")
        assert screen.cur.filters.sort == "score" and "highest score" in screen.status
        assert screen.cur.scores["exact"][int(screen.table.view[0])] == 1.0
        assert "exact 1.00" in str(screen.query_one("#detail").render())
        await pilot.press("s", "s")
        assert screen.cur.filters.sort == ""
        assert fresh(app).filters == screen.cur.filters


async def test_e_edits_the_answer_in_place_and_keeps_the_original(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("down")
        row = screen.table.current_row()
        before = screen.cur.answers[screen.cur.pos[row]]
        other = next(label for label in ws.data.labels if label != before.gold)
        await pilot.press("E")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, EditAnswerDialog) and dialog.query_one(TextArea).text == before.content
        dialog.query_one(TextArea).text = json.dumps({"variety": other})
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen and "answer edited" in screen.status
        p = screen.cur.pos[row]
        assert screen.cur.answers[p].label == other and row_status(screen.cur, p) == "edited"
        assert "teacher's original (kept, not exported)" in str(screen.query_one("#detail").render())
        assert fresh(app).answers[p].label == other
        # E again shows the original and ctrl+r puts it back.
        await pilot.press("E")
        await pilot.pause()
        assert "teacher's original" in str(app.screen.query_one("#original").render())
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.cur.answers[p].content == before.content and not fresh(app).edited.any()
        # Escape cancels without a change.
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("x", "escape")
        await pilot.pause()
        assert app.screen is screen and not ws.store.edits()
        # Saved without a change: no edit, and the status says so (it said "answer edited").
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "unchanged" in screen.status and "edited" not in screen.status and not ws.store.edits()


async def test_g_puts_the_gold_label_in_after_asking(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        wrong = int((screen.cur.agrees == 0).sum())
        invalid_refusal = 1
        await pilot.press("G")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await pilot.pause()
        assert not ws.store.edits()
        await pilot.press("G")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert len(ws.store.edits()) == wrong + invalid_refusal
        assert not (fresh(app).agrees == 0).any() and "gold label put in" in screen.status
        await pilot.press("G")
        await pilot.pause()
        assert app.screen is screen and "no teacher answer shown disagrees" in screen.status


async def test_help_lists_the_new_keys(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        from textual.widgets import Markdown

        text = app.screen.query_one(Markdown).source
        for key in ("| u |", "| s |", "| E |", "| G |", "| D |", "**D** deselects near-duplicate"):
            assert key in text, key
        await pilot.press("escape", "f")
        await pilot.pause()
        hint = str(app.screen.query(".hint").first().render())
        assert "Near-duplicates: D on the list" in hint


def test_snapshot_edit_dialog(ws, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down", "E")
        await pilot.pause()

    assert snap_compare(CurateApp(ws), terminal_size=SIZE, run_before=run_before)


async def test_a_long_totals_line_ends_in_an_ellipsis_at_80_columns(ws):
    from dataclasses import replace

    from distill_tui.tui.widgets.curation_panes import totals_text

    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        totals = replace(screen.cur.totals(), leaked=6)  # '· 6 held out for eval, never exported' at the end
        screen.query_one("#totals").update(totals_text(totals, 5, None))
        await pilot.pause()
        line = "".join(s.text for s in screen.query_one("#totals").render_line(0)).rstrip()
        # It wrapped into the one-cell-high bar, cut after 'for eval,' with nothing to say so.
        assert line.endswith("…"), line


async def test_a_long_status_ends_in_an_ellipsis_at_80_columns(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        screen._changed("row 0: an answer cannot be empty (to leave the row out, deselect it) " + "and more " * 5)
        await pilot.pause()
        line = "".join(s.text for s in screen.query_one("#filterbar").render_line(0)).rstrip()
        assert line.endswith("…"), line  # it wrapped into the one-line bar, cut mid-sentence


def _sentences(i, req, labels):
    return {"content": f"This one is {req.gold}, " + "plainly " * (i % 9) + "so.", "valid": True}


async def test_free_text_pane_counts_answers_by_length_and_l_says_it_is_for_labels(tmp_path):
    from tests.test_near_curation import FREE_TEXT

    workspace = make_ws(tmp_path, rows=60, answer=_sentences, **FREE_TEXT)
    try:
        app = CurateApp(workspace)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            pane = str(screen.query_one("#dist").render())
            assert pane.startswith("teacher answers") and "teacher label" not in pane
            assert "1-5 words" in pane and "6-10 words" in pane and "11-20 words" in pane
            assert "This one is" not in pane  # not one line per distinct answer
            before = screen.cur.filters
            await pilot.press("l")
            assert screen.cur.filters == before and "classification only" in screen.status
    finally:
        workspace.close()
