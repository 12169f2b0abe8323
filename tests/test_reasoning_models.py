"""Reasoning models (o-series, gpt-5) as teacher, student or judge: what they accept is data
(data/models.toml), requests leave out what they refuse, and their reasoning tokens are counted."""

from __future__ import annotations

import pytest

from distill_tui import locations
from distill_tui.core.common.errors import UserError
from distill_tui.core.cost import capabilities


# model data -----------------------------------------------------------------------------------------
def test_reasoning_and_sampling_are_dated_data_with_a_source():
    table = capabilities.load_models()
    for name in ("o3", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "offline-reasoner"):
        rules = table.rules(name)
        assert rules.reasoning and rules.sampling == frozenset(), name
        assert not rules.accepts("temperature") and not rules.accepts("top_p")
        assert table.entry(name)["structured_outputs"] is True
    for name in ("gpt-4o-2024-08-06", "ft:gpt-4o-mini-2024-07-18:acme:wine:abc", "gpt-4.1", "offline-teacher"):
        rules = table.rules(name)
        assert not rules.reasoning and rules.accepts("temperature") and rules.accepts("top_p"), name
    unknown = table.rules("my-local-llm")  # not listed: nothing is known, so nothing is left out
    assert not unknown.reasoning and unknown.sampling is None and unknown.accepts("temperature")
    assert "models/o3" in table.limits("o3").source and table.limits("o3").as_of


def test_user_file_may_mark_a_model_reasoning_and_bad_values_are_one_line():
    path = locations.user_models_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[models."my-thinker"]\nreasoning = true\nsampling = []\n')
    assert capabilities.load_models().rules("my-thinker").reasoning
    path.write_text('[models."my-thinker"]\nsampling = ["temperature", "seed"]\n')
    with pytest.raises(UserError, match=r'\[models."my-thinker"\] sampling must be a list of temperature and top_p'):
        capabilities.load_models()
    path.write_text('[models."my-thinker"]\nreasoning = "yes"\n')
    with pytest.raises(UserError, match="reasoning must be true or false"):
        capabilities.load_models()


# requests -------------------------------------------------------------------------------------------
def _spec(tmp_path, teacher_model="o3", student_model="gpt-4o-mini", **sections):
    from distill_tui.core.task.spec import load_spec
    from tests.helpers import write_dataset, write_spec

    write_dataset(tmp_path / "data.csv", rows=40)
    return load_spec(write_spec(tmp_path, teacher={"model": teacher_model, **sections.pop("teacher", {})},
                                student={"model": student_model, **sections.pop("student", {})}, **sections))


def test_reasoning_models_get_no_temperature_but_their_roles_effort(tmp_path):
    from distill_tui.core.task import dataset
    from distill_tui.core.task.requests import iter_requests

    spec = _spec(tmp_path, generation={"temperature": 0.2}, teacher={"reasoning_effort": "low"},
                 student={"reasoning_effort": "high"})
    data, table = dataset.prepare(spec), capabilities.load_models()
    plain = next(iter_requests(spec, data, "o3", "train"))  # no rules: the request as the spec asks it
    teacher = next(iter_requests(spec, data, "o3", "train", table.rules("o3")))
    student = next(iter_requests(spec, data, "gpt-4o-mini", "train", table.rules("gpt-4o-mini")))
    assert "temperature" not in teacher.body and teacher.body["reasoning_effort"] == "low"
    assert student.body["temperature"] == 0.2 and "reasoning_effort" not in student.body
    assert plain.body["temperature"] == 0.2 and "reasoning_effort" not in plain.body
    # The hash is the spec's question, the same for every model (evaluation picks answers by it).
    assert teacher.prompt_hash == student.prompt_hash == plain.prompt_hash


def test_the_hash_of_a_non_reasoning_spec_did_not_move(tmp_path):
    from distill_tui.core.task import dataset
    from distill_tui.core.task.requests import iter_requests, prompt_hash

    spec = _spec(tmp_path, teacher_model="gpt-4o", generation={"temperature": 0.5})
    data = dataset.prepare(spec)
    request = next(iter_requests(spec, data, "gpt-4o", "train", capabilities.load_models().rules("gpt-4o")))
    key = {k: request.body.get(k) for k in ("messages", "response_format", "max_completion_tokens", "temperature")}
    assert request.body["temperature"] == 0.5 and request.body["max_completion_tokens"] == 32
    assert prompt_hash(key) == request.prompt_hash  # as it was before reasoning models were known


