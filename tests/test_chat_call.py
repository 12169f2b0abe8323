"""The engine's chat call (`client.post` with the body as it is) sends what the SDK's typed `create`
sends, to OpenAI and to Azure alike, raises the SDK's errors, and reads the answer as the recorder
reads the SDK's models."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from distill_tui.core.provider.api_errors import BadResponse
from distill_tui.core.provider.chat_call import read_completion, send_chat

BODY = {
    "model": "gpt-4.1-mini",
    "messages": [{"role": "system", "content": "Answer with one label."}, {"role": "user", "content": "Tannic, dark fruit."}],
    "max_completion_tokens": 20,
    "temperature": 0,
    "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}},
    "metadata": {"distillation": "t"},
    "store": True,
}
ANSWER = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4.1-mini",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "{\"label\": \"Merlot\"}"}}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35,
              "prompt_tokens_details": {"cached_tokens": 0}},
}


def _client(kind: str, seen: list, status: int = 200, content: bytes | None = None):
    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        body = content if content is not None else json.dumps(ANSWER).encode()
        return httpx2.Response(status, content=body, headers={"content-type": "application/json",
                                                              "x-request-id": "req_1"})

    http = httpx2.Client(transport=httpx2.MockTransport(handle))
    if kind == "azure":
        return openai.AzureOpenAI(azure_endpoint="https://example.openai.azure.com", api_key="az-key",
                                  api_version="2024-10-21", http_client=http, max_retries=0)
    return openai.OpenAI(base_url="https://api.example.com/v1", api_key="sk-test", http_client=http, max_retries=0)


@pytest.mark.parametrize("kind", ["openai", "azure"])
def test_the_same_request_as_the_typed_create(kind):
    typed, plain = [], []
    _client(kind, typed).chat.completions.create(**BODY)
    _client(kind, plain).post("/chat/completions", cast_to=httpx2.Response, body=BODY)
    send_chat(_client(kind, plain), BODY)
    for request in plain:
        assert request.method == typed[0].method and request.url == typed[0].url
        assert json.loads(request.content) == json.loads(typed[0].content) == BODY
        for header in ("authorization", "api-key", "content-type"):
            assert request.headers.get(header) == typed[0].headers.get(header)
    if kind == "azure":  # the deployment comes from the body's model, as with the typed call
        assert plain[0].url.path == "/openai/deployments/gpt-4.1-mini/chat/completions"
        assert plain[0].url.params["api-version"] == "2024-10-21" and plain[0].headers["api-key"] == "az-key"
    else:
        assert plain[0].headers["authorization"] == "Bearer sk-test"


def test_the_answer_reads_like_the_sdk_model():
    response = send_chat(_client("openai", []), BODY)
    completion = read_completion(response)
    sdk = openai.types.chat.ChatCompletion.model_validate(ANSWER)
    assert completion.choices[0].message.content == sdk.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 30 and completion.usage.prompt_tokens_details.cached_tokens == 0
    # Fields the provider left out read as None, as on the SDK's models.
    assert completion.choices[0].message.refusal is None and completion.service_tier is None
    assert completion.usage.completion_tokens_details is None
    assert response.headers["x-request-id"] == "req_1"


def test_errors_are_the_sdks():
    with pytest.raises(openai.RateLimitError):
        send_chat(_client("openai", [], status=429, content=b'{"error": {"message": "slow down"}}'), BODY)
    with pytest.raises(openai.InternalServerError):
        send_chat(_client("azure", [], status=502, content=b"bad gateway"), BODY)


@pytest.mark.parametrize("content, what", [
    (b"<html>proxy error</html>", "is not valid JSON"),
    (b'{"choices": [{"message": {"content": "x"}}', "is not valid JSON"),  # cut off
    (b'{"id": "x"}', "has no choices"),
    (b'{"choices": []}', "has no choices"),
    (b'{"choices": [{"index": 0}]}', "has no choices"),
    (b'["not", "an", "object"]', "is not a JSON object"),
    (b"\xff\xfe", "is not valid JSON"),
])
def test_a_broken_200_is_a_bad_response_of_one_line(content, what):
    response = send_chat(_client("openai", [], content=content), BODY)
    with pytest.raises(BadResponse, match=what) as caught:
        read_completion(response)
    assert "\n" not in str(caught.value) and "200" in str(caught.value)


@pytest.mark.parametrize("usage", ["n/a", [1, 2], 7, {"prompt_tokens": "many", "completion_tokens": 3},
                                   {"prompt_tokens": 3, "completion_tokens": 2,
                                    "completion_tokens_details": {"reasoning_tokens": "some"}}])
def test_a_usage_of_another_shape_is_counted_by_us_not_a_stopped_run(tmp_path, usage):
    """An OpenAI-compatible server's own `usage` shape: the row is saved with tokens counted here."""
    from distill_tui.core.run.generate import run_teacher
    from distill_tui.core.workspace.workspace import Workspace
    from tests.helpers import write_spec

    answer = {**ANSWER, "usage": usage, "choices": [{"index": 0, "finish_reason": "stop",
                                                     "message": {"role": "assistant", "content": "Merlot"}}]}

    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=answer)

    client = openai.OpenAI(base_url="https://api.example.com/v1", api_key="sk-test",
                           http_client=httpx2.Client(transport=httpx2.MockTransport(handle)))
    ws = Workspace.open(write_spec(tmp_path, rows=10, provider={"base_url": "https://api.example.com/v1"}))
    result = run_teacher(ws, client=lambda: client)
    assert result.stopped is None and result.done == result.total > 0, result.message
    answers = ws.store.answers(ws.spec.teacher.model, "train")
    assert len(answers) == result.done and all(a.prompt_tokens > 0 for a in answers)
