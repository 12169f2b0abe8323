"""QA pass over issue 10's TUI additions, driven at 80x24: the unsaved-edits questions show their keys
whole, a refused filter can be fixed where it is, and the other small things a new user tripped on."""

from __future__ import annotations

from textual.widgets import Button, Static

from distill_tui.tui.widgets.choice_dialog import quit_with_unsaved_edits, run_on_unsaved_edits
from tests.test_qa_layout_dialogs import DialogApp


async def test_unsaved_edit_questions_show_their_keys_on_one_line_at_80_columns():
    # Beside the two buttons the keys wrapped at 80 columns: "escape:" on one line, "cancel" on the next.
    for dialog, keys in ((quit_with_unsaved_edits("demo.toml"), "d: discard   s: save and quit   escape: cancel"),
                         (run_on_unsaved_edits("demo.toml", "starting the run"),
                          "u: go on unsaved   s: save and go on   escape: cancel")):
        app = DialogApp(dialog)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            line = app.screen.query_one(".keys", Static)
            assert line.size.height == 1 and line.size.width >= len(keys), (keys, line.size)
            for button in app.screen.query(Button):
                assert button.size.width >= len(str(button.label)) + 2


def test_the_run_question_does_not_point_at_values_on_another_screen():
    # Asked on Generate or Results about edits made on Dataset or Estimate: nothing is "shown here".
    body = str(run_on_unsaved_edits("demo.toml", "starting the run")._body)  # noqa: SLF001
    assert "shown here" not in body and "as edited in this session" in body
