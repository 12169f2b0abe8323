"""The offline provider's models and chat completions, through the real SDK."""

from __future__ import annotations

import json
import uuid

import httpx2
import openai
import pytest
from openai.types import Model
from openai.types.chat import ChatCompletion

from distill_tui.core.cost import tokens
from distill_tui.core.task import prompts
from distill_tui.offline import prompt_hash
from tests.conftest_offline import client_for, provider, running, sdk  # noqa: F401  (fixtures)

LABELS = ["Pinot Noir", "Gamay", "Chardonnay", "Bordeaux-style Red Blend"]
USER = ("This wine is produced by Domaine Moreau in the Burgundy region of France. It is described as: "
        '"Red cherry, forest floor and silky tannins." Which grape?')
MESSAGES = [{"role": "system", "content": "You are a sommelier."}, {"role": "user", "content": USER}]


def test_models_list_and_retrieve(sdk):
    raw = sdk.models.with_raw_response.list()
    for item in raw.http_response.json()["data"]:
        Model.model_validate(item)
    models = {m.id: m for m in raw.parse()}
    assert {"offline-teacher", "offline-student", "offline-legacy"} <= set(models)
    assert models["offline-teacher"].shutdown_date is None
    assert models["offline-student"].shutdown_date is None
    assert models["offline-legacy"].shutdown_date == "2027-01-14"
    assert sdk.models.retrieve("offline-student").id == "offline-student"
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.retrieve("gpt-nope")
    assert info.value.code == "model_not_found"


def test_structured_answer_shape_usage_and_headers(sdk):
    response_format = prompts.response_format("variety", LABELS)
    raw = sdk.chat.completions.with_raw_response.create(
        model="offline-teacher", messages=MESSAGES, response_format=response_format, max_tokens=64)
    ChatCompletion.model_validate(raw.http_response.json())
    completion = raw.parse()
    assert raw.headers["x-request-id"].startswith("req_")
    assert completion._request_id == raw.headers["x-request-id"]
    for name in ("limit", "remaining", "reset"):
        for kind in ("requests", "tokens"):
            assert raw.headers[f"x-ratelimit-{name}-{kind}"]
    choice = completion.choices[0]
    answer = json.loads(choice.message.content)
    assert list(answer) == ["variety"] and answer["variety"] in LABELS
    assert choice.finish_reason == "stop"
    assert completion.model == "offline-teacher"
    assert completion.usage.prompt_tokens == tokens.count_chat(MESSAGES, "offline-teacher", response_format)
    assert completion.usage.completion_tokens == tokens.count_text(choice.message.content, "offline-teacher")
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_answers_are_deterministic_and_depend_on_the_text(sdk):
    def ask(text):
        reply = sdk.chat.completions.create(
            model="offline-teacher", messages=[{"role": "user", "content": text}],
            response_format=prompts.response_format("variety", LABELS))
        return json.loads(reply.choices[0].message.content)["variety"]

    burgundy = "Burgundy. Red cherry, raspberry, forest floor, earthy mushroom, silky and elegant."
    bordeaux = "Bordeaux, Pauillac. Cassis, cedar, graphite and tobacco; dense tannins, age-worthy."
    assert ask(burgundy) == ask(burgundy)
    assert ask(burgundy) == "Pinot Noir"
    assert ask(bordeaux) == "Bordeaux-style Red Blend"


def test_plain_json_object_and_foreign_enum_answers(sdk):
    plain = sdk.chat.completions.create(model="offline-student", messages=MESSAGES)
    content = plain.choices[0].message.content
    assert content and "{" not in content and "\n" not in content
    as_object = sdk.chat.completions.create(
        model="offline-student", messages=MESSAGES, response_format={"type": "json_object"})
    assert list(json.loads(as_object.choices[0].message.content)) == ["answer"]
    foreign = sdk.chat.completions.create(
        model="offline-student", messages=MESSAGES, response_format=prompts.response_format("colour", ["Mauve", "Teal"]))
    assert json.loads(foreign.choices[0].message.content) == {"colour": "Mauve"}


