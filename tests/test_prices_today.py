"""Prices and models of today (issue 13, part 3): dated, sourced figures from the research notes, the
shutdown dates of the deprecations page, one warning line for a model that is gone or going, and a
demo priced like the cookbook's gpt-4o/gpt-4o-mini that says so."""

from __future__ import annotations

import datetime as dt

from distill_tui.core.cost import pricing
from distill_tui.core.cost.estimate import build_estimate
from distill_tui.core.task import dataset
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_spec

TODAY = dt.date(2026, 12, 4)


def test_shutdown_dates_of_the_deprecations_page():
    prices = pricing.load_prices()
    for model in ("gpt-5", "gpt-5-mini", "gpt-5-nano", "o3"):
        assert prices.shutdown_date(model) == "2026-12-11", model
    for model in ("gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14",
                  "gpt-4.1-mini", "ft:gpt-4o-mini-2024-07-18:acme:wine:abc", "ft:gpt-4.1-mini-2025-04-14:acme::x"):
        assert prices.shutdown_date(model) == "2027-01-14", model
    for model in ("o1", "o3-mini", "o4-mini", "gpt-4.1-nano"):
        assert prices.shutdown_date(model) == "2026-10-23", model
    assert prices.shutdown_date("gpt-5.4-mini") is None  # active: no date announced


def test_models_of_today_priced_from_the_notes_and_unknown_stays_unknown():
    prices = pricing.load_prices()
    assert (prices.price("o1").input, prices.price("o1").output, prices.price("o1").batch_output) == (15.00, 60.00, 30.00)
    assert (prices.price("o3-mini").cached_input, prices.price("o3-mini").batch_input) == (0.55, 0.55)
    for unpriced in ("gpt-6-astra", "gpt-5.6", "gpt-6-luna"):  # no OpenAI price in the notes
        assert prices.price(unpriced) is None
    assert prices.as_of == "2026-11-21" and "deprecations" in prices.source


def _estimate(tmp_path, teacher, student="gpt-4o-mini"):
    spec = load_spec(write_spec(tmp_path, rows=40, teacher={"model": teacher}, student={"model": student}))
    return build_estimate(spec, dataset.prepare(spec), pricing.load_prices(), today=TODAY)


def test_estimate_warns_once_for_a_model_gone_or_going(tmp_path):
    plan = _estimate(tmp_path, "gpt-5")
    assert [w for w in plan.warnings if "shut" in w] == [
        "gpt-5 shuts down on 2026-12-11 (in 7 days)", "gpt-4o-mini shuts down on 2027-01-14 (in 41 days)"]
    gone = _estimate(tmp_path, "o1")
    assert "o1 was shut down on 2026-10-23: calls will fail" in gone.warnings


def test_demo_is_priced_like_the_cookbook_models_and_says_so(tmp_path):
    prices = pricing.load_prices()
    for demo, cookbook in (("offline-teacher", "gpt-4o"), ("offline-student", "gpt-4o-mini")):
        a, b = prices.price(demo), prices.price(cookbook)
        assert (a.input, a.cached_input, a.output, a.batch_input, a.batch_output) == (
            b.input, b.cached_input, b.output, b.batch_input, b.batch_output)
    assert (prices.price("gpt-4o").input, prices.price("gpt-4o-mini").input) == (2.50, 0.15)  # cookbook 2024/10/16
    plan = _estimate(tmp_path, "offline-teacher", "offline-student")
    assert any(n.startswith("offline-teacher: demo model priced like the cookbook's gpt-4o (its 2024/10/16")
               for n in plan.notes)
    assert any(n.startswith("offline-student: demo model priced like the cookbook's gpt-4o-mini") for n in plan.notes)


def test_batch_column_is_priced_without_the_cache_discount(tmp_path):
    # The notes give Batch as 50 % of standard input and output, and no cached-input Batch price.
    system = " ".join(f"Rule {i}: taste the wine and weigh its acidity." for i in range(150))
    spec = load_spec(write_spec(tmp_path, rows=40, teacher={"model": "gpt-4o"}, prompt={"system": system}))
    stage = build_estimate(spec, dataset.prepare(spec), pricing.load_prices(), today=TODAY).stages[0]
    price = pricing.load_prices().price("gpt-4o")
    assert stage.cached_input_tokens > 0
    assert stage.batch_cost_usd == price.cost(stage.input_tokens, stage.output_tokens, batch=True)
    assert stage.cost_usd < price.cost(stage.input_tokens, stage.output_tokens)
