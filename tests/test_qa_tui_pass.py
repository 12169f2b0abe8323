"""QA pass over issue 10's TUI additions, driven at 80x24: the unsaved-edits questions show their keys
whole, a refused filter can be fixed where it is, and the other small things a new user tripped on."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Static

from distill_tui.tui.widgets.choice_dialog import (
    quit_with_unsaved_edits,
    run_on_unsaved_edits,
)
from tests.test_qa_layout_dialogs import DialogApp


@pytest.fixture
def slower_server():
    """Answers take long enough that a quit is still waiting for them when the next key comes."""
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(latency=3))
    yield server
    server.shutdown()


async def test_unsaved_edit_questions_show_their_keys_on_one_line_at_80_columns():
    # Beside the two buttons the keys wrapped at 80 columns: "escape:" on one line, "cancel" on the next.
    for dialog, keys in ((quit_with_unsaved_edits("demo.toml"), "d: discard   s: save and quit   escape: stay"),
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


def _dataset_app(folder, **sections):
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.tui.app import DistillApp
    from tests.helpers import write_spec

    return DistillApp(Workspace.open(write_spec(folder, rows=60, **sections)))


async def _settle(pilot, app) -> None:
    from tests.settle import workers_done

    await pilot.pause()
    await workers_done(app)
    await pilot.pause()


def _status(app) -> str:
    from tests.test_jobs_dialog import visible_text

    return visible_text(app.screen.query_one("#status"))


async def test_a_filter_typo_found_in_the_data_leaves_the_cursor_in_the_filter_to_fix_it(tmp_path):
    # "fix it and press Enter" — but the table had taken the focus, so the fix typed went to the table's keys.
    app = _dataset_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, app)
        await pilot.press("f", *"contry == 'France'", "enter")
        await _settle(pilot, app)
        field = app.screen.query_one("#f-filter")
        assert "no column 'contry'" in _status(app) and app.focused is field
        await pilot.press("home", "right", "right", "u", "enter")  # contry -> country
        await _settle(pilot, app)
        assert app.workspace.spec.dataset.filter == "country == 'France'"


async def test_a_refused_filter_under_a_long_path_still_shows_its_keys_at_80x24(tmp_path):
    # The line is cut at 6 lines: with the spec's path in front, the allowed forms pushed
    # "Esc for the applied filter" out of sight.
    folder = tmp_path / "a-rather-long-folder-name" / "projects" / "distillation" / "wine-varieties"
    folder.mkdir(parents=True)
    app = _dataset_app(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, app)
        await pilot.press("f", *"@x == 1", "enter")
        await _settle(pilot, app)
        shown = _status(app)
        assert "'@' (local variables)" in shown and "press Enter, or Esc for the applied one" in shown
        assert str(folder) not in shown


async def test_an_edit_the_data_refuses_says_it_was_not_applied(tmp_path):
    # The fields go back to the values in use; the line named only the problem (sample too large).
    app = _dataset_app(tmp_path, dataset={"sample": 50})
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, app)
        await pilot.press("f", *"country == 'France'", "enter")
        await _settle(pilot, app)
        assert "not applied" in _status(app) and app.workspace.spec.dataset.filter is None


async def test_the_kept_edits_note_says_what_to_do_with_the_file(tmp_path):
    # It said only where the edits are, and came back at every start while the file stayed.
    from distill_tui.core.task.spec import load_spec
    from distill_tui.core.task.spec_writer import save_spec
    from distill_tui.tui.app import recovery_path

    app = _dataset_app(tmp_path)
    spec = app.workspace.spec.source
    save_spec(load_spec(spec), recovery_path(spec))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        note = " ".join(str(n.message) for n in app._notifications)  # noqa: SLF001
    assert str(recovery_path(spec)) in note and "copy what you want into spec.toml, then delete it" in note


async def test_estimate_counts_too_wide_for_their_column_are_shortened_not_cut(tmp_path):
    # 1,200 rows with a 1,200-label list in each prompt: 28,872,200 input tokens showed as "28,872,20".
    from types import SimpleNamespace

    from distill_tui.tui.screens.estimate import fit_count

    assert fit_count(1_200, 6) == "1,200" and fit_count(28_872_200, 9) == "28,872k"
    assert fit_count(1_234_567, 6) == "1,235k" and fit_count(2_500_000_000, 7) == "2,500M"
    app = _dataset_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await _settle(pilot, app)
        stage = SimpleNamespace(name="teacher: train rows", model="gpt-4o", requests=1_200, input_tokens=28_872_200,
                                output_tokens=16_800, cost_usd=72.35, batch_cost_usd=36.17)
        app.screen._fill(SimpleNamespace(stages=[stage], total_cost_usd=72.35, total_batch_cost_usd=36.17))  # noqa: SLF001
        table = app.screen.query_one("#stages")
        assert [str(cell) for cell in table.get_row_at(0)[2:5]] == ["1,200", "28,872k", "16,800"]


async def test_dataset_status_groups_the_label_count_like_every_other_count(tmp_path):
    # "2,400 rows (1,200 train / 1,200 eval) · 1200 labels · 2,400 in file"
    import csv

    with (tmp_path / "many.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([f"item {i} {j}", f"label {i}"] for i in range(1_200) for j in range(2))
    app = _dataset_app(tmp_path, dataset={"path": "many.csv", "label": "label", "eval_fraction": 0.5},
                       prompt={"user": "{text}\nChoose from: {labels}"})
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(pilot, app)
        assert "· 1,200 labels ·" in _status(app)


async def test_ctrl_q_twice_with_unsaved_edits_keeps_them_beside_the_spec(tmp_path, offline_server):
    # A habitual double Ctrl+Q quit at the question and dropped the edits without a trace.
    from distill_tui.tui.app import recovery_path
    from tests.test_every_way_out import _app, _edit

    app = _app(tmp_path, offline_server.base_url)
    spec = app.workspace.spec.source
    text = spec.read_text()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        _edit(app)
        await pilot.press("ctrl+q", "ctrl+q")
        await pilot.pause()
    assert not app.is_running and spec.read_text() == text
    assert "workers = 2" in recovery_path(spec).read_text()


async def test_ctrl_q_while_quitting_after_the_answer_quits_instead_of_asking_again(tmp_path, slower_server):
    # Discard chosen, the app waits for the run's requests in flight; Ctrl+Q then asked the same question again.
    from distill_tui.tui.widgets.choice_dialog import ChoiceDialog
    from tests.test_every_way_out import _app, _edit, _until_in_flight

    app = _app(tmp_path, slower_server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await _settle(pilot, app)
        await pilot.press("s")
        await _until_in_flight(pilot, slower_server)
        _edit(app)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert app.is_running, "waiting for the requests in flight"
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not isinstance(app.screen, ChoiceDialog)
        for _ in range(100):
            if not app.is_running:
                break
            await pilot.pause(0.02)
        assert not app.is_running


async def test_the_help_says_how_to_close_it(tmp_path):
    # The footer under the help shows the screen's keys; nothing said Esc or ? closes it (the help
    # snapshot shows it drawn on the border).
    app = _dataset_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Esc or ? closes" in str(app.screen.query_one("VerticalScroll").border_subtitle)
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "DatasetScreen"


async def test_without_a_key_s_says_so_instead_of_asking_to_spend(tmp_path, monkeypatch):
    # No budget and no key: "Start without a budget? Estimated cost $72.35" came first, then
    # "Cannot start: no API key" once the user had agreed to spend.
    from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
    from tests.test_screen_generate import _open

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    app = _dataset_app(tmp_path, provider={"base_url": "https://api.openai.com/v1"}, teacher={"model": "gpt-4o"})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await pilot.press("s")
        await _settle(pilot, app)
        assert not isinstance(app.screen, ConfirmDialog)
        assert "no API key: set OPENAI_API_KEY" in " ".join(str(screen.query_one("#status").render()).split())


async def test_without_a_key_b_says_so_instead_of_asking_to_send_the_rows(tmp_path, monkeypatch):
    # "Send 40 rows to the Batch API?" came first, then "no API key" once the user had agreed.
    from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
    from tests.test_screen_generate import _open

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    app = _dataset_app(tmp_path, provider={"base_url": "https://api.openai.com/v1"}, teacher={"model": "gpt-4o"})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await pilot.press("b")
        await _settle(pilot, app)
        assert not isinstance(app.screen, ConfirmDialog)
        assert "no API key: set OPENAI_API_KEY" in " ".join(str(screen.query_one("#status").render()).split())


def _edit_seed(app) -> None:
    """What editing the seed on the Dataset screen does: a changed spec, not written to its file."""
    import dataclasses

    spec = app.workspace.spec
    app.workspace.set_spec(dataclasses.replace(spec, dataset=dataclasses.replace(spec.dataset, seed=spec.dataset.seed + 1)))


@pytest.mark.parametrize("key,spend", [("s", "Start without a budget?"), ("b", "to the Batch API?")])
async def test_unsaved_edits_are_asked_about_before_the_spend(tmp_path, offline_server, key, spend):
    # "Start without a budget?" came first, then "save your edits?": the run uses the edits, so they come first.
    from distill_tui.tui.widgets.choice_dialog import ChoiceDialog
    from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
    from tests.test_screen_generate import _open

    app = _dataset_app(tmp_path, provider={"base_url": offline_server.base_url})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        _edit_seed(app)
        await _settle(pilot, app)
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, ChoiceDialog) and "unsaved edits" in str(app.screen._title)  # noqa: SLF001
        await pilot.press("u")  # go on unsaved: the spend question next, and the edits not asked again
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog) and spend in str(app.screen.query_one(".title").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and not screen.running


async def test_a_schema_every_request_would_be_refused_for_is_said_on_generate_and_before_spending(tmp_path, monkeypatch):
    # Shown on the Estimate screen and by the CLI estimate only: Generate listed the other plan warnings
    # and "Start without a budget?" asked to spend on a run the provider would refuse request by request.
    from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
    from tests.helpers import write_dataset
    from tests.test_screen_generate import _open

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-sent")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    write_dataset(tmp_path / "data.csv", rows=2_400, labels=[f"label {i:04d}" for i in range(1_200)])  # each twice: labels, not free text
    app = _dataset_app(tmp_path, provider={"base_url": "https://api.openai.com/v1"}, teacher={"model": "gpt-4o"},
                       prompt={"user": "Review: {description}", "structured": True}, dataset={"eval_fraction": 0.0})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        plan = " ".join(str(screen.query_one("#plan").render()).split())
        assert "at most 1,000 enum values; this schema has 1,200" in plan and "every request would be refused" in plan
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        body = " ".join(" ".join(str(s.render()) for s in app.screen.query("Static")).split())
        assert "Start without a budget?" in body and "1,000 enum values" in body and "would be refused" in body
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("b")
        await pilot.pause()
        body = " ".join(" ".join(str(s.render()) for s in app.screen.query("Static")).split())
        assert "to the Batch API?" in body and "1,000 enum values" in body and "would be refused" in body
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.running


@pytest.mark.parametrize("key", ["s", "f", "b"])
async def test_without_a_key_unsaved_edits_are_not_asked_about_first(tmp_path, monkeypatch, key):
    # "save your edits before starting the run?" came before "no API key": a question on a run that cannot start.
    from distill_tui.tui.widgets.choice_dialog import ChoiceDialog
    from tests.test_screen_generate import _open

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    app = _dataset_app(tmp_path, provider={"base_url": "https://api.openai.com/v1"}, teacher={"model": "gpt-4o"})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        _edit_seed(app)
        await _settle(pilot, app)
        await pilot.press(key)
        await _settle(pilot, app)
        assert not isinstance(app.screen, ChoiceDialog)
        assert "no API key: set OPENAI_API_KEY" in " ".join(str(screen.query_one("#status").render()).split())
