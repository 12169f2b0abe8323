"""Pilot and snapshot tests of the Curate screen (80x24)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from distill_tui.core.curate.filters import Filters
from distill_tui.core.curate.selection import Curation
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui import app as app_module
from distill_tui.tui.app import DistillApp
from tests.helpers import write_spec
from tests.settle import workers_done
from tests.test_curate import fabricate, make_ws

SIZE = (80, 24)


class CurateApp(DistillApp):
    """The app opened on the Curate screen (the other screens are not loaded)."""

    DEFAULT_MODE = "curate"
    CSS_PATH = str(Path(app_module.__file__).parent / "app.tcss")


async def settle(pilot) -> None:
    await pilot.pause()
    await workers_done(pilot.app)
    await pilot.pause()


def failed_first(i, req, labels):
    if i == 0:
        return {"status": "failed", "label": None, "error": "500 from the provider"}
    if i % 4 == 1:
        return {"label": labels[(labels.index(req.gold) + 1) % len(labels)]}
    return None


@pytest.fixture
def ws(tmp_path: Path):
    workspace = make_ws(tmp_path, rows=60, answer=failed_first)
    yield workspace
    workspace.close()


def stored(app) -> Curation:
    """The curation as a fresh load from the store sees it (after the screen's writes land)."""
    app.screen.cur.flush(10)
    return Curation.from_workspace(app.workspace)


# Pilot ---------------------------------------------------------------------------------------
async def test_space_toggles_and_saves(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        first_ok = int(screen.cur.ids[1])
        await pilot.press("space")  # row 0 failed: cannot be selected
        assert "cannot be selected" in screen.status
        await pilot.press("down", "space")
        assert not stored(app).effective[screen.cur.pos[first_ok]]
        assert ws.store.selections() == {first_ok: False}
        await pilot.press("space")
        assert stored(app).effective[screen.cur.pos[first_ok]]


async def test_bulk_keys(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        cur = app.screen.cur
        await pilot.press("n")
        assert not stored(app).effective.any()
        await pilot.press("i")
        assert stored(app).effective.sum() == cur.selectable.sum()
        await pilot.press("down", "down", "space", "n", "m")  # m keeps the hand exclusion
        assert stored(app).effective.sum() == cur.selectable.sum() - 1
        await pilot.press("a")
        assert stored(app).effective.sum() == cur.selectable.sum()


async def test_range_select_with_v_and_shift(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", "down", "v", "down", "down", "down", "v")
        assert stored(app).effective.sum() == 4
        await pilot.press("down", "shift+down", "shift+down")  # from an unselected row: selects rows 5-7
        assert stored(app).effective.sum() == 7


async def test_a_range_from_a_selected_row_deselects(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        everything = int(app.screen.cur.effective.sum())
        await pilot.press("down", "v")
        assert "deselects" in str(app.screen.query_one("#filterbar").render())
        await pilot.press("down", "down", "v")
        assert stored(app).effective.sum() == everything - 3 and "deselected 3 rows" in app.screen.status
        await pilot.press("down", "shift+down", "shift+down")  # row 4 is selected: deselects 4-6
        assert stored(app).effective.sum() == everything - 6
        await pilot.press("v", "up", "up", "v")  # from a deselected row: selects again
        assert stored(app).effective.sum() == everything - 3


async def test_filter_keys_narrow_the_list_and_persist(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.table
        everything = len(table.view)
        await pilot.press("g")
        assert screen.cur.filters.agrees == "yes" and len(table.view) < everything
        await pilot.press("g")
        assert (screen.cur.agrees[table.view] == 0).all()
        await pilot.press("c", "x")
        assert screen.cur.filters.valid is False
        await pilot.press("c", "l")
        assert screen.cur.filters.labels == (sorted(ws.data.labels)[0],)
        await pilot.press("slash")
        await pilot.press(*"bacon", "enter")
        await settle(pilot)
        assert screen.cur.filters.text == "bacon"
        assert "filter: " in str(screen.query_one("#filterbar").render())
        assert stored(app).filters.text == "bacon"


async def test_filter_dialog_takes_expressions(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await pilot.press(*"agrees=no tokens=10..", "enter")
        await settle(pilot)
        assert app.screen.cur.filters == Filters(agrees="no", min_tokens=10)
        await pilot.press("f", "ctrl+u", *"colour=red", "enter")
        await settle(pilot)
        assert "colour=red" in app.screen.status and app.screen.cur.filters.agrees == "no"


async def test_cap_dialog_and_dedupe(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("b", "2", "enter")
        await settle(pilot)
        assert max(chosen for _, chosen, _ in app.screen.cur.distribution()) == 2
        assert stored(app).cap == 2
        await pilot.press("d")
        assert "dedupe" in app.screen.status
        await pilot.press("a")  # the cap shown as active holds for later changes
        assert max(chosen for _, chosen, _ in app.screen.cur.distribution()) == 2
        assert "cap 2/label deselected" in app.screen.status
        assert "cap 2/label" in str(app.screen.query_one("#totals").render())
        await pilot.press("r")
        await settle(pilot)
        assert max(chosen for _, chosen, _ in app.screen.cur.distribution()) == 2


async def test_unknown_label_in_the_filter_dialog_says_so(ws):
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f", *"label=merlot", "enter")
        await settle(pilot)
        assert "no gold label 'merlot'; did you mean Merlot?" in app.screen.status
        assert app.screen.cur.filters == Filters()


async def test_export_writes_after_the_report(ws, tmp_path, monkeypatch):
    from distill_tui.core.curate import export

    target = tmp_path / "out" / "a-folder-name-long-enough-to-need-shortening" / "curated.jsonl"
    monkeypatch.setattr(export, "default_path", lambda spec: target)
    notes: list[str] = []
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        from distill_tui.tui.widgets.curation_dialogs import ExportDialog

        assert isinstance(app.screen, ExportDialog)
        app.notify = lambda text, **kw: notes.append(text)
        await pilot.press("enter")
        await settle(pilot)
        bar = str(app.screen.query_one("#filterbar").render())
        assert target.exists() and target.name in app.screen.status and target.name in bar
        assert len(bar) <= SIZE[0] and ("…" in bar or str(target) in bar)
        assert any(str(target) in n for n in notes), "the notification has the whole path"
        lines = [json.loads(x) for x in target.read_text().splitlines()]
        assert len(lines) == app.screen.cur.totals().examples
        assert ws.store.exports()[0]["path"] == str(target.resolve())


async def test_finetune_key_opens_the_job_dialog_on_the_newest_export(ws, tmp_path, monkeypatch):
    from distill_tui.core.curate import export
    from distill_tui.tui.screens.jobs import JobsScreen
    from distill_tui.tui.widgets.job_dialogs import NewJobDialog

    monkeypatch.setattr(export, "default_path", lambda spec: tmp_path / "curated.jsonl")
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert app.current_mode == "curate", "nothing exported yet: stays, and says to export first"
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("t")
        for _ in range(40):
            await settle(pilot)
            if isinstance(app.screen, NewJobDialog):
                break
        assert app.current_mode == "jobs" and isinstance(app.screen, NewJobDialog)
        assert isinstance(app.screen_stack[0], JobsScreen)


async def test_rejected_export_writes_nothing(ws, tmp_path, monkeypatch):
    from distill_tui.core.curate import export

    target = tmp_path / "never.jsonl"
    monkeypatch.setattr(export, "default_path", lambda spec: target)
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n", "down", "space", "e")
        await settle(pilot)
        await pilot.press("enter", "escape")
        await settle(pilot)
        assert not target.exists() and "rejected" in app.screen.status


async def test_detail_shows_markup_like_text_literally(tmp_path):
    ws = Workspace.open(write_spec(tmp_path, rows=40))
    fabricate(ws, lambda i, r, labels: {"content": '{"variety": "[bold]Merlot[/]"}', "label": "[bold]Merlot[/]"}
              if i == 0 else None)
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        detail = str(app.screen.query_one("#detail").render())
        assert "[bold]Merlot[/]" in detail and "system:" in detail
        await pilot.press("enter")
        from distill_tui.tui.widgets.curation_dialogs import DetailDialog

        assert isinstance(app.screen, DetailDialog)
        await pilot.press("escape")


async def test_empty_state(tmp_path):
    app = CurateApp(Workspace.open(write_spec(tmp_path, rows=40)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-empty")
        assert "press 3" in str(app.screen.query_one("#empty").render())
        await pilot.press("space", "a")  # nothing to act on: no error


async def test_import_key_fetches_stored_completions(tmp_path, offline_server):
    tag = f"tui-{uuid.uuid4().hex[:8]}"
    ws = Workspace.open(write_spec(tmp_path, rows=40, provider={"base_url": offline_server.base_url}))
    client = ws.client()
    for req in list(iter_requests(ws.spec, ws.data, "offline-teacher", "train"))[:3]:
        client.chat.completions.create(**{**req.body, "store": True, "metadata": {"distillation": tag}})
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("I")
        await pilot.press("ctrl+u", *f"distillation={tag}", "enter")
        await settle(pilot)
        await settle(pilot)
        assert "imported 3 completions, skipped 0 of 3 read" in app.screen.status
        assert app.screen.cur.n == 3 and app.screen.cur.imported.all()


async def test_export_dialog_writes_a_stratified_validation_file(ws, tmp_path, monkeypatch):
    from distill_tui.core.curate import export
    from distill_tui.tui.widgets.curation_dialogs import ExportDialog

    target = tmp_path / "curated.jsonl"
    monkeypatch.setattr(export, "default_path", lambda spec: target)
    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportDialog)
        assert "no validation file" in str(app.screen.query_one("#export-validation").render())
        await pilot.press("tab", "ctrl+u", *"0.25")
        assert "curated-validation.jsonl" in str(app.screen.query_one("#export-validation").render())
        await pilot.press("enter")  # a new share: validated again, the dialog comes back
        await settle(pilot)
        assert isinstance(app.screen, ExportDialog) and not target.exists()
        report = str(app.screen.query_one("#report Static").render())
        assert "validation example" in report
        await pilot.press("enter")
        await settle(pilot)
        validation = tmp_path / "curated-validation.jsonl"
        train_n, val_n = (len(p.read_text().splitlines()) for p in (target, validation))
        assert train_n + val_n == app.screen.cur.totals().examples and val_n > 0
        assert ws.store.exports()[0]["validation_path"] == str(validation.resolve())


def test_parse_fraction():
    from distill_tui.tui.widgets.curation_dialogs import parse_fraction

    assert [parse_fraction(t) for t in ("", "0", "0.2", "15%", " 0.5 ")] == [0, 0, 0.2, 0.15, 0.5]
    assert all(parse_fraction(t) is None for t in ("1", "-0.1", "abc", "100%", "nan"))


def test_shorten_path(monkeypatch, tmp_path):
    from distill_tui.tui.widgets.curation_transfers import shorten_path

    monkeypatch.setenv("HOME", str(tmp_path))
    assert shorten_path(tmp_path / "a.jsonl", 40) == "~/a.jsonl"
    long = "/srv/" + "x" * 60 + "/exports/demo-20261121-153000.jsonl"
    short = shorten_path(long, 40)
    assert len(short) == 40 and short.endswith("/demo-20261121-153000.jsonl") and "…" in short
    assert len(shorten_path("/" + "y" * 90, 20)) == 20


async def test_footer_fits_80_columns(ws):
    from textual.widgets._footer import FooterKey

    app = CurateApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        keys = list(app.screen.query(FooterKey))
        assert {k.description for k in keys} >= {"Select", "All", "None", "Match", "Filter", "Export", "Tune",
                                                 "Help", "Screens"}
        assert all(k.region.right <= SIZE[0] and k.region.width > 0 for k in keys)


# snapshots -----------------------------------------------------------------------------------
def test_snapshot_list(ws, snap_compare):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("down", "down", "space", "down")
        await settle(pilot)

    assert snap_compare(CurateApp(ws), terminal_size=SIZE, run_before=run_before)


def test_snapshot_filtered_no_color(ws, snap_compare, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("g", "g", "space")
        await settle(pilot)

    assert snap_compare(CurateApp(ws), terminal_size=SIZE, run_before=run_before)


def test_snapshot_rejected_export_report(ws, snap_compare, monkeypatch):
    from distill_tui.core.curate import export

    monkeypatch.setattr(export, "default_path", lambda spec: Path("/home/user/exports/spec-20261121-153000.jsonl"))

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("n", "down", "space", "e")
        await settle(pilot)

    assert snap_compare(CurateApp(ws), terminal_size=SIZE, run_before=run_before)


def test_snapshot_export_dialog(ws, snap_compare, monkeypatch):
    from distill_tui.core.curate import export

    monkeypatch.setattr(export, "default_path", lambda spec: Path("/home/user/exports/spec-20261121-153000.jsonl"))

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("tab", "ctrl+u", *"0.2")

    assert snap_compare(CurateApp(ws), terminal_size=SIZE, run_before=run_before)


def test_snapshot_empty(tmp_path, snap_compare):
    async def run_before(pilot):
        await settle(pilot)

    app = CurateApp(Workspace.open(write_spec(tmp_path, rows=40)))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
