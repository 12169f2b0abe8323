"""The offline provider's Batch API, through the real SDK: create, retrieve, list, cancel, output files."""

from __future__ import annotations

import io
import json
import time

import openai
import pytest
from openai.types import Batch
from openai.types.chat import ChatCompletion

from distill_tui.offline.cli import _problem, add_arguments, options_from_args
from tests.conftest_offline import client_for, running

MESSAGES = [{"role": "system", "content": "Name the grape."},
            {"role": "user", "content": "Plum, soft, round, cherry and chocolate."}]
SCHEMA = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": {
    "type": "object", "properties": {"variety": {"type": "string", "enum": ["Merlot", "Riesling"]}},
    "required": ["variety"], "additionalProperties": False}}}


def _line(custom_id: str, model: str = "offline-teacher", **body) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": MESSAGES, "max_completion_tokens": 16, **body}}


def _upload(client, lines, purpose: str = "batch"):
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    return client.files.create(file=("batch.jsonl", io.BytesIO(text.encode())), purpose=purpose)


def _create(client, lines):
    upload = _upload(client, lines)
    return client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h",
                                 metadata={"purpose": "test"})


def _wait(client, batch_id: str, timeout: float = 120.0) -> tuple[Batch, list[str]]:
    seen, deadline = [], time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if not seen or seen[-1] != batch.status:
            seen.append(batch.status)
        if batch.status in ("completed", "failed", "expired", "cancelled") or time.monotonic() > deadline:
            return batch, seen
        time.sleep(0.02)


def _lines_of(client, file_id: str) -> dict[str, dict]:
    text = client.files.content(file_id).text
    return {line["custom_id"]: line for line in map(json.loads, text.splitlines())}


def test_a_batch_runs_through_its_states_and_answers_like_chat_completions():
    with running(batch_seconds=0.5) as server:
        client = client_for(server)
        lines = [_line(f"row-{i}", response_format=SCHEMA) for i in range(5)]
        raw = client.batches.with_raw_response.create(
            input_file_id=_upload(client, lines).id, endpoint="/v1/chat/completions", completion_window="24h")
        Batch.model_validate(raw.http_response.json())
        created = raw.parse()
        assert created.status == "validating" and created.id.startswith("batch_") and created.output_file_id is None
        batch, seen = _wait(client, created.id)
        assert batch.status == "completed" and seen[-1] == "completed" and seen[0] == "validating"
        assert set(seen) <= {"validating", "in_progress", "finalizing", "completed"}
        assert batch.request_counts.total == batch.request_counts.completed == 5 and batch.request_counts.failed == 0
        assert batch.error_file_id is None and batch.model == "offline-teacher" and batch.completed_at
        assert server.app.files.get(batch.output_file_id)["purpose"] == "batch_output"
        out = _lines_of(client, batch.output_file_id)
        assert set(out) == {f"row-{i}" for i in range(5)}
        direct = client.chat.completions.create(**lines[0]["body"])
        for line in out.values():
            assert line["response"]["status_code"] == 200 and line["error"] is None
            assert line["id"].startswith("batch_req_")
            answer = ChatCompletion.model_validate(line["response"]["body"])
            assert answer.choices[0].message.content == direct.choices[0].message.content
            assert answer.usage.prompt_tokens == direct.usage.prompt_tokens
        assert batch.usage.input_tokens == 5 * direct.usage.prompt_tokens


def test_failed_lines_go_to_the_error_file():
    with running(batch_seconds=0.2, failing_models=["broken-model"]) as server:
        client = client_for(server)
        batch, _ = _wait(client, _create(client, [_line("good"), _line("unknown", model="gpt-nope"),
                                                   _line("broken", model="broken-model")]).id)
        assert batch.status == "completed"
        assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 2)
        assert set(_lines_of(client, batch.output_file_id)) == {"good"}
        errors = _lines_of(client, batch.error_file_id)
        assert errors["unknown"]["response"]["status_code"] == 404
        assert errors["unknown"]["response"]["body"]["error"]["code"] == "model_not_found"
        assert errors["broken"]["response"]["status_code"] == 500


