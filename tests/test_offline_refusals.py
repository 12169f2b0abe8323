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
    # Output is planned by the longest label: an upper bound of what the answers bill.
    assert 0 < sum(a.completion_tokens for a in ws.store.answers("offline-teacher", "train")) <= plan.output_tokens


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


# --- unknown parameters ------------------------------------------------------------------------------------
def _strict(schema: dict, name: str = "wine") -> dict:
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def test_an_unknown_parameter_is_refused_as_openai_words_it(sdk):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES, extra_body={"max_output_tokens": 5})
    assert info.value.status_code == 400
    assert info.value.body["message"] == "Unrecognized request argument supplied: max_output_tokens"
    assert info.value.body["type"] == "invalid_request_error"


def test_every_parameter_the_sdk_documents_is_accepted(sdk):
    reply = sdk.chat.completions.create(
        model="offline-teacher", messages=MESSAGES, max_completion_tokens=20, temperature=0.5, top_p=1, n=1,
        seed=1, stop=["\n\n"], store=True, metadata={"run": "r"}, user="u", safety_identifier="s",
        presence_penalty=0, frequency_penalty=0, logit_bias={}, service_tier="auto", prompt_cache_key="k",
        parallel_tool_calls=True, logprobs=False, response_format={"type": "json_object"})
    assert reply.choices[0].message.content


def test_the_apps_requests_are_not_refused(tmp_path, offline_server):
    from distill_tui.core.task.requests import iter_requests

    ws = Workspace.open(write_spec(tmp_path, rows=20, provider={"base_url": offline_server.base_url},
                                   generation={"store": True, "metadata": {"run": "x"}, "temperature": 0.2}))
    body = next(iter_requests(ws.spec, ws.data, ws.spec.teacher.model)).body
    assert {"store", "metadata", "temperature", "response_format", "max_completion_tokens"} <= set(body)
    reply = client_for(offline_server).chat.completions.create(**body)
    assert reply.choices[0].finish_reason == "stop"


# --- strict schemas ------------------------------------------------------------------------------------------
def _refusal(sdk, response_format) -> dict:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES, response_format=response_format)
    assert info.value.body["type"] == "invalid_request_error" and info.value.body["param"] == "response_format"
    assert info.value.body["code"] is None
    return info.value.body


def test_a_strict_schema_without_additional_properties_false_is_refused(sdk):
    body = _refusal(sdk, _strict({"type": "object", "properties": {"variety": {"type": "string"}},
                                  "required": ["variety"]}))
    assert body["message"] == ("Invalid schema for response_format 'wine': In context=(), 'additionalProperties' "
                               "is required to be supplied and to be false.")
    nested = {"type": "object", "additionalProperties": False, "required": ["place"], "properties": {
        "place": {"type": "object", "properties": {"region": {"type": "string"}}, "required": ["region"]}}}
    assert "In context=('properties', 'place'), 'additionalProperties'" in _refusal(sdk, _strict(nested))["message"]


def test_a_strict_schema_with_a_property_not_required_is_refused(sdk):
    body = _refusal(sdk, _strict({"type": "object", "additionalProperties": False, "required": ["variety"],
                                  "properties": {"variety": {"type": "string"}, "why": {"type": "string"}}}))
    assert body["message"] == ("Invalid schema for response_format 'wine': In context=(), 'required' is required "
                               "to be supplied and to be an array including every key in properties. Missing 'why'.")


def test_a_schema_that_is_not_strict_is_not_held_to_the_strict_rules(sdk):
    loose = {"type": "json_schema", "json_schema": {"name": "wine", "schema": {
        "type": "object", "properties": {"variety": {"type": "string"}}}}}
    assert sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES, response_format=loose).choices


def test_enums_over_the_structured_output_limits_are_refused(sdk):
    from distill_tui.core.task import prompts

    assert sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES,
                                       response_format=prompts.response_format("v", [f"l{i}" for i in range(1000)]))
    body = _refusal(sdk, prompts.response_format("v", [f"l{i}" for i in range(1001)]))
    assert "1001 enum values" in body["message"] and "limit of 1000" in body["message"]
    # 251 values of 60 characters (15,060) is over; 250 of them, or 251 of 59 characters, is not.
    long = [f"{i:03d}" + "x" * 57 for i in range(251)]
    assert "15060 characters" in _refusal(sdk, prompts.response_format("v", long))["message"]
    for labels in (long[:250], [v[:-1] for v in long]):
        assert sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES,
                                           response_format=prompts.response_format("v", labels))


def test_batch_lines_are_refused_the_same_way():
    from tests.test_offline_batches import _create, _line, _lines_of
    from tests.test_offline_batches import _wait as _wait_batch

    loose = _strict({"type": "object", "properties": {"variety": {"type": "string"}}, "required": ["variety"]})
    with running(batch_seconds=0.2) as server:
        client = client_for(server)
        batch, _ = _wait_batch(client, _create(client, [_line("good"), _line("odd", verbosity_level="low"),
                                                         _line("loose", response_format=loose)]).id)
        assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 2)
        errors = _lines_of(client, batch.error_file_id)
        assert errors["odd"]["response"]["status_code"] == 400
        assert errors["odd"]["response"]["body"]["error"]["message"] == (
            "Unrecognized request argument supplied: verbosity_level")
        assert "'additionalProperties' is required" in errors["loose"]["response"]["body"]["error"]["message"]


def test_the_sdks_own_strict_schema_from_a_pydantic_model_is_accepted(sdk):
    from pydantic import BaseModel

    class Place(BaseModel):
        region: str

    class Answer(BaseModel):
        answer: str
        place: Place

    # Accepted (the offline learner fills only the first field, so the reply is not parsed here).
    raw = sdk.chat.completions.with_raw_response.parse(model="offline-teacher", messages=MESSAGES, response_format=Answer)
    assert raw.http_response.status_code == 200
