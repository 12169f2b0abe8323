"""Every screen opens on an extraction or generation task (issue 14): no label column, free-text or
JSON answers saved for train and eval rows, without a crash or an error line."""

from __future__ import annotations

import json

import pytest

from distill_tui.core.evaluate.comparison import build_table
from distill_tui.core.evaluate.run import models_of_interest
from distill_tui.tui.app import DistillApp
from distill_tui.core.workspace.workspace import Workspace
from tests.settle import workers_done
from tests.test_eval_kinds import BASE_M, SCHEMA, TEACHER_M, answer, qa_spec
from tests.test_export_kinds import teach


@pytest.mark.parametrize("sections", [
    {},  # generation, no reference: the teacher's answers are the targets
    {"dataset": {"reference": "answer"}},
    {"prompt": {"schema": SCHEMA}, "dataset": {"reference": "fields"}},
], ids=["generation", "generation-with-reference", "extraction"])
async def test_every_screen_opens_on_a_task_without_labels(tmp_path, sections):
    spec = qa_spec(tmp_path, **sections)
    extraction = "prompt" in sections
    teach(spec, lambda i, r: json.dumps({"grape": f"Grape {i}"}) if extraction else f"Answer {i}.")
    ws = Workspace.open(spec)
    for model in (TEACHER_M, BASE_M):
        answer(ws, model, [json.dumps({"grape": "Merlot"}) if extraction else f"Answer {i}." for i in range(10)])
    assert build_table(ws, models_of_interest(ws)).rows[1].n == 10
    app = DistillApp(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        for key in "123456":
            await pilot.press(key)
            await pilot.pause()
            await workers_done(app)
            await pilot.pause()
        await pilot.press("1", "down", "down")
        await workers_done(app)
        await pilot.pause()
        prompt = str(app.screen.query_one("#prompt-text").render())
        assert "user: Q: Which grape" in prompt
        assert ("reference: — (the teacher's answer)" in prompt) is (not sections)
        assert "task" in str(app.screen.query_one("#status").render())
    ws.close()


async def test_reference_field_of_a_free_text_spec_restores_its_reference(tmp_path):
    app = DistillApp(Workspace.open(qa_spec(tmp_path, dataset={"reference": "answer"})))
    async with app.run_test(size=(100, 30)) as pilot:
        await workers_done(app)
        await pilot.pause()
        field = app.screen.query_one("#f-label")  # the free-text task's reference column
        assert field.value == "answer"
        field.value = "question"
        app.screen._restore_fields()  # what Esc in a field and a refused edit do
        await pilot.pause()
        assert field.value == "answer"