def test_max_tokens_truncates_with_finish_reason_length(sdk):
    completion = sdk.chat.completions.create(
        model="offline-teacher", messages=MESSAGES, response_format=prompts.response_format("variety", LABELS),
        max_completion_tokens=2)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 2
    assert not completion.choices[0].message.content.endswith("}")


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({"messages": MESSAGES, "response_format": {"type": "xml"}}, "response_format"),
        ({"messages": MESSAGES, "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
         "response_format.json_schema.name"),
        ({"messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
        ({"messages": MESSAGES, "metadata": {"k": 5}}, "metadata"),
    ],
)
def test_bad_requests_are_400_with_param(sdk, kwargs, param):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="offline-teacher", **kwargs)
    assert info.value.status_code == 400
    assert info.value.param == param
    assert info.value.type == "invalid_request_error"
    assert info.value.response.headers["x-ratelimit-limit-requests"]


def test_unknown_model_is_404_model_not_found(sdk):
    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert info.value.code == "model_not_found"
    assert "gpt-4o" in info.value.message


def test_bad_json_body_and_unknown_route(provider):
    with httpx2.Client() as http:
        bad = http.post(provider.base_url + "/chat/completions", content=b"{nope",
                        headers={"content-type": "application/json"})
        assert bad.status_code == 400 and "parse the JSON" in bad.json()["error"]["message"]
        missing = http.get(provider.base_url + "/assistants")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"


def test_require_key():
    with running(require_key=True) as server:
        with httpx2.Client() as http:
            anonymous = http.get(server.base_url + "/models")
        assert anonymous.status_code == 401
        assert set(anonymous.json()["error"]) == {"message", "type", "param", "code"}
        wrong = client_for(server, default_headers={"Authorization": "Basic abc"})
        with pytest.raises(openai.AuthenticationError) as info:
            wrong.models.list()
        assert info.value.code == "invalid_api_key"
        assert client_for(server).models.list().data


def test_injected_failures_are_500_server_error():
    with running(fail_rate=1.0) as server:
        with pytest.raises(openai.InternalServerError) as info:
            client_for(server).chat.completions.create(model="offline-student", messages=MESSAGES)
        assert info.value.type == "server_error"
        assert server.stats["chat_failed"] == 1 and server.stats["chat_ok"] == 0
    with running(failing_models=["offline-teacher"]) as server:
        client = client_for(server)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="offline-teacher", messages=MESSAGES)
        assert client.chat.completions.create(model="offline-student", messages=MESSAGES).choices


def test_fail_rate_is_seeded():
    def failures(seed):
        with running(fail_rate=0.5, seed=seed) as server:
            client = client_for(server)
            out = []
            for _ in range(12):
                try:
                    client.chat.completions.create(model="offline-student", messages=MESSAGES)
                    out.append(False)
                except openai.InternalServerError:
                    out.append(True)
            return out

    first = failures(3)
    assert first == failures(3)
    assert any(first) and not all(first)


def test_rate_limit_on_requests_gives_429_with_headers():
    with running(rpm=2, burst_seconds=60) as server:
        client = client_for(server)
        ok = client.chat.completions.with_raw_response.create(model="offline-student", messages=MESSAGES)
        assert ok.headers["x-ratelimit-limit-requests"] == "2"
        assert ok.headers["x-ratelimit-remaining-requests"] == "1"
        assert ok.headers["x-ratelimit-reset-requests"].endswith("s")
        client.chat.completions.create(model="offline-student", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="offline-student", messages=MESSAGES)
        error = info.value
        headers = error.response.headers
        assert error.code == "rate_limit_exceeded" and error.type == "requests"
        assert 0 < int(headers["retry-after-ms"]) <= 30_000
        assert 1 <= int(headers["retry-after"]) <= 30
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-limit-tokens"]
        assert server.stats["chat_rate_limited"] == 1 and server.stats["chat_ok"] == 2


