"""One chat completion for the generation engine, sent through the SDK's plain `post`.

`client.chat.completions.create` first walks its keyword arguments against the SDK's typed request
params (`maybe_transform`), then builds a pydantic `ChatCompletion` from the answer. Our request
bodies are already plain JSON, and the engine reads six fields of the answer: on a client bound by
its own CPU (thousands of requests a minute, one Python process) those two steps were a third of
all the CPU a row cost, more than everything else the engine does for it. `client.post` is the
SDK's documented way to send a body as it is: same client, same authentication (Azure's deployment
paths included), same errors (`openai.APIStatusError` and its kind for every non-2xx); only the
typed layer is skipped. The answer's JSON is read into `Fields`, which reads like the SDK's models
(`completion.choices[0].message.content`, None for a field the provider left out), so the recorder
takes both it and the SDK's objects (Batch API results) alike.
"""

from __future__ import annotations

import json
from typing import Any

from distill_tui.core.provider import api_errors

CHAT_PATH = "/chat/completions"


class Fields(dict):
    """A JSON object whose keys read as attributes, None for a missing one (as the SDK's models
    give None for a field the provider did not send)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


def send_chat(client: Any, body: dict) -> Any:
    """POST one chat completion request; returns the HTTP response (status 2xx: the SDK raised on any other).

    Args:
        client: An `openai.OpenAI` or `openai.AzureOpenAI` client (its retries, timeout and auth apply).
        body: The request body, as the API takes it.
    """
    import httpx2

    return client.post(CHAT_PATH, cast_to=httpx2.Response, body=body)


def read_completion(response: Any) -> Fields:
    """The chat completion a 2xx response carries, as `Fields`.

    Raises:
        BadResponse: the body is not JSON, is cut off, or has no `choices` with a message (a proxy's
            error page, a dropped connection): a fault of this attempt, not of the run.
    """
    try:
        completion = json.loads(response.content, object_pairs_hook=Fields)
    except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
        raise api_errors.BadResponse(_bad_body(response, "is not valid JSON")) from exc
    choices = completion.get("choices") if isinstance(completion, Fields) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Fields) \
            or not isinstance(choices[0].message, Fields):
        what = "has no choices" if isinstance(completion, Fields) else "is not a JSON object"
        raise api_errors.BadResponse(_bad_body(response, what))
    return completion


def _bad_body(response: Any, what: str) -> str:
    kind = (response.headers.get("content-type") or "no content type").split(";")[0]
    text = api_errors.one_line(response.text, 80)
    return f"the provider answered {response.status_code} ({kind}) with a body that {what}: {text!r}"
