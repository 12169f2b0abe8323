"""[teacher] service_tier = "flex": validated, sent with the teacher's requests, priced at the flex tier."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from distill_tui.core.cost import pricing
from distill_tui.core.cost.estimate import build_estimate
from distill_tui.core.run.recorder import AnswerRecorder
from distill_tui.core.task import dataset
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.task.spec import SpecError, load_spec
from tests.helpers import write_spec


def test_flex_prices_only_where_openai_offers_flex():
    prices = pricing.load_prices()
    assert prices.price("gpt-5-mini").flex_input == 0.125 and prices.price("o3").flex_output == 4.00
    assert prices.price("gpt-4o").flex_input is None
    assert prices.price("gpt-5-mini").cost(1_000_000, 1_000_000, flex=True) == pytest.approx(0.125 + 1.00)


def test_service_tier_is_validated_in_one_line(tmp_path):
    with pytest.raises(SpecError, match=r"\[teacher\] service_tier must be auto, default or flex, not 'cheap'"):
        load_spec(write_spec(tmp_path, teacher={"model": "gpt-5-mini", "service_tier": "cheap"}))


def test_teacher_requests_carry_the_tier_and_keep_their_hash(tmp_path):
    plain = load_spec(write_spec(tmp_path, teacher={"model": "gpt-5-mini"}, student={"model": "gpt-4o-mini"}))
    flex = load_spec(write_spec(tmp_path, teacher={"model": "gpt-5-mini", "service_tier": "flex"},
                                student={"model": "gpt-4o-mini"}))
    data = dataset.prepare(flex)
    teacher = next(iter_requests(flex, data, "gpt-5-mini", "train"))
    assert teacher.body["service_tier"] == "flex"
    assert teacher.prompt_hash == next(iter_requests(plain, data, "gpt-5-mini", "train")).prompt_hash
    assert "service_tier" not in next(iter_requests(flex, data, "gpt-4o-mini", "eval")).body


def test_estimate_prices_the_teacher_at_flex(tmp_path):
    spec = load_spec(write_spec(tmp_path, teacher={"model": "gpt-5-mini", "service_tier": "flex"},
                                student={"model": "gpt-4o-mini"}))
    prices = pricing.load_prices()
    plan = build_estimate(spec, dataset.prepare(spec), prices)
    teacher, student = plan.stages[0], plan.stages[2]
    price = prices.price("gpt-5-mini")
    assert teacher.cost_usd == pytest.approx(price.cost(teacher.input_tokens, teacher.output_tokens, flex=True))
    assert teacher.cost_usd < price.cost(teacher.input_tokens, teacher.output_tokens)
    assert "flex tier" in teacher.note and "flex" not in (student.note or "")
    assert any("priced at the flex tier" in note for note in plan.notes)


def test_flex_for_a_model_without_it_is_a_warning(tmp_path):
    spec = load_spec(write_spec(tmp_path, teacher={"model": "gpt-4o", "service_tier": "flex"}))
    plan = build_estimate(spec, dataset.prepare(spec), pricing.load_prices())
    assert any('service_tier = "flex": no flex price for gpt-4o' in w for w in plan.warnings)


def test_an_answer_served_at_flex_is_priced_at_flex():
    recorder = AnswerRecorder.__new__(AnswerRecorder)
    saved = []
    recorder.ws = SimpleNamespace(store=SimpleNamespace(record_answer=saved.append))
    recorder.model, recorder.split, recorder.batch = "gpt-5-mini", "train", False
    recorder.spec = SimpleNamespace(kind="classification",
                                    prompt=SimpleNamespace(answer_field="variety", structured=False))
    recorder.labels, recorder.price = ["Riesling"], pricing.load_prices().price("gpt-5-mini")
    req = SimpleNamespace(row_id=1, prompt_hash="h", gold="Riesling", messages=[], body={})
    usage = SimpleNamespace(prompt_tokens=1_000_000, completion_tokens=0, prompt_tokens_details=None,
                            completion_tokens_details=None)
    message = SimpleNamespace(content="Riesling", refusal=None)
    completion = SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")], usage=usage,
                                 service_tier="flex", _request_id="r")
    outcome = recorder.save_ok(req, SimpleNamespace(headers={}), completion, 0.1, 1)
    assert outcome.cost_usd == pytest.approx(0.125)
    completion.service_tier = "default"
    assert recorder.save_ok(req, SimpleNamespace(headers={}), completion, 0.1, 1).cost_usd == pytest.approx(0.25)
