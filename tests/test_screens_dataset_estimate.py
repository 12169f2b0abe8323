"""Pilot and snapshot tests of the Dataset and Estimate screens (and the help screen)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill_tui.core.task.spec import load_spec
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.app import DistillApp
from tests.helpers import write_spec
from tests.settle import workers_done


def _app(folder: Path, **sections) -> DistillApp:
    return DistillApp(Workspace.open(write_spec(folder, rows=60, **sections)))


async def _settle(pilot, app) -> None:
    await pilot.pause()
    await workers_done(app)
    await pilot.pause()


async def test_dataset_screen_shows_rows_and_prompt(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        from textual_fastdatatable import DataTable

        table = app.screen.query_one("#rows", DataTable)
        assert table.row_count == 60
        await pilot.press("down", "down")
        await _settle(pilot, app)
        prompt = str(app.screen.query_one("#prompt-text").render())
        assert "prompt tokens" in prompt and "user:" in prompt


async def test_dataset_filter_edit_applies_and_saves(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        await pilot.press("f")
        field = app.screen.query_one("#f-filter")
        field.value = "country == 'France'"
        await pilot.press("enter")
        await _settle(pilot, app)
        assert app.workspace.spec.dataset.filter == "country == 'France'"
        assert app.screen.query_one("#rows").row_count == 48
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert load_spec(tmp_path / "spec.toml").dataset.filter == "country == 'France'"


async def test_dataset_bad_filter_is_one_line_and_keeps_the_spec(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        await pilot.press("f")
        app.screen.query_one("#f-filter").value = "country =="
        await pilot.press("enter")
        await _settle(pilot, app)
        status = app.screen.query_one("#status")
        assert status.has_class("error")
        assert app.workspace.spec.dataset.filter is None
        field = app.screen.query_one("#f-filter")
        assert field.value == "country ==" and field.has_class("-rejected"), "the refused text stays to be fixed"
        await pilot.press("escape")
        assert field.value == "" and not field.has_class("-rejected"), "Esc puts back what is applied"


async def test_dataset_filter_typo_lists_the_columns_and_stays_editable(tmp_path):
    app = _app(tmp_path, dataset={"filter": "points > 0"})
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        field = app.screen.query_one("#f-filter")
        field.value = "contry == 'France'"
        field.focus()
        await pilot.press("enter")
        await _settle(pilot, app)
        status = " ".join(str(app.screen.query_one("#status").render()).split())
        assert "no column 'contry' (did you mean 'country'? columns: id, country, description" in status
        assert app.workspace.spec.dataset.filter == "points > 0"
        assert field.value == "contry == 'France'" and field.has_class("-rejected")
        field.value = "country == 'France'"
        field.focus()
        await pilot.press("enter")
        await _settle(pilot, app)
        assert app.workspace.spec.dataset.filter == "country == 'France'"
        assert app.screen.query_one("#rows").row_count == 48 and not field.has_class("-rejected")


async def test_dataset_filter_that_would_run_code_is_refused_with_the_allowed_forms(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        field = app.screen.query_one("#f-filter")
        field.value = "@frame.to_csv('pwned.csv') == None"
        field.focus()
        await pilot.press("enter")
        await _settle(pilot, app)
        status = " ".join(str(app.screen.query_one("#status").render()).split())
        assert "'@' (local variables) at column 1 is not allowed" in status and "isna(col)" in status
        assert app.workspace.spec.dataset.filter is None and field.value.startswith("@frame")
    assert not (tmp_path / "pwned.csv").exists() and not Path("pwned.csv").exists()


async def test_dataset_refused_edit_then_another_edit_applies_what_is_shown(tmp_path):
    app = _app(tmp_path, dataset={"filter": "country == 'France'"})
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        app.screen.query_one("#f-filter").value = "points > 1000"
        app.screen.query_one("#f-filter").focus()
        await pilot.press("enter")
        await _settle(pilot, app)
        assert app.screen.query_one("#status").has_class("error")
        assert app.screen.query_one("#f-filter").value == "country == 'France'"
        app.screen.query_one("#f-seed").value = "8"
        app.screen.query_one("#f-seed").focus()
        await pilot.press("enter")
        await _settle(pilot, app)
        assert app.workspace.spec.dataset.seed == 8
        assert app.workspace.spec.dataset.filter == "country == 'France'"
        assert app.screen.query_one("#rows").row_count == 48


async def test_estimate_screen_and_model_edit(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        await pilot.press("2")
        await _settle(pilot, app)
        table = app.screen.query_one("#stages")
        assert table.row_count == 6
        app.screen.query_one("#f-teacher").value = "my-local-model"
        app.screen.query_one("#f-teacher").focus()
        await pilot.press("enter")
        await _settle(pilot, app)
        assert app.workspace.spec.teacher.model == "my-local-model"
        assert "unknown" in str(table.get_row_at(0)[5])


async def test_help_screen_lists_the_screen_keys(tmp_path):
    app = _app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        from distill_tui.tui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        assert "Save spec" in app.screen._markdown and "| 4 | Curate screen |" in app.screen._markdown
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def test_snapshot_dataset_80x24(tmp_path, snap_compare):
    async def settle(pilot):
        await _settle(pilot, pilot.app)
        await pilot.press("down")
        await _settle(pilot, pilot.app)

    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=settle)


def test_snapshot_estimate_80x24(tmp_path, snap_compare):
    async def settle(pilot):
        await _settle(pilot, pilot.app)
        await pilot.press("2")
        await _settle(pilot, pilot.app)

    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=settle)


def test_snapshot_help_80x24(tmp_path, snap_compare):
    async def settle(pilot):
        await _settle(pilot, pilot.app)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=settle)


@pytest.mark.parametrize("no_color", [True])
def test_snapshot_estimate_no_color(tmp_path, snap_compare, monkeypatch, no_color):
    monkeypatch.setenv("NO_COLOR", "1")

    async def settle(pilot):
        await _settle(pilot, pilot.app)
        await pilot.press("2")
        await _settle(pilot, pilot.app)

    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=settle)


async def test_estimate_judge_stages_are_named_by_their_grader_within_the_column(tmp_path):
    spec = write_spec(tmp_path, rows=60)
    spec.write_text(spec.read_text() + '\n[[graders]]\nname = "helpful"\ntype = "rubric"\nmodel = "offline-judge"\n'
                    'rubric = "r"\nscale = "1-5"\n\n[[graders]]\nname = "vs_teacher"\ntype = "pairwise"\n'
                    'model = "offline-judge"\n')
    app = DistillApp(Workspace.open(spec))
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, app)
        await pilot.press("2")
        await _settle(pilot, app)
        table = app.screen.query_one("#stages")
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        # 'judge helpful: eval answers' was cut to 'judge helpful:' and 'judge vs_teache' at 80 columns
        assert names[5:7] == ["judge helpful", "judge vs_teacher"], names


def _free_text_app(folder: Path) -> DistillApp:
    import tomli_w

    from tests.helpers import spec_dict, write_dataset

    write_dataset(folder / "data.csv", rows=60)
    spec = spec_dict()
    spec["task"] = {"kind": "generation"}
    spec["dataset"].pop("label")
    spec["dataset"]["reference"] = "variety"
    spec["prompt"] = {"user": "Review: {description} Which grape is it, in a sentence?"}
    (folder / "spec.toml").write_text(tomli_w.dumps(spec), encoding="utf-8")
    return DistillApp(Workspace.open(folder / "spec.toml"))


async def test_dataset_screen_of_free_text_shows_the_reference_column_not_labels(tmp_path):
    from textual.widgets import Input, Label, TabbedContent

    app = _free_text_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, app)
        screen = app.screen
        names = [str(label.render()) for label in screen.query("#fields Label")]
        assert names == ["Filter", "Reference", "Sample", "Seed"]
        assert screen.query_one("#f-label", Input).value == "variety"
        assert [str(t.label) for t in screen.query_one(TabbedContent).query("Tab")][2] == "References"
        assert "reference: " in str(screen.query_one("#prompt-text").render())
        await pilot.press("l")
        await _settle(pilot, app)
        summary = screen.query_one("#labels-text").content
        from rich.console import Console

        console = Console(width=80, record=True)
        console.print(summary)
        text = console.export_text()
        assert "with a reference" in text and "train" in text and "eval" in text
        field = screen.query_one("#f-label", Input)  # emptied: no reference column; the spec says so
        field.focus()
        field.value = ""
        await pilot.press("enter")
        await _settle(pilot, app)
        ds = app.workspace.spec.dataset
        assert ds.reference is None and ds.label is None
        assert "no reference column" in str(screen.query_one("#labels-text").content)


def test_snapshot_dataset_free_text_references_80x24(tmp_path, snap_compare):
    async def settle(pilot):
        await _settle(pilot, pilot.app)
        await pilot.press("l")
        await _settle(pilot, pilot.app)

    assert snap_compare(_free_text_app(tmp_path), terminal_size=(80, 24), run_before=settle)
