"""`s` and `r` on the Generate screen ask before spending when no budget is set, or when the run
would take more than half the budget left; a small run under a budget starts at once."""

from __future__ import annotations

from pathlib import Path

from distill_tui.core.run.plan import Plan
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.app import DistillApp
from distill_tui.tui.screens.generate_confirm import ASK_ABOVE_SHARE, spend_question
from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
from tests.helpers import write_spec
from tests.test_screen_generate import _open, _wait_finished


def _app(folder: Path, base_url: str, **generation) -> DistillApp:
    spec = write_spec(folder, rows=40, provider={"base_url": base_url}, generation={"workers": 2, **generation})
    return DistillApp(Workspace.open(spec))


def _dialog_text(app: DistillApp) -> str:
    return " ".join(str(s.render()) for s in app.screen.query("Static"))


async def test_without_a_budget_s_asks_with_the_estimate_and_no_spends_nothing(tmp_path, offline_server):
    app = _app(tmp_path, offline_server.base_url)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        text = _dialog_text(app)
        assert "Start without a budget?" in text and "no budget_usd is set" in text.lower()
        assert f"Estimated cost of the {screen.plan.to_ask} rows: $" in text
        await pilot.press("n")
        await pilot.pause()
        assert app.screen is screen and not screen.running
        assert screen.workspace.store.answers(screen.plan.model) == []  # nothing asked, nothing paid
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await _wait_finished(pilot, screen)
        assert screen.last_result is not None and screen.last_result.done == screen.last_result.total


async def test_a_run_small_beside_the_budget_starts_at_once(tmp_path, offline_server):
    app = _app(tmp_path, offline_server.base_url, budget_usd=5.0)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        await _wait_finished(pilot, screen)
        assert screen.last_result.done == screen.last_result.total


async def test_a_run_over_half_the_budget_left_asks(tmp_path, offline_server):
    app = _app(tmp_path, offline_server.base_url, budget_usd=0.02)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        assert screen.plan.cost_usd > ASK_ABOVE_SHARE * 0.02  # the premise of this test
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "more than 50% of the budget left ($0.0200 of $0.0200)" in _dialog_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.running


def _plan(**changes) -> Plan:
    base = dict(model="m", split="train", total=100, done=40, failed=10, left=50, input_tokens=0, output_tokens=0,
                cost_usd=6.0, spent_usd=2.0, budget_usd=None, prices_as_of="2026-11-21")
    return Plan(**{**base, **changes})


def test_r_is_priced_for_the_failed_rows_only():
    # 60 rows to ask cost $6, so the 10 failed ones $1: under half of the $8 left.
    assert spend_question(_plan(), 10.0, only_failed=True) is None
    assert spend_question(_plan(), 10.0) is not None  # s: $6 of $8 left
    title, body = spend_question(_plan(), None, only_failed=True)
    assert "the 10 failed rows: $1.00" in body


def test_unknown_price_and_nothing_to_ask():
    _, body = spend_question(_plan(cost_usd=None), None)
    assert "price of m is unknown" in body
    assert spend_question(_plan(cost_usd=None), 10.0) is None  # the run refuses it itself, with the reason
    assert spend_question(_plan(failed=0, left=0), None) is None
    _, body = spend_question(None, None)
    assert "still being estimated" in body


def test_a_run_the_provider_would_refuse_is_asked_about_even_under_the_budget():
    # A schema over the provider's limits: every request refused. Under a budget it started without a word.
    refused = ["OpenAI's structured outputs take at most 1,000 enum values: every request would be refused"]
    title, body = spend_question(_plan(refused=refused), 100.0)
    assert title == "Start a run the provider would refuse?" and body == f"⚠ {refused[0]}"
    title, body = spend_question(_plan(refused=refused), None)
    assert title == "Start without a budget?" and "Estimated cost" in body and body.endswith(f"⚠ {refused[0]}")
    assert spend_question(_plan(refused=refused, failed=0, left=0), None) is None  # nothing to ask, nothing to say
