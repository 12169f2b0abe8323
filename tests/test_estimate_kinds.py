"""The estimate of extraction and generation tasks (issue 14): free-text and JSON answers priced from
the references' token lengths, or from a stated assumption; the schema counted and checked; the
held-out cap said."""

from __future__ import annotations

import pytest

from distill_tui.core.cost import pricing, tokens
from distill_tui.core.cost.answers import ASSUMED_ANSWER_TOKENS
from distill_tui.core.cost.estimate import build_estimate
from distill_tui.core.task import dataset
from distill_tui.core.task.spec import load_spec
from tests.test_task_kinds import SCHEMA, qa_rows, write


def estimate(path):
    spec = load_spec(path)
    data = dataset.prepare(spec)
    return spec, data, build_estimate(spec, data, pricing.load_prices())


def test_generation_answers_are_priced_from_the_references(tmp_path):
    spec, data, est = estimate(write(tmp_path, dataset={"reference": "answer"}))
    enc = tokens.encoding_for("gpt-4o")
    mean = sum(len(enc.encode_ordinary(t)) for t in data.frame["answer"]) / len(data.frame)
    teacher = est.stages[0]
    assert teacher.output_tokens == round(mean) * teacher.requests
    assert "generation answers sized by the references' mean length" in est.notes
    assert est.structured_outputs is None  # free text: no schema to check


def test_without_references_the_assumption_is_said(tmp_path):
    _, _, est = estimate(write(tmp_path))
    assert est.stages[0].output_tokens == ASSUMED_ANSWER_TOKENS * est.stages[0].requests
    assert any(f"assumed {ASSUMED_ANSWER_TOKENS} tokens each" in n and "generate --limit" in n for n in est.notes)


def test_extraction_counts_and_checks_the_schema(tmp_path):
    _, _, plain = estimate(write(tmp_path, dataset={"reference": "fields"}))
    _, _, ext = estimate(write(tmp_path, prompt={"schema": SCHEMA}, dataset={"reference": "fields"}))
    per_row = (ext.stages[0].input_tokens - plain.stages[0].input_tokens) / ext.stages[0].requests
    assert per_row > 20  # the schema is part of every prompt
    assert ext.structured_outputs is not None and ext.structured_outputs["ok"]


def test_max_rows_is_in_the_estimate(tmp_path):
    _, _, est = estimate(write(tmp_path, qa_rows(400), evaluate={"max_rows": 40}))
    assert est.eval_rows == 40 and est.stages[1].requests == 40 and est.train_rows == 300
    assert any("max_rows: 40 of the 100 held-out rows are evaluated" in n for n in est.notes)


@pytest.mark.parametrize("sections", [{"dataset": {"label": "grape"}}])
def test_classification_estimates_are_unchanged(tmp_path, sections):
    _, _, est = estimate(write(tmp_path, **sections))
    assert "answers sized by the longest label" in est.notes


def test_a_schema_a_fine_tuned_model_would_refuse_is_warned(tmp_path):
    schema = {**SCHEMA, "properties": {**SCHEMA["properties"],
                                       "price": {"type": ["number", "null"], "minimum": 0}}}
    _, _, est = estimate(write(tmp_path, prompt={"schema": schema}))
    assert any("[prompt] schema uses minimum: OpenAI's fine-tuned models refuse" in w for w in est.warnings)
    _, _, plain = estimate(write(tmp_path, prompt={"schema": SCHEMA}))
    assert not any("fine-tuned models refuse" in w for w in plain.warnings)
    _, _, local = estimate(write(tmp_path, prompt={"schema": schema}, finetune={"backend": "local"}))
    assert not any("fine-tuned models refuse" in w for w in local.warnings)