def test_rate_limit_on_tokens():
    cost = tokens.count_chat(MESSAGES, "offline-student") + 50
    with running(tpm=cost * 2 + 10, burst_seconds=60) as server:
        client = client_for(server)
        for _ in range(2):
            client.chat.completions.create(model="offline-student", messages=MESSAGES, max_tokens=50)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="offline-student", messages=MESSAGES, max_tokens=50)
        assert info.value.type == "tokens"
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="offline-student", messages=MESSAGES, max_tokens=cost * 3)
        assert "too large" in info.value.message
        assert info.value.response.headers["x-should-retry"] == "false"


def test_stored_completions_filter_paginate_and_messages(sdk):
    run = uuid.uuid4().hex
    ids = []
    for i in range(5):
        messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": f"{USER} #{i}"}]
        reply = sdk.chat.completions.create(
            model="offline-teacher", messages=messages, store=True, metadata={"run": run, "i": str(i)})
        assert reply.metadata == {"run": run, "i": str(i)}
        ids.append(reply.id)
    sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES, store=True,
                                           metadata={"run": "other"})
    sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES, metadata={"run": run})

    page = sdk.chat.completions.list(metadata={"run": run}, limit=2)
    assert [c.id for c in page.data] == ids[:2] and page.has_more
    # Iterating a page follows `after` until has_more is false.
    assert [c.id for c in sdk.chat.completions.list(metadata={"run": run}, limit=2)] == ids
    listed = sdk.chat.completions.with_raw_response.list(metadata={"run": run}, limit=2).http_response.json()
    assert listed["first_id"] == ids[0] and listed["last_id"] == ids[1] and listed["has_more"] is True
    for item in listed["data"]:
        ChatCompletion.model_validate(item)
    newest = sdk.chat.completions.list(metadata={"run": run, "i": "4"}, order="desc")
    assert [c.id for c in newest] == [ids[4]]
    assert not list(sdk.chat.completions.list(metadata={"run": run}, model="offline-student"))

    messages = list(sdk.chat.completions.messages.list(ids[3]))
    assert [(m.role, m.content) for m in messages] == [("system", "sys"), ("user", f"{USER} #3")]
    assert sdk.chat.completions.retrieve(ids[3]).id == ids[3]
    updated = sdk.chat.completions.update(ids[3], metadata={"run": run, "kept": "yes"})
    assert updated.metadata == {"run": run, "kept": "yes"}
    assert sdk.chat.completions.delete(ids[0]).deleted
    assert [c.id for c in sdk.chat.completions.list(metadata={"run": run})] == ids[1:]
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.retrieve(ids[0])


def test_stats_count_attempts_and_duplicate_prompts():
    with running() as server:
        client = client_for(server)
        for _ in range(2):
            client.chat.completions.create(model="offline-student", messages=MESSAGES)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=MESSAGES)
        with httpx2.Client() as http:
            stats = http.get(server.base_url.removesuffix("/v1") + "/_offline/stats").json()
        assert stats["chat_requests"] == 3 and stats["chat_ok"] == 2
        assert stats["requests_by_prompt_hash"] == {prompt_hash(MESSAGES): 2}
        assert server.stats["requests_by_prompt_hash"][prompt_hash(MESSAGES)] == 2
        assert stats["chat_ok_by_model"] == {"offline-student": 2}


def test_default_window_refuses_a_burst_of_a_minutes_allowance():
    """OpenAI may enforce per-minute limits per second: 120 rpm admits about 2 requests at once."""
    with running(rpm=120) as server:
        client = client_for(server)
        answered = refused = 0
        for _ in range(6):
            try:
                raw = client.chat.completions.with_raw_response.create(model="offline-student", messages=MESSAGES)
                answered += 1
                assert raw.headers["x-ratelimit-limit-requests"] == "120"
            except openai.RateLimitError:
                refused += 1
        assert answered >= 2 and refused >= 1
