"""A reasoning model's estimate is a range, and after a smoke run it is re-computed from what the
saved answers used ("estimate from pilot"): core, CLI (text and --json), Estimate and Generate screens."""

from __future__ import annotations

import json
from pathlib import Path

from distill_tui.core.cost import capabilities, pilot, pricing
from distill_tui.core.cost.estimate import build_estimate
from distill_tui.core.store.database import Answer, Store
from distill_tui.core.task import dataset
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_spec


def _spec(tmp_path: Path, teacher: str = "o3", **generation):
    return load_spec(write_spec(tmp_path, rows=60, teacher={"model": teacher},
                                generation={"max_tokens": 1000, **generation}))


def _plan(spec):
    return build_estimate(spec, dataset.prepare(spec), pricing.load_prices())


def _save_answers(spec, model: str, completion: list[int], reasoning: list[int]) -> None:
    with Store.for_spec(spec.source) as store:
        for i, (c, r) in enumerate(zip(completion, reasoning)):
            store.record_answer(Answer(model=model, row_id=i, prompt_hash=f"h{i}", split="train", status="ok",
                                       content='{"variety": "Merlot"}', completion_tokens=c, reasoning_tokens=r,
                                       prompt_tokens=100))


def test_reasoning_teacher_estimate_is_a_range_from_none_to_the_budget_left(tmp_path):
    spec = _spec(tmp_path)
    plan, prices = _plan(spec), pricing.load_prices()
    spread = pilot.reasoning_range(plan, spec, capabilities.load_models(), prices)
    answer = plan.stages[0].output_tokens // plan.stages[0].requests
    assert spread.per_request == {"o3": (0, 1000 - answer)}  # the student (offline-student) does not reason
    requests = plan.stages[0].requests + plan.stages[1].requests
    assert spread.low_usd == plan.total_cost_usd
    assert abs(spread.high_usd - (plan.total_cost_usd + requests * (1000 - answer) * 8.00 / 1e6)) < 1e-9
    assert "OpenAI reasoning guide" in spread.source
    assert spread.line().startswith(f"with reasoning: {pricing.format_usd(spread.low_usd)}–")
    # A model that does not reason has no range; one whose figure models.toml knows has it exactly.
    assert pilot.reasoning_range(_plan(_spec(tmp_path, "gpt-4o")), _spec(tmp_path, "gpt-4o"),
                                 capabilities.load_models(), prices) is None
    known = _spec(tmp_path, "offline-reasoner")
    assert pilot.reasoning_range(_plan(known), known, capabilities.load_models(), prices).per_request == {
        "offline-reasoner": (192, 192)}  # models.toml: its medium effort, the default


def test_estimate_from_pilot_prices_the_measured_output(tmp_path):
    spec = _spec(tmp_path)
    plan = _plan(spec)
    assert pilot.from_pilot(plan, [], pricing.load_prices()) is None
    _save_answers(spec, "o3", completion=[300, 500], reasoning=[290, 490])
    with Store.for_spec(spec.source) as store:
        result = pilot.from_pilot(plan, store.answers(model="o3"), pricing.load_prices())
    assert result.answers == 2 and result.measured["o3"].reasoning_tokens == 390
    train = result.stages[0]
    assert train["output_tokens"] == plan.stages[0].requests * 400
    extra = (train["output_tokens"] - plan.stages[0].output_tokens) * 8.00 / 1e6
    assert abs(train["cost_usd"] - (plan.stages[0].cost_usd + extra)) < 1e-5
    assert result.stages[3] == {"name": "fine-tune training", "model": plan.stages[3].model, "output_tokens": 0,
                                "cost_usd": round(plan.stages[3].cost_usd, 6),
                                "batch_cost_usd": round(plan.stages[3].batch_cost_usd, 6)}
    assert result.line().startswith("estimate from pilot: 2 answers (o3 400 output tokens an answer, 390 of them "
                                    "reasoning): total $")


def test_estimate_command_shows_range_and_pilot(tmp_path, capsys):
    from distill_tui.cli import main

    spec = _spec(tmp_path)
    assert main(["estimate", str(spec.source), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pilot"] is None and out["reasoning_range"]["per_request"]["o3"]["low"] == 0
    _save_answers(spec, "o3", completion=[300, 500], reasoning=[290, 490])
    assert main(["estimate", str(spec.source), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pilot"]["answers"] == 2 and out["pilot"]["models"]["o3"]["reasoning_tokens_per_answer"] == 390
    assert main(["estimate", str(spec.source)]) == 0
    text = capsys.readouterr().out
    assert "with reasoning: $" in text and "estimate from pilot: 2 answers (o3 400 output tokens" in text


async def test_estimate_and_generate_screens_show_the_pilot(tmp_path):
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.tui.app import DistillApp
    from tests.settle import workers_done

    spec = _spec(tmp_path)
    _save_answers(spec, "o3", completion=[300, 500], reasoning=[290, 490])
    app = DistillApp(Workspace.open(spec.source))
    async with app.run_test(size=(100, 30)) as pilot_:
        for key in ("2", "3"):
            await pilot_.pause()
            await workers_done(app)
            await pilot_.press(key)
            await pilot_.pause()
            await workers_done(app)
            await pilot_.pause()
            if key == "2":
                summary = str(app.screen.query_one("#summary-text").render())
                assert "With reasoning: $" in summary and "Estimate from pilot: 2 answers" in summary
            else:
                shown = str(app.screen.query_one("#plan").render())
                assert "Estimate from pilot (2 answers, 400 tok out, 390 reasoning): $" in shown
                assert "for the rows left" in shown


def test_a_judge_that_is_also_the_teacher_is_not_measured_as_the_teacher(tmp_path):
    spec = _spec(tmp_path)
    _save_answers(spec, "o3", completion=[300, 500], reasoning=[290, 490])
    with Store.for_spec(spec.source) as store:  # the same model's verdicts as a judge: short, split "judge"
        for i in range(6):
            store.record_answer(Answer(model="o3", row_id=i, prompt_hash=f"j{i}", split="judge", status="ok",
                                       content='{"score": 1}', completion_tokens=20, reasoning_tokens=0,
                                       prompt_tokens=400))
        answers = store.answers(model="o3")
    measured = pilot.measure(answers, ["o3"])["o3"]
    assert (measured.answers, measured.completion_tokens) == (2, 400)


def test_the_teachers_measured_answers_do_not_reprice_its_judge_stage(tmp_path):
    path = write_spec(tmp_path, rows=60, teacher={"model": "o3"}, generation={"max_tokens": 1000})
    path.write_text(path.read_text() + '\n[[graders]]\nname = "self"\ntype = "rubric"\nmodel = "o3"\n'
                    'rubric = "names the grape"\nscale = "pass_fail"\n')
    spec = load_spec(path)
    plan = _plan(spec)
    judge = next(s for s in plan.stages if s.name == "judge self: eval answers")
    _save_answers(spec, "o3", completion=[300, 500], reasoning=[290, 490])
    with Store.for_spec(spec.source) as store:
        result = pilot.from_pilot(plan, store.answers(model="o3"), pricing.load_prices())
    stage = next(s for s in result.stages if s["name"] == judge.name)
    assert stage["output_tokens"] == judge.output_tokens
    assert result.stages[0]["output_tokens"] == plan.stages[0].requests * 400