def test_reasoning_effort_is_checked_with_one_line(tmp_path):
    from distill_tui.core.task.spec import SpecError

    with pytest.raises(SpecError, match=r"\[student\] reasoning_effort must be minimal, low, medium or high, "
                                        r"not 'max'"):
        _spec(tmp_path, student={"reasoning_effort": "max"})


def test_estimate_warns_once_about_a_temperature_a_reasoning_teacher_does_not_take(tmp_path, capsys):
    from distill_tui.cli import main

    spec = _spec(tmp_path, generation={"temperature": 0.2}, student={"reasoning_effort": "low"})
    assert main(["estimate", str(spec.source)]) == 0
    err = capsys.readouterr().err
    line = "[generation] temperature = 0.2 is not sent to the teacher o3: a reasoning model takes only the default"
    assert err.count(line) == 1
    assert '[student] reasoning_effort = "low" is not sent: gpt-4o-mini is not known as a reasoning model' in err
    assert "not sent to the student" not in err


# output budget --------------------------------------------------------------------------------------
def test_a_reasoning_model_gets_room_to_reason_when_max_tokens_is_not_set(tmp_path):
    from distill_tui.core.task import dataset
    from distill_tui.core.task.requests import iter_requests
    from distill_tui.core.task.spec import REASONING_MAX_TOKENS

    spec = _spec(tmp_path)
    spec = spec.with_changes("generation", max_tokens=None)
    assert spec.generation.max_tokens is None
    data, table = dataset.prepare(spec), capabilities.load_models()
    teacher = next(iter_requests(spec, data, "o3", "train", table.rules("o3")))
    student = next(iter_requests(spec, data, "gpt-4o-mini", "train", table.rules("gpt-4o-mini")))
    assert teacher.body["max_completion_tokens"] == REASONING_MAX_TOKENS == 4_096
    assert student.body["max_completion_tokens"] == 64
    # Unset hashes like the old default of 64, so saved answers of such specs are still found.
    explicit = next(iter_requests(spec.with_changes("generation", max_tokens=64), data, "gpt-4o-mini", "train"))
    assert explicit.prompt_hash == student.prompt_hash == teacher.prompt_hash
    set_low = next(iter_requests(spec.with_changes("generation", max_tokens=500), data, "o3", "train",
                                 table.rules("o3")))
    assert set_low.body["max_completion_tokens"] == 500  # what the user set is sent as set


def test_estimate_warns_when_max_tokens_leaves_a_reasoning_model_no_room(tmp_path, capsys):
    from distill_tui.cli import main

    spec = _spec(tmp_path)  # max_tokens = 32
    assert main(["estimate", str(spec.source)]) == 0
    err = capsys.readouterr().err
    assert err.count("[generation] max_tokens = 32 leaves the teacher o3 little room") == 1
    assert "4,096 or more is safer (leave the key out for that)" in err and "leaves the student" not in err


def test_an_answer_cut_off_before_it_began_is_a_failed_row_with_the_way_out():
    from distill_tui.core.run.recorder import spent_before_answering

    assert spent_before_answering("length", "", None, 32) == (
        "the output budget was spent on reasoning: raise [generation] max_tokens")
    assert spent_before_answering("length", None, None, 0).startswith("the output budget was spent before any answer")
    assert spent_before_answering("length", '{"variety": "Mer', None, 20) is None  # cut off, but an answer
    assert spent_before_answering("stop", "", None, 10) is None


# stored reasoning tokens ----------------------------------------------------------------------------
def test_a_version_1_workspace_gains_the_reasoning_tokens_column_and_keeps_its_answers(tmp_path):
    import sqlite3

    from distill_tui.core.store.database import SCHEMA_VERSION, Answer, Store

    path = tmp_path / "old.sqlite"
    with Store(path) as store:
        store.record_answer(Answer(model="gpt-4o", row_id=1, prompt_hash="h", split="train", status="ok",
                                   completion_tokens=7, created_at=1.0))
    old = sqlite3.connect(path)  # as distill-tui with schema 1 left it
    old.execute("ALTER TABLE answers DROP COLUMN reasoning_tokens")
    old.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    old.commit()
    old.close()
    with Store(path) as store:
        assert store.meta("schema_version") == str(SCHEMA_VERSION)
        [kept] = store.answers(model="gpt-4o")
        assert kept.completion_tokens == 7 and kept.reasoning_tokens == 0
        store.record_answer(Answer(model="o3", row_id=1, prompt_hash="h", split="train", status="ok",
                                   completion_tokens=90, reasoning_tokens=64, created_at=2.0))
        assert store.answers(model="o3")[0].reasoning_tokens == 64


