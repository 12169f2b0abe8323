"""Every dialog says how to confirm and cancel, enter confirms where that is unambiguous, and a long
path is shown whole (QA findings on dialogs)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from distill_tui.core.cost.pricing import load_prices
from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
from distill_tui.tui.widgets.curation_dialogs import ExportDialog
from distill_tui.tui.widgets.job_dialogs import AttachDialog, NewJobDialog
from distill_tui.tui.widgets.results_modals import AddModelModal, ExportModal
from tests.test_jobs_dialog import visible_text
from tests.test_screen_jobs import demo_plan

LONG_FOLDER = Path("/data/a-rather-long-folder-name/exports/demo-55937f3043")


class DialogApp(App):
    """An empty app that opens one dialog and keeps what it was dismissed with."""

    def __init__(self, dialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.result: object = "not dismissed"

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self._done)

    def _done(self, value: object) -> None:
        self.result = value


def shown(screen) -> str:
    """Every Static of a dialog as it is drawn, one string."""
    from textual.widgets import Static

    return "\n".join(visible_text(widget) for widget in screen.query(Static) if widget.size.width)


async def test_results_export_enter_exports_from_the_path_field():
    app = DialogApp(ExportModal(LONG_FOLDER, "comparison-20261121-120000"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = shown(app.screen)
        assert "enter: export" in text and "escape: cancel" in text
        whole = str(LONG_FOLDER / "comparison-20261121-120000.md")
        assert len(whole) > 66 and whole in visible_text(app.screen.query_one("#full-path"))
        await pilot.press("enter")
        await pilot.pause()
    assert app.result == ("md", LONG_FOLDER / "comparison-20261121-120000.md")


async def test_add_model_dialog_says_its_keys():
    app = DialogApp(AddModelModal())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "enter: add" in shown(app.screen) and "escape: cancel" in shown(app.screen)
        await pilot.press(*"gpt-x", "enter")
        await pilot.pause()
    assert app.result == "gpt-x"


async def test_job_dialogs_say_their_keys():
    for dialog, keys in ((NewJobDialog(demo_plan(), load_prices()), ("ctrl+s", "enter", "escape")),
                         (ConfirmDialog("Cancel ftjob-1?", "Training stops."), ("y: yes", "escape")),
                         (AttachDialog(), ("enter: attach", "escape: cancel"))):
        app = DialogApp(dialog)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            text = shown(app.screen)
            assert all(key in text for key in keys), (type(dialog).__name__, text)


async def test_new_job_dialog_enter_in_a_field_creates():
    app = DialogApp(NewJobDialog(demo_plan(), load_prices()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.query_one("#f-seed").focus()
        await pilot.press("enter")
        await pilot.pause()
    assert app.result is not None and app.result != "not dismissed"


async def test_curate_export_dialog_shows_the_whole_path():
    path = str(LONG_FOLDER / "demo-20261121-225151.jsonl")
    app = DialogApp(ExportDialog(["OK: the provider would accept this file"], True, path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        described = app.screen.query_one("#export-validation")
        assert path in visible_text(described)
        assert described.region.bottom <= 23
        assert "enter: write" in shown(app.screen)
