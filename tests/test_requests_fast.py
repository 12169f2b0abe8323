"""Requests for every row are built from templates parsed once (the labels list and the response
format encoded once per run, not once per row), with the same bodies and hashes as row by row."""

import hashlib
import json

import pandas as pd

from distill_tui.core.task import prompts, requests
from distill_tui.core.task.dataset import prepare
from distill_tui.core.task.requests import ModelRules, iter_requests, request_body
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_spec

ODD = ['He said "ok"\\n', "tab\there\nnew line", "ünïcødé — 葡萄酒 🍷", "\x01\x1f control", "{braces} [x]", "\\u00e9"]


def _spec(tmp_path, **prompt):
    frame = pd.DataFrame({
        "description": [ODD[i % len(ODD)] + f" row {i}" for i in range(60)],
        "points": [80 + i % 20 for i in range(60)],
        "price": [None if i % 7 == 0 else 10.5 + i for i in range(60)],
        "variety": ["Merlot", "Gamay", "Syrah ⟨x⟩"][0:3] * 20,
        "unused": ["x" * 50] * 60,
    })
    frame.to_csv(tmp_path / "data.csv", index=False)
    sections = {"prompt": prompt} if prompt else {}
    return load_spec(write_spec(tmp_path, **sections))


def _reference_hash(body):
    key = {k: body.get(k) for k in ("messages", "response_format", "max_completion_tokens", "temperature")}
    text = json.dumps(key, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _check_same_as_row_by_row(spec, data, rules=None):
    from distill_tui.core.task.dataset import ROW, SPLIT

    got = list(iter_requests(spec, data, spec.teacher.model, "train", rules))
    rows = [r for r in data.frame.to_dict("records") if r[SPLIT] == "train"]
    assert [r.row_id for r in got] == [int(r[ROW]) for r in rows]
    for req, row in zip(got, rows):
        asked = request_body(spec, row, data.labels, spec.teacher.model)
        assert req.prompt_hash == _reference_hash(asked) == requests.prompt_hash(asked)
        assert req.body == (asked if rules is None else requests.fit_to_model(asked, spec, rules))
    return got


def test_bodies_and_hashes_are_those_of_one_row_at_a_time(tmp_path):
    spec = _spec(tmp_path, system="Sommelier {points}: \"quote\" \\ back", user="{description} | {price} | {labels}")
    got = _check_same_as_row_by_row(spec, prepare(spec), ModelRules(reasoning=True, sampling=frozenset()))
    assert got and any("ünïcødé" in r.messages[1]["content"] for r in got)


def test_without_a_system_message_and_with_temperature(tmp_path):
    spec = _spec(tmp_path, system="", user="{labels}: {description}")
    spec.generation.temperature = 0.5
    _check_same_as_row_by_row(spec, prepare(spec))


def test_the_labels_list_is_written_once_a_run_not_once_a_row(tmp_path, monkeypatch):
    spec = _spec(tmp_path)
    data = prepare(spec)
    calls = []
    original = prompts.labels_text
    monkeypatch.setattr(prompts, "labels_text", lambda labels: calls.append(1) or original(labels))
    got = list(iter_requests(spec, data, spec.teacher.model, "train"))
    assert len(got) > 20 and len(calls) <= 3


def test_messages_laid_out_otherwise_take_the_plain_path(tmp_path, monkeypatch):
    spec = _spec(tmp_path)
    data = prepare(spec)
    plain = prompts.build_messages

    def with_example(system, user, row, labels=()):
        return [{"role": "user", "content": "An example"}, *plain(system, user, row, labels)]

    monkeypatch.setattr(prompts, "build_messages", with_example)
    got = _check_same_as_row_by_row(spec, data)
    assert all(r.messages[0]["content"] == "An example" for r in got)