# the offline provider, through the real SDK ---------------------------------------------------------
MESSAGES = [{"role": "system", "content": "You are a sommelier."},
            {"role": "user", "content": "Red cherry, forest floor and silky tannins. Which grape?"}]


@pytest.mark.parametrize(("kwargs", "param", "code", "message"), [
    ({"temperature": 0.2}, "temperature", "unsupported_value",
     "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported."),
    ({"top_p": 0.5}, "top_p", "unsupported_value",
     "Unsupported value: 'top_p' does not support 0.5 with this model. Only the default (1) value is supported."),
    ({"max_tokens": 50}, "max_tokens", "unsupported_parameter",
     "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."),
    ({"reasoning_effort": "extreme"}, "reasoning_effort", "invalid_value", "Invalid value: 'extreme'."),
])
def test_the_offline_reasoner_refuses_what_openai_refuses(offline_server, kwargs, param, code, message):
    import openai

    from tests.conftest_offline import client_for

    with pytest.raises(openai.BadRequestError) as info:
        client_for(offline_server).chat.completions.create(model="offline-reasoner", messages=MESSAGES, **kwargs)
    assert (info.value.param, info.value.code) == (param, code) and message in str(info.value)
    assert info.value.status_code == 400


def test_only_reasoning_models_take_reasoning_effort_and_the_default_temperature_is_fine(offline_server):
    import openai

    from tests.conftest_offline import client_for

    sdk = client_for(offline_server)
    with pytest.raises(openai.BadRequestError, match="'reasoning_effort' is not supported with this model"):
        sdk.chat.completions.create(model="offline-teacher", messages=MESSAGES, reasoning_effort="low")
    fine = sdk.chat.completions.create(model="offline-reasoner", messages=MESSAGES, temperature=1, top_p=1,
                                       reasoning_effort="low", max_completion_tokens=200)
    usage = fine.usage
    assert fine.choices[0].finish_reason == "stop" and fine.choices[0].message.content
    assert usage.completion_tokens_details.reasoning_tokens == 64
    assert usage.completion_tokens > 64  # the answer comes after, inside the same completion_tokens
    starved = sdk.chat.completions.create(model="offline-reasoner", messages=MESSAGES, max_completion_tokens=32)
    assert starved.choices[0].finish_reason == "length" and starved.choices[0].message.content == ""
    assert starved.usage.completion_tokens == starved.usage.completion_tokens_details.reasoning_tokens == 32


def test_offline_reasoner_data_matches_the_server():
    from distill_tui.offline import models

    table = capabilities.load_models()
    limits = table.limits(models.REASONER)
    assert (limits.context_window, limits.max_output_tokens) == (models.REASONER_CONTEXT_WINDOW,
                                                                 models.REASONER_MAX_OUTPUT_TOKENS)
    assert table.rules(models.REASONER).reasoning


def _reasoner_workspace(tmp_path, server, **generation):
    from distill_tui.core.workspace.workspace import Workspace
    from tests.helpers import write_spec

    gen = {"workers": 2, "temperature": 0.3, **generation}
    return Workspace.open(write_spec(tmp_path, rows=40, provider={"base_url": server.base_url}, generation=gen,
                                     teacher={"model": "offline-reasoner", "reasoning_effort": "low"}))


def test_a_reasoning_teacher_run_goes_through_with_its_reasoning_tokens_priced_as_output(tmp_path, offline_server):
    from distill_tui.core.run.generate import run_teacher

    ws = _reasoner_workspace(tmp_path, offline_server, max_tokens=300)  # temperature set: left out, not refused
    result = run_teacher(ws, limit=6)
    assert result.done == 6 and result.failed == 0, result.message
    answers = ws.store.answers("offline-reasoner", "train")
    assert len(answers) == 6 and all(a.status == "ok" and a.valid for a in answers)
    price = ws.prices.price("offline-reasoner")
    for a in answers:
        assert a.reasoning_tokens == 64 and a.completion_tokens > 64
        assert a.cost_usd == pytest.approx(price.cost(a.prompt_tokens, a.completion_tokens))  # not counted twice


