"""The offline provider refuses what the real API refuses and bills by its own counting, through the real SDK."""

from __future__ import annotations

import openai
import pytest

from distill_tui.core.cost import tokens
from distill_tui.core.run.generate import run_teacher
from distill_tui.core.run.plan import teacher_plan
from distill_tui.core.workspace.workspace import Workspace
from tests.conftest_offline import client_for, provider, running, sdk  # noqa: F401  (fixtures)
from tests.helpers import write_spec
from tests.test_offline_jobs import _lines, _upload, _wait

MESSAGES = [{"role": "system", "content": "You are a sommelier."},
            {"role": "user", "content": "Red cherry, forest floor and silky tannins. Which grape?", "name": "ann"}]


# --- the bill is the provider's own count --------------------------------------------------------------
def test_the_estimate_agrees_with_the_offline_bill_for_a_generation_run(tmp_path, offline_server):
    ws = Workspace.open(write_spec(tmp_path, rows=40, provider={"base_url": offline_server.base_url},
                                   generation={"workers": 2}))
    plan = teacher_plan(ws)
    result = run_teacher(ws)
    assert result.failed == 0 and result.done == plan.total
    billed = sum(a.prompt_tokens for a in ws.store.answers("offline-teacher", "train"))
    assert billed == plan.input_tokens


def test_the_offline_bill_does_not_use_the_apps_counting(sdk, monkeypatch):
    schema = {"type": "json_schema", "json_schema": {"name": "a", "strict": True, "schema": {
        "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
        "additionalProperties": False}}}
    before = sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES, response_format=schema)
    assert before.usage.prompt_tokens == tokens.count_chat(MESSAGES, "offline-teacher", schema)
    lines = _lines(12)
    per_epoch = sum(tokens.count_training_line(x["messages"], "offline-student") for x in lines)
    # The app's counting goes wrong: the provider's bill must not follow it.
    monkeypatch.setattr(tokens, "count_chat", lambda *a, **k: 7)
    monkeypatch.setattr(tokens, "count_training_line", lambda *a, **k: 7)
    monkeypatch.setattr(tokens, "encoding_for", lambda model: tokens.get_encoding("cl100k_base"))
    after = sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES, response_format=schema)
    assert after.usage.prompt_tokens == before.usage.prompt_tokens
    assert after.usage.completion_tokens == before.usage.completion_tokens
    job = _wait(sdk, sdk.fine_tuning.jobs.create(model="offline-student", training_file=_upload(sdk, lines).id).id)
    assert job.status == "succeeded", job.error
    assert job.trained_tokens == job.hyperparameters.n_epochs * per_epoch
