"""Engine cases the offline provider cannot produce, through the SDK on a mock transport, and the
small pieces (error classes, queue order, formats)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import httpx2
import openai
import pytest

from distill_tui.core.run import progress_text as fmt
from distill_tui.core.run.engine_parts import Limits, RowQueue, classify
from distill_tui.core.run.generate import run_teacher
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec

MOCK_URL = "http://mock.invalid/v1"


def _completion(body: dict, content: str | None, usage: bool = True, refusal: str | None = None) -> dict:
    out = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content, "refusal": refusal}}],
    }
    if usage:
        out["usage"] = {"prompt_tokens": 100, "completion_tokens": 8, "total_tokens": 108,
                        "prompt_tokens_details": {"cached_tokens": 40}}
    return out


def _error(status: int, code: str | None, message: str = "nope", headers: dict | None = None) -> httpx2.Response:
    return httpx2.Response(status, headers=headers or {},
                           json={"error": {"message": message, "type": "x", "param": None, "code": code}})


def _mock_workspace(tmp_path: Path, handler, **generation) -> tuple[Workspace, Counter]:
    calls: Counter = Counter()
    lock = threading.Lock()

    def counting(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        with lock:
            calls[body["messages"][-1]["content"]] += 1
            calls["total"] += 1
        return handler(body)

    spec = write_spec(tmp_path, rows=40, provider={"base_url": MOCK_URL}, generation={"workers": 4, **generation})
    ws = Workspace.open(spec)
    ws._client = openai.OpenAI(api_key="k", base_url=MOCK_URL, max_retries=0,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(counting)))
    return ws, calls


def _ok(body: dict) -> httpx2.Response:
    label = body["response_format"]["json_schema"]["schema"]["properties"]["variety"]["enum"][0]
    content = json.dumps({"variety": label})
    return httpx2.Response(200, headers={"x-request-id": "req_mock"}, json=_completion(body, content))


def test_out_of_quota_stops_at_once(tmp_path):
    ws, calls = _mock_workspace(tmp_path, lambda body: _error(429, "insufficient_quota", "You exceeded your quota"))
    result = run_teacher(ws)
    assert result.stopped == "fatal" and result.exit_code == 1
    assert result.fatal_error.startswith("out of quota (429 insufficient_quota)")
    assert calls["total"] <= 4 and result.rate_limited == 0


def test_permission_denied_stops(tmp_path):
    ws, calls = _mock_workspace(tmp_path, lambda body: _error(403, None, "no access"))
    result = run_teacher(ws)
    assert result.stopped == "fatal" and "403" in result.fatal_error and calls["total"] <= 4


def test_a_400_blaming_one_row_fails_only_that_row(tmp_path):
    def handler(body):
        if "Points: 85." in body["messages"][-1]["content"]:
            return _error(400, "context_length_exceeded", "too long")
        return _ok(body)

    ws, calls = _mock_workspace(tmp_path, handler)
    result = run_teacher(ws)
    bad = [a for a in ws.store.answers("offline-teacher", "train") if a.status == "failed"]
    assert result.stopped is None and result.failed == len(bad) > 0 and result.done == result.total - len(bad)
    assert all("400" in a.error for a in bad)
    assert all(n == 1 for k, n in calls.items() if k != "total")  # a row's 400 is not retried


def test_a_400_on_every_request_stops(tmp_path):
    ws, calls = _mock_workspace(tmp_path, lambda body: _error(400, "unsupported_parameter", "no response_format"))
    result = run_teacher(ws)
    assert result.stopped == "fatal" and result.exit_code == 2 and calls["total"] <= 4


def test_retry_after_429s_then_success(tmp_path):
    state = {"n": 0}
    lock = threading.Lock()

    def handler(body):
        with lock:
            state["n"] += 1
            n = state["n"]
        if n % 3 == 0:
            return _error(429, "rate_limit_exceeded", "slow down", {"retry-after-ms": "20"})
        return _ok(body)

    ws, calls = _mock_workspace(tmp_path, handler)
    result = run_teacher(ws)
    assert result.done == result.total and result.failed == 0
    assert result.rate_limited > 0 and result.requests == result.total + result.rate_limited


def test_usage_cached_tokens_refusal_and_missing_usage(tmp_path):
    def handler(body):
        text = body["messages"][-1]["content"]
        if "Points: 81." in text:
            return httpx2.Response(200, json=_completion(body, None, refusal="I can't help"))
        if "Points: 82." in text:
            return httpx2.Response(200, json=_completion(body, json.dumps({"variety": "Zinfandel"}), usage=False))
        return _ok(body)

    ws, _ = _mock_workspace(tmp_path, handler)
    result = run_teacher(ws)
    assert result.done == result.total
    answers = ws.store.answers("offline-teacher", "train")
    normal = next(a for a in answers if a.valid)
    assert normal.cached_tokens == 40 and normal.request_id == "req_mock"
    price = ws.prices.price("offline-teacher")
    assert normal.cost_usd == pytest.approx(price.cost(100, 8, cached_tokens=40))
    refused = [a for a in answers if a.problem and a.problem.startswith("refusal")]
    assert refused and all(a.label is None and not a.valid for a in refused)
    no_usage = [a for a in answers if a.label == "Zinfandel"]
    assert no_usage and all(a.prompt_tokens > 0 and a.completion_tokens > 0 and a.cost_usd > 0 for a in no_usage)
    assert all(a.problem == "answer is not one of the labels" for a in no_usage)


def _status_error(cls, status: int, code: str | None):
    request = httpx2.Request("POST", MOCK_URL + "/chat/completions")
    response = httpx2.Response(status, request=request)
    body = {"error": {"message": "m", "code": code}}
    return cls("m", response=response, body=body)


@pytest.mark.parametrize(
    ("exc", "succeeded", "kind"),
    [
        (_status_error(openai.RateLimitError, 429, "rate_limit_exceeded"), False, "rate_limited"),
        (_status_error(openai.RateLimitError, 429, "insufficient_quota"), True, "fatal"),
        (_status_error(openai.AuthenticationError, 401, None), True, "fatal"),
        (_status_error(openai.NotFoundError, 404, None), True, "fatal"),
        (_status_error(openai.InternalServerError, 500, None), False, "retry"),
        (_status_error(openai.InternalServerError, 503, None), False, "retry"),
        (_status_error(openai.BadRequestError, 400, "context_length_exceeded"), False, "row"),
        (_status_error(openai.BadRequestError, 400, None), False, "fatal"),
        (_status_error(openai.BadRequestError, 400, None), True, "row"),
        (_status_error(openai.UnprocessableEntityError, 422, None), False, "row"),
        (openai.APITimeoutError(httpx2.Request("POST", MOCK_URL)), False, "retry"),
        (openai.APIConnectionError(request=httpx2.Request("POST", MOCK_URL)), False, "retry"),
        (ValueError("bug"), False, "fatal"),
    ],
)
def test_classify(exc, succeeded, kind):
    assert classify(exc, rows_succeeded=succeeded) == kind


def test_queue_puts_due_retries_first_and_returns_unsent_rows_first():
    from distill_tui.core.task.requests import RowRequest

    reqs = [RowRequest(i, "train", "g", {}, str(i)) for i in range(3)]
    queue = RowQueue(reqs)
    first = queue.pop(0.0)
    assert first.req.row_id == 0
    first.attempts = 1
    queue.later(first, 5.0)
    assert queue.pop(1.0).req.row_id == 1  # retry not due yet: fresh rows go on
    second = queue.pop(6.0)
    assert second.req.row_id == 0  # due retry before the fresh row 2
    queue.push_back(second)
    assert queue.pop(6.0).req.row_id == 0
    assert queue.pop(6.0).req.row_id == 2
    assert queue.pop(6.0) is None


def test_limits_keep_the_slower_of_spec_and_provider():
    limits = Limits(rpm=6000)
    assert limits.current_rates()["requests_per_min"] == 6000
    limits.observe_headers({"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "600"})
    assert limits.current_rates()["requests_per_min"] == 600
    assert Limits().current_rates()["requests_per_min"] is None


def test_formats():
    assert fmt.money(0.01234) == "$0.0123" and fmt.money(12.3) == "$12.30" and fmt.money(None) == "unknown"
    assert fmt.duration(5) == "5s" and fmt.duration(125) == "2m05s" and fmt.duration(7300) == "2h01m"
    assert fmt.duration(None) == "–"
    assert fmt.count(950) == "950" and fmt.count(1234) == "1.2k" and fmt.count(2_500_000) == "2.5M"
    assert fmt.limiter_text({"requests_per_min": 1200, "tokens_per_min": None, "scale": 0.9,
                             "paused_for_s": 0.0}) == "1,200 rpm (slowed to 90%)"
    assert fmt.limiter_text({"requests_per_min": None, "tokens_per_min": None}) == "not limited"


def test_the_summary_names_why_the_last_row_failed():
    from types import SimpleNamespace

    from distill_tui.core.run.engine_parts import RecentErrors
    from distill_tui.core.run.generate import _last_failure

    errors = RecentErrors(8)
    tally = SimpleNamespace(last_errors=errors)
    assert _last_failure(tally) == ""
    errors.add(3, "429 rate limited", final=False)
    errors.answered(3)
    assert _last_failure(tally) == ""  # a retry that was answered is no failure
    errors.add(5, "cannot reach the provider: Connection error.", final=True)
    assert _last_failure(tally) == " (last error: cannot reach the provider: Connection error.)"
