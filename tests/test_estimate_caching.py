"""Prompt caching in the estimate: the cacheable prefix of each request priced at the cached rate."""

import json

import pytest

from distill_tui.core.cost import pricing, template_tokens, tokens
from distill_tui.core.cost.estimate import PromptCounter, build_estimate
from distill_tui.core.task import dataset, prompts
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_dataset, write_spec

LONG_SYSTEM = "You are a sommelier. " + "Consider the grape, the soil and the climate of every region. " * 110


@pytest.mark.parametrize(("prefix", "hit"), [(0, 0), (1023, 0), (1024, 1024), (1151, 1024), (1152, 1152), (5000, 4992)])
def test_cache_hits_from_1024_tokens_in_128_token_steps(prefix, hit):
    assert tokens.cache_hit_tokens(prefix) == hit


def test_template_prefix_is_what_every_row_shares():
    template = "Classify this wine review carefully into one of: {labels}.\n\nReview: {description}\nAnswer:"
    counter = template_tokens.TemplateCounter(template, "gpt-4o", ["Pinot Noir", "Riesling"])
    enc = tokens.encoding_for("gpt-4o")
    rows = [{"description": "A wine with cherry."}, {"description": "  \nOak, butter"}, {"description": "x"}]
    encoded = [enc.encode_ordinary(prompts.render(template, row, ["Pinot Noir", "Riesling"])) for row in rows]
    shared = next(i for i, group in enumerate(zip(*encoded)) if len(set(group)) > 1)
    assert shared - 3 <= counter.prefix <= shared
    assert counter.fixed_after == 0 or counter.fixed_after <= len(encoded[0]) - shared


def test_long_fixed_system_prompt_is_priced_at_the_cached_rate(tmp_path, capsys):
    spec = load_spec(write_spec(tmp_path, teacher={"model": "gpt-4o"}, student={"model": "gpt-4o-mini"},
                                prompt={"system": LONG_SYSTEM}))
    data = dataset.prepare(spec)
    prices = pricing.load_prices()
    plan = build_estimate(spec, data, prices)
    counter = PromptCounter(spec, data.labels, "gpt-4o")
    hit = tokens.cache_hit_tokens(counter.cacheable)
    assert hit >= 1024 and counter.cacheable <= min(counter.totals(data.train)[1])
    teacher = plan.stages[0]
    assert teacher.cached_input_tokens == hit * (teacher.requests - 1)
    price = prices.price("gpt-4o")
    assert teacher.cost_usd == pytest.approx(price.cost(teacher.input_tokens, teacher.output_tokens,
                                                        cached_tokens=teacher.cached_input_tokens))
    assert teacher.cost_usd < price.cost(teacher.input_tokens, teacher.output_tokens)
    assert plan.stages[3].cached_input_tokens == 0  # training is not a request
    out = json.loads(json.dumps(plan.to_json()))
    assert out["stages"][0]["cached_input_tokens"] == teacher.cached_input_tokens
    assert any("first request pays the full input price" in note for note in plan.notes)
    assert 0 < counter.movable < 128  # the prompt's short tail after {description}: not worth a note
    assert not any("after its first varying field" in note for note in plan.notes)

    from distill_tui.cli import main

    assert main(["estimate", str(tmp_path / "spec.toml")]) == 0
    text = capsys.readouterr().out
    assert f"{teacher.cached_input_tokens:,} input tokens at the cached price" in text
    assert "first request pays the full input price" in text


def test_short_prompt_has_nothing_cached(tmp_path):
    spec = load_spec(write_spec(tmp_path, teacher={"model": "gpt-4o"}, student={"model": "gpt-4o-mini"}))
    plan = build_estimate(spec, dataset.prepare(spec), pricing.load_prices())
    assert all(s.cached_input_tokens == 0 for s in plan.stages)
    assert not any("prompt caching" in note for note in plan.notes)


def test_a_long_labels_list_after_the_fields_says_what_moving_it_first_saves(tmp_path):
    labels = [f"Variety number {i} from the northern slopes of the old river valley near the ancient stone bridge" for i in range(60)]
    write_dataset(tmp_path / "data.csv", rows=120, labels=labels)
    spec = load_spec(write_spec(tmp_path, teacher={"model": "gpt-4o"}, student={"model": "gpt-4o-mini"},
                                prompt={"structured": False}))
    data = dataset.prepare(spec)
    plan = build_estimate(spec, data, pricing.load_prices())
    assert plan.stages[0].cached_input_tokens == 0
    counter = PromptCounter(spec, data.labels, "gpt-4o")
    assert counter.movable > 1024
    note = next(n for n in plan.notes if "fixed tokens after its first varying field" in n)
    moved = tokens.cache_hit_tokens(counter.cacheable + counter.movable)
    price = pricing.load_prices().price("gpt-4o")
    saving = moved * (plan.stages[0].requests - 1) * (price.input - price.cached_input) / 1_000_000
    assert f"{moved:,} tokens per request could be cached instead of 0" in note
    assert f"${saving:,.2f} less per teacher run" in note


async def test_estimate_screen_shows_the_cached_input(tmp_path):
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.tui.app import DistillApp
    from tests.settle import workers_done

    app = DistillApp(Workspace.open(write_spec(tmp_path, rows=60, teacher={"model": "gpt-4o"},
                                               student={"model": "gpt-4o-mini"}, prompt={"system": LONG_SYSTEM})))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await workers_done(app)
        await pilot.press("2")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        summary = str(app.screen.query_one("#summary-text").render())
        assert "Prompt cache: " in summary and "input tokens at the cached price" in summary