def test_a_budget_spent_on_reasoning_fails_the_row_with_the_way_out(tmp_path, offline_server):
    from distill_tui.core.run.generate import run_teacher

    ws = _reasoner_workspace(tmp_path, offline_server, max_tokens=40)
    result = run_teacher(ws, limit=4)
    assert result.failed == 4 and result.done == 0
    failed = ws.store.answers("offline-reasoner", "train", status="failed")
    assert len(failed) == 4
    for a in failed:
        assert a.error == "the output budget was spent on reasoning: raise [generation] max_tokens"
        assert a.finish_reason == "length" and a.reasoning_tokens == 40 and a.cost_usd > 0  # paid for, kept


def test_batch_answers_spent_on_reasoning_are_failed_rows_too(tmp_path, capsys, monkeypatch):
    import json

    from distill_tui.cli import main
    from distill_tui.core.run import batch_session
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.offline import OfflineOptions, start_server
    from tests.helpers import write_spec

    monkeypatch.setattr(batch_session, "POLL_FIRST_S", 0.05)
    monkeypatch.setattr(batch_session, "POLL_MAX_S", 0.2)
    server = start_server(OfflineOptions(batch_seconds=0.2))
    try:
        spec = write_spec(tmp_path, rows=16, provider={"base_url": server.base_url},
                          teacher={"model": "offline-reasoner"}, generation={"max_tokens": 40, "temperature": 0.3})
        assert main(["generate", str(spec), "--batch", "--wait", "--json"]) == 1
        out = json.loads(capsys.readouterr().out)
        assert out["done"] == 0 and out["failed"] == out["total"] > 0
        assert out["answered_now"] == 0  # paid for, but no answer among them
        ws = Workspace.open(spec)
        try:
            failed = ws.store.answers("offline-reasoner", "train", status="failed")
            assert len(failed) == out["total"]
            assert {a.error for a in failed} == {"the output budget was spent on reasoning: raise [generation] max_tokens"}
            assert all(a.reasoning_tokens == 40 and a.cost_usd > 0 for a in failed)
        finally:
            ws.close()
    finally:
        server.shutdown()


def test_generate_says_before_spending_what_a_reasoning_teacher_is_not_sent(tmp_path, offline_server, capsys):
    from distill_tui.cli import main
    from tests.helpers import write_spec

    spec = write_spec(tmp_path, rows=20, provider={"base_url": offline_server.base_url},
                      teacher={"model": "offline-reasoner"}, generation={"temperature": 0.3, "max_tokens": 300})
    assert main(["generate", str(spec), "--limit", "2"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: [generation] temperature = 0.3 is not sent to the teacher offline-reasoner") == 1
    assert err.count("warning: [generation] max_tokens = 300 leaves the teacher offline-reasoner little room") == 1


def test_the_default_reasoning_budget_does_not_stop_a_budgeted_run_early(tmp_path, offline_server):
    # Each request's cap is reserved against budget_usd while in flight: 25,000 tokens at o3's output price
    # reserved $0.20 a request, and this run stopped after one row with $0.002 spent.
    from distill_tui.core.run.generate import run_teacher

    ws = _reasoner_workspace(tmp_path, offline_server, budget_usd=0.3)
    ws.set_spec(ws.spec.with_changes("generation", max_tokens=None))
    result = run_teacher(ws)
    assert result.stopped is None and result.done == result.total == len(ws.data.train), result.message


def test_the_estimate_says_it_leaves_out_reasoning_tokens(tmp_path):
    from distill_tui.core.cost.estimate import estimate_spec

    notes = estimate_spec(_spec(tmp_path)).notes  # teacher o3, student gpt-4o-mini
    said = [n for n in notes if "reasoning model" in n]
    assert said == ["o3 is a reasoning model: its reasoning tokens, billed as output, are not in the table (up to "
                    "32 a request with the answer; 'with reasoning' gives the range); a smoke run (generate --limit N) "
                    "measures them for the estimate from pilot"]
