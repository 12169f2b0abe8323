"""The offline provider's files and fine-tuning jobs, through the real SDK."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid

import openai
import pytest
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

from distill_tui.core.cost import tokens
from distill_tui.core.task import prompts
from distill_tui.offline.measure import demo_rows, demo_spec
from tests.conftest_offline import client_for, provider, running, sdk  # noqa: F401  (fixtures)


def _lines(n: int, offset: int = 0) -> list[dict]:
    spec, _ = demo_spec()
    rows, labels = demo_rows()
    prompt = spec["prompt"]
    out = []
    for row in rows[offset : offset + n]:
        messages = prompts.build_messages(prompt["system"], prompt["user"], row, labels)
        answer = prompts.assistant_content("variety", row["variety"], True)
        out.append({"messages": messages + [{"role": "assistant", "content": answer}]})
    return out


def _upload(client, lines, name="train.jsonl", purpose="fine-tune"):
    text = "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines)
    return client.files.create(file=(name, io.BytesIO(text.encode())), purpose=purpose)


def _wait(client, job_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_files_upload_retrieve_content_list_delete(sdk):
    lines = _lines(3)
    raw = sdk.files.with_raw_response.create(
        file=("a.jsonl", io.BytesIO(b"\n".join(json.dumps(x).encode() for x in lines))), purpose="fine-tune")
    FileObject.model_validate(raw.http_response.json())
    uploaded = raw.parse()
    assert uploaded.purpose == "fine-tune" and uploaded.filename == "a.jsonl" and uploaded.id.startswith("file-")
    assert sdk.files.retrieve(uploaded.id) == uploaded
    content = sdk.files.content(uploaded.id).read()
    assert content == b"\n".join(json.dumps(x).encode() for x in lines) and uploaded.bytes == len(content)
    assert uploaded.id in [f.id for f in sdk.files.list(purpose="fine-tune")]
    assert sdk.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(uploaded.id)
    with pytest.raises(openai.BadRequestError) as info:
        sdk.files.create(file=("a.csv", io.BytesIO(b"x")), purpose="fine-tune")
    assert info.value.param == "file"


def test_a_job_trains_a_model_that_answers(sdk):
    train_lines, valid_lines = _lines(30), _lines(12, offset=30)
    train, valid = _upload(sdk, train_lines), _upload(sdk, valid_lines, "valid.jsonl")
    raw = sdk.fine_tuning.jobs.with_raw_response.create(
        model="offline-student", training_file=train.id, validation_file=valid.id, suffix="wine",
        metadata={"purpose": "test"})
    FineTuningJob.model_validate(raw.http_response.json())
    created = raw.parse()
    assert created.status == "validating_files" and created.fine_tuned_model is None
    assert created.hyperparameters.n_epochs == "auto"
    job = _wait(sdk, created.id)
    assert job.status == "succeeded", job.error
    FineTuningJob.model_validate(sdk.fine_tuning.jobs.with_raw_response.retrieve(job.id).http_response.json())
    # 30 examples: OpenAI's rule (cookbook) gives 100 // 30 = 3 epochs; batch size 0.2 % -> 1.
    assert (job.hyperparameters.n_epochs, job.hyperparameters.batch_size) == (3, 1)
    assert job.fine_tuned_model.startswith("ft:offline-student:offline:wine:")
    assert job.trained_tokens == 3 * sum(tokens.count_training_line(x["messages"], "offline-student") for x in train_lines)
    assert job.finished_at and job.estimated_finish is None and job.metadata == {"purpose": "test"}

    events = list(sdk.fine_tuning.jobs.list_events(job.id, limit=7))
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    assert events[-1].message.startswith("Validating training file") and "successfully completed" in events[0].message
    messages = [e.message for e in events]
    assert any("moving job to queued" in m for m in messages) and "Fine-tuning job started" in messages
    metrics = [e for e in events if e.type == "metrics"]
    assert [e.data["step"] for e in reversed(metrics)] == list(range(1, 91))  # 30 examples × 3 epochs, batch 1
    for event in metrics:
        assert event.data["train_loss"] >= 0 and 0 <= event.data["train_mean_token_accuracy"] <= 1
    evaluated = [e.data for e in metrics if "valid_loss" in e.data]
    assert evaluated and all(0 <= d["valid_mean_token_accuracy"] <= 1 for d in evaluated)
    page = sdk.fine_tuning.jobs.with_raw_response.list_events(job.id, limit=2).http_response.json()
    assert page["has_more"] and len(page["data"]) == 2
    for item in page["data"]:
        FineTuningJobEvent.model_validate(item)
    after = sdk.fine_tuning.jobs.list_events(job.id, after=page["data"][1]["id"], limit=1)
    assert after.data[0].id == events[2].id

    checkpoints = list(sdk.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [90, 60, 30]
    for checkpoint in checkpoints:
        assert checkpoint.fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-{checkpoint.step_number}"
        assert checkpoint.metrics.full_valid_loss is not None
    raw_checkpoints = sdk.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id).http_response.json()
    for item in raw_checkpoints["data"]:
        FineTuningJobCheckpoint.model_validate(item)

    results = sdk.files.retrieve(job.result_files[0])
    assert results.purpose == "fine-tune-results"
    csv_text = base64.b64decode(sdk.files.content(results.id).read()).decode()
    assert csv_text.startswith("step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n")
    assert len(csv_text.splitlines()) == 91

    assert job.fine_tuned_model in [m.id for m in sdk.models.list()]
    schema = prompts.response_format("variety", ["Pinot Noir", "Chardonnay", "Gamay"])
    for model in (job.fine_tuned_model, checkpoints[-1].fine_tuned_model_checkpoint):
        reply = sdk.chat.completions.create(model=model, messages=train_lines[0]["messages"][:2],
                                            response_format=schema)
        assert json.loads(reply.choices[0].message.content)["variety"] in ["Pinot Noir", "Chardonnay", "Gamay"]
    assert sdk.models.delete(job.fine_tuned_model).deleted
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve(job.fine_tuned_model)


def test_explicit_hyperparameters(sdk):
    train = _upload(sdk, _lines(12))
    job = sdk.fine_tuning.jobs.create(
        model="offline-student", training_file=train.id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}}})
    job = _wait(sdk, job.id)
    assert job.status == "succeeded"
    assert (job.hyperparameters.n_epochs, job.hyperparameters.batch_size) == (2, 4)
    assert [c.step_number for c in sdk.fine_tuning.jobs.checkpoints.list(job.id)] == [6, 3]
    assert job.fine_tuned_model.split(":")[3] == "distill"


BAD_FILES = {
    "too few lines": (lambda good: good[:5], "at least 10"),
    "bad json": (lambda good: good[:2] + ["{not json"] + good[3:], "Line 3"),
    "no assistant": (lambda good: good[:3] + [{"messages": good[3]["messages"][:2]}] + good[4:], "Line 4"),
    "empty answer": (lambda good: good[:1] + [{"messages": good[1]["messages"][:2]
                                              + [{"role": "assistant", "content": " "}]}] + good[2:], "Line 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_training_file_fails_the_job(sdk, case):
    make, needle = BAD_FILES[case]
    train = _upload(sdk, make(_lines(12)))
    job = _wait(sdk, sdk.fine_tuning.jobs.create(model="offline-student", training_file=train.id).id)
    assert job.status == "failed"
    assert job.error.code == "invalid_training_file" and job.error.param == "training_file"
    assert needle in job.error.message
    assert job.fine_tuned_model is None and job.finished_at
    assert any(e.level == "error" for e in sdk.fine_tuning.jobs.list_events(job.id))


def test_a_bad_validation_file_fails_the_job(sdk):
    train, valid = _upload(sdk, _lines(12)), _upload(sdk, _lines(3), "valid.jsonl")
    job = sdk.fine_tuning.jobs.create(model="offline-student", training_file=train.id, validation_file=valid.id)
    job = _wait(sdk, job.id)
    assert job.status == "failed" and job.error.param == "validation_file"


def test_cancel(sdk):
    train = _upload(sdk, _lines(12))
    job = sdk.fine_tuning.jobs.create(model="offline-student", training_file=train.id)
    cancelled = sdk.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    time.sleep(0.3)
    again = sdk.fine_tuning.jobs.retrieve(job.id)
    assert again.status == "cancelled" and again.fine_tuned_model is None
    assert "cancelled" in list(sdk.fine_tuning.jobs.list_events(job.id))[0].message
    with pytest.raises(openai.BadRequestError):
        sdk.fine_tuning.jobs.cancel(job.id)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": "gpt-4o-mini"}, "model"),
        ({"model": "offline-teacher"}, "model"),
        ({"training_file": "file-missing"}, "training_file"),
        ({"suffix": "x" * 65}, "suffix"),
        ({"hyperparameters": {"n_epochs": 0}}, "method.supervised.hyperparameters.n_epochs"),
    ],
)
def test_job_create_errors(sdk, kwargs, param):
    train = _upload(sdk, _lines(10))
    args = {"model": "offline-student", "training_file": train.id, **kwargs}
    with pytest.raises(openai.BadRequestError) as info:
        sdk.fine_tuning.jobs.create(**args)
    assert info.value.param == param


def test_a_file_with_the_wrong_purpose_is_refused(sdk):
    batch = _upload(sdk, _lines(10), purpose="batch")
    with pytest.raises(openai.BadRequestError) as info:
        sdk.fine_tuning.jobs.create(model="offline-student", training_file=batch.id)
    assert info.value.param == "training_file"


def test_unknown_job_is_404(sdk):
    with pytest.raises(openai.NotFoundError):
        sdk.fine_tuning.jobs.retrieve("ftjob-nope")


def test_jobs_list_filters_by_metadata_and_pages(sdk):
    tag = uuid.uuid4().hex
    train = _upload(sdk, _lines(10))
    ids = [sdk.fine_tuning.jobs.create(model="offline-student", training_file=train.id, metadata={"tag": tag}).id
           for _ in range(3)]
    first = sdk.fine_tuning.jobs.list(metadata={"tag": tag}, limit=2)
    assert [j.id for j in first.data] == ids[::-1][:2] and first.has_more
    assert [j.id for j in sdk.fine_tuning.jobs.list(metadata={"tag": tag}, limit=2)] == ids[::-1]
    for job_id in ids:
        sdk.fine_tuning.jobs.cancel(job_id)


def test_refuse_training_is_403_training_not_available():
    with running(refuse_training=True) as server:
        client = client_for(server)
        train = _upload(client, _lines(10))  # the upload still works, as on OpenAI
        with pytest.raises(openai.PermissionDeniedError) as info:
            client.fine_tuning.jobs.create(model="offline-student", training_file=train.id)
        assert info.value.status_code == 403
        assert info.value.code == "training_not_available"
        assert info.value.body == {
            "message": "OpenAI is winding down the fine-tuning platform and your organization is no longer able to "
                       "create new fine-tuning training jobs. Learn more https://developers.openai.com/api/docs/"
                       "deprecations#update-to-openais-self-serve-fine-tuning",
            "type": "invalid_request_error", "param": None, "code": "training_not_available"}


def test_state_dir_keeps_files_jobs_models_and_completions_across_restarts(tmp_path):
    lines = _lines(12)
    with running(state_dir=tmp_path, job_seconds=1.0) as server:
        client = client_for(server)
        train = _upload(client, lines)
        done = _wait(client, client.fine_tuning.jobs.create(model="offline-student", training_file=train.id).id)
        stored = client.chat.completions.create(model=done.fine_tuned_model, messages=lines[0]["messages"][:2],
                                                store=True, metadata={"keep": "1"})
    with running(state_dir=tmp_path, job_seconds=3.0) as server:
        client = client_for(server)
        assert client.files.content(train.id).read() == "\n".join(json.dumps(x, ensure_ascii=False)
                                                                   for x in lines).encode()
        again = client.fine_tuning.jobs.retrieve(done.id)
        assert again.status == "succeeded" and again.fine_tuned_model == done.fine_tuned_model
        assert len(list(client.fine_tuning.jobs.list_events(done.id))) > 10
        assert done.fine_tuned_model in [m.id for m in client.models.list()]
        reply = client.chat.completions.create(model=done.fine_tuned_model, messages=lines[0]["messages"][:2])
        assert reply.choices[0].message.content == stored.choices[0].message.content
        assert [c.id for c in client.chat.completions.list(metadata={"keep": "1"})] == [stored.id]
        # A job interrupted while running resumes where it was after a restart.
        interrupted = client.fine_tuning.jobs.create(model="offline-student", training_file=train.id)
        deadline = time.monotonic() + 30
        while client.fine_tuning.jobs.retrieve(interrupted.id).status != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    with running(state_dir=tmp_path, job_seconds=1.0) as server:
        client = client_for(server)
        job = _wait(client, interrupted.id)
        assert job.status == "succeeded"
        steps = [e.data["step"] for e in client.fine_tuning.jobs.list_events(job.id) if e.type == "metrics"]
        assert sorted(steps) == list(range(1, max(steps) + 1))
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
        assert messages.count("Fine-tuning job started") == 1
        client.models.retrieve(job.fine_tuned_model)


def _until(client, job_id, status, timeout=30.0):
    deadline = time.monotonic() + timeout
    while (job := client.fine_tuning.jobs.retrieve(job_id)).status != status and time.monotonic() < deadline:
        time.sleep(0.02)
    return job


def test_pause_and_resume(tmp_path):
    lines = _lines(40)
    with running(state_dir=tmp_path, job_seconds=3.0) as server:
        client = client_for(server)
        train = _upload(client, lines)
        job = client.fine_tuning.jobs.create(model="offline-student", training_file=train.id)
        with pytest.raises(openai.BadRequestError, match="only a running job can be paused"):
            client.fine_tuning.jobs.pause(job.id)  # still validating its files
        assert _until(client, job.id, "running").status == "running"
        paused = client.fine_tuning.jobs.pause(job.id)
        assert paused.status == "paused" and paused.estimated_finish is None
        steps = len([e for e in client.fine_tuning.jobs.list_events(job.id) if e.type == "metrics"])
        time.sleep(1.5)  # longer than the whole running phase: a paused job does not train
        held = client.fine_tuning.jobs.retrieve(job.id)
        assert held.status == "paused" and held.fine_tuned_model is None
        assert len([e for e in client.fine_tuning.jobs.list_events(job.id) if e.type == "metrics"]) <= steps + 1
        with pytest.raises(openai.BadRequestError, match="only a running job can be paused"):
            client.fine_tuning.jobs.pause(job.id)
    # Still paused after a restart of the provider; resumed, it finishes where it was.
    with running(state_dir=tmp_path, job_seconds=1.0) as server:
        client = client_for(server)
        time.sleep(0.5)
        assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"
        resumed = client.fine_tuning.jobs.resume(job.id)
        assert resumed.status == "running" and resumed.estimated_finish is not None
        done = _wait(client, job.id)
        assert done.status == "succeeded" and done.fine_tuned_model
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
        assert "Fine-tuning job paused" in messages and "Fine-tuning job resumed" in messages
        steps = [e.data["step"] for e in client.fine_tuning.jobs.list_events(job.id) if e.type == "metrics"]
        assert sorted(steps) == list(range(1, max(steps) + 1))
        with pytest.raises(openai.BadRequestError, match="only a paused job can be resumed"):
            client.fine_tuning.jobs.resume(job.id)
