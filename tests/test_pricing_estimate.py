import datetime as dt
import json

import pytest

from distill_tui import locations
from distill_tui.core.common.errors import UserError
from distill_tui.core.cost import pricing
from distill_tui.core.cost.estimate import build_estimate
from distill_tui.core.task import dataset
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_spec


def test_prices_are_dated_and_resolve_snapshots_and_fine_tunes():
    table = pricing.load_prices()
    assert table.as_of and table.source
    assert table.price("gpt-4o-mini-2024-07-18").input == 0.15
    ft = table.price("ft:gpt-4o-mini-2024-07-18:acme:wine:abc123")
    assert (ft.input, ft.output) == (0.30, 1.20)
    assert table.training_price("gpt-4o-mini") == 3.00
    assert table.price("gpt-6-luna") is None


def test_cost_arithmetic():
    price = pricing.load_prices().price("gpt-4o")
    assert price.cost(1_000_000, 0) == pytest.approx(2.50)
    assert price.cost(1_000_000, 1_000_000, batch=True) == pytest.approx(6.25)
    assert price.cost(1_000_000, 0, cached_tokens=500_000) == pytest.approx(1.875)


def test_user_price_file_overrides_and_adds(tmp_path):
    path = locations.user_prices_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('as_of = "2026-12-01"\n[models."gpt-4o"]\ninput = 2.0\n[models."my-llm"]\ninput = 1\noutput = 2\n')
    table = pricing.load_prices()
    assert table.price("gpt-4o").input == 2.0 and table.price("gpt-4o").output == 10.0
    assert table.price("my-llm").output == 2
    assert "2026-12-01" in table.as_of
    path.write_text('[models."gpt-4o"]\ninput = "cheap"\n')
    with pytest.raises(UserError, match="input must be a price"):
        pricing.load_prices()


@pytest.mark.parametrize("n, epochs", [(1, 25), (5, 20), (10, 10), (34, 3), (500, 3), (8334, 2), (30000, 1)])
def test_auto_epochs_follows_openai(n, epochs):
    assert pricing.auto_epochs(n) == epochs


def test_shutdown_warning():
    today = dt.date(2026, 11, 21)
    assert "in 54 days" in pricing.shutdown_warning("gpt-4o", "2027-01-14", today)
    assert "was shut down" in pricing.shutdown_warning("o4-mini", "2026-10-23", today)
    assert pricing.shutdown_warning("x", None, today) is None


def test_estimate_stages_and_json_contract(tmp_path):
    spec = load_spec(write_spec(tmp_path, teacher={"model": "gpt-4o"}, student={"model": "gpt-4o-mini"}))
    data = dataset.prepare(spec)
    plan = build_estimate(spec, data, pricing.load_prices(), today=dt.date(2026, 11, 21))
    out = plan.to_json()
    json.dumps(out)
    assert {"rows", "train_rows", "eval_rows", "stages", "total_cost_usd", "prices_as_of"} <= set(out)
    assert [s["name"] for s in out["stages"]] == [
        "teacher: train rows", "teacher: eval rows", "base student: eval rows", "fine-tune training",
        "distilled student: eval rows",
    ]
    for stage in out["stages"]:
        assert {"name", "model", "requests", "input_tokens", "output_tokens", "cost_usd"} <= set(stage)
    teacher = out["stages"][0]
    assert teacher["requests"] == out["train_rows"] and teacher["input_tokens"] > 0
    assert out["total_cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in out["stages"]), abs=1e-5)
    assert plan.n_epochs == pricing.auto_epochs(out["train_rows"])
    assert any("shuts down" in w for w in plan.warnings)
    assert plan.break_even_predictions and plan.break_even_predictions > 0


def test_unknown_model_shows_tokens_and_no_price(tmp_path):
    spec = load_spec(write_spec(tmp_path, teacher={"model": "my-local-llama"}))
    plan = build_estimate(spec, dataset.prepare(spec), pricing.load_prices())
    teacher = plan.stages[0]
    assert teacher.input_tokens > 0 and teacher.cost_usd is None and "price unknown" in teacher.note
    assert plan.total_cost_usd is None
    assert any("unknown model" in note for note in plan.notes)


def test_free_text_answers_use_max_tokens(tmp_path):
    spec = load_spec(write_spec(tmp_path, prompt={"structured": False}, generation={"max_tokens": 50}))
    plan = build_estimate(spec, dataset.prepare(spec), pricing.load_prices())
    assert plan.stages[0].output_tokens == 50 * plan.train_rows


def test_fixed_epochs(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    plan = build_estimate(spec, dataset.prepare(spec), pricing.load_prices(), n_epochs=2)
    assert plan.n_epochs == 2 and plan.stages[3].input_tokens == 2 * plan.training_tokens_per_epoch


@pytest.mark.parametrize("teacher", ["gpt-4o", "my-local-llama"])
def test_headless_estimate_fits_80_columns(tmp_path, capsys, teacher):
    from distill_tui.cli import main

    spec = write_spec(tmp_path, teacher={"model": teacher}, student={"model": "gpt-4o-mini"})
    assert main(["estimate", str(spec)]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = [line for line in lines if line.startswith(("stage", "teacher:", "total"))]
    assert len(table) == 4 and all(len(line) <= 80 for line in table), table
    assert f"models: teacher {teacher} · student gpt-4o-mini" in lines
    assert len({len(line) for line in table}) == 1  # right-aligned columns end together
    if teacher == "my-local-llama":
        assert any("price unknown" in line for line in lines)