def test_an_input_file_that_does_not_validate_fails_the_batch():
    with running(batch_seconds=0.1) as server:
        client = client_for(server)
        batch, seen = _wait(client, _create(client, [_line("same"), _line("same")]).id)
        assert batch.status == "failed" and batch.failed_at and "in_progress" not in seen
        assert batch.errors.data[0].code == "duplicate_custom_id" and batch.errors.data[0].line == 2
        wrong_url = dict(_line("a"), url="/v1/embeddings")
        batch, _ = _wait(client, _create(client, [wrong_url]).id)
        assert batch.status == "failed" and batch.errors.data[0].code == "mismatched_endpoint"


def test_create_refuses_what_no_batch_can_take():
    with running() as server:
        client = client_for(server)
        tuning = _upload(client, [_line("a")], purpose="fine-tune")
        with pytest.raises(openai.BadRequestError, match="purpose"):
            client.batches.create(input_file_id=tuning.id, endpoint="/v1/chat/completions", completion_window="24h")
        upload = _upload(client, [_line("a")])
        with pytest.raises(openai.BadRequestError, match="endpoint"):
            client.batches.create(input_file_id=upload.id, endpoint="/v1/embeddings", completion_window="24h")
        with pytest.raises(openai.BadRequestError, match="does not exist"):
            client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")
        with pytest.raises(openai.NotFoundError):
            client.batches.retrieve("batch_nope")


def test_cancel_keeps_what_was_answered():
    with running(batch_seconds=0.2, latency=0.1) as server:
        client = client_for(server)
        batch = _create(client, [_line(f"row-{i}") for i in range(100)])
        deadline = time.monotonic() + 120
        while client.batches.retrieve(batch.id).request_counts.completed < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        cancelling = client.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at
        batch, _ = _wait(client, batch.id)
        assert batch.status == "cancelled" and batch.cancelled_at
        assert 2 <= batch.request_counts.completed < 100
        assert len(_lines_of(client, batch.output_file_id)) == batch.request_counts.completed
        with pytest.raises(openai.ConflictError):
            client.batches.cancel(batch.id)


def test_batches_are_listed_newest_first_in_pages():
    with running(batch_seconds=600) as server:
        client = client_for(server)
        ids = [_create(client, [_line("a")]).id for _ in range(3)]
        first = client.batches.list(limit=2)
        assert [b.id for b in first.data] == ids[:0:-1] and first.has_more
        assert [b.id for b in client.batches.list(limit=2, after=first.data[-1].id).data] == ids[:1]
        assert [b.id for b in client.batches.list(limit=2)] == ids[::-1]  # the SDK follows the pages
        assert client.batches.retrieve(ids[0]).metadata == {"purpose": "test"}


def test_batches_survive_a_restart(tmp_path):
    with running(batch_seconds=0.2, state_dir=tmp_path) as server:
        client = client_for(server)
        done, _ = _wait(client, _create(client, [_line("a"), _line("b")]).id)
        assert done.status == "completed"
    with running(batch_seconds=600, state_dir=tmp_path) as server:
        client = client_for(server)
        again = client.batches.retrieve(done.id)
        assert again.status == "completed" and again.output_file_id == done.output_file_id
        assert set(_lines_of(client, again.output_file_id)) == {"a", "b"}
        assert [b.id for b in client.batches.list()] == [done.id]


def test_serve_offline_takes_batch_seconds():
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = options_from_args(parser.parse_args(["--batch-seconds", "1.5"]))
    assert options.batch_seconds == 1.5 and _problem(options) is None
    negative = options_from_args(parser.parse_args(["--batch-seconds", "-1"]))
    assert _problem(negative) == "--batch-seconds must not be negative"
