"""The engine counts each request's prompt tokens from its row's fields (the template's fixed text,
the labels list among it, encoded once), and gets exactly what encoding its messages gives."""

import pandas as pd
import pytest

from distill_tui.core.cost import tokens
from distill_tui.core.cost.estimate import PromptCounter
from distill_tui.core.run.recorder import AnswerRecorder
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec

ODD = ['He said "ok"\\n', "tab\there\nnew line", "ünïcødé — 葡萄酒 🍷", "\x01\x1f control", "  two  spaces ",
       "{braces} [x]", "word", "", "12,345.6", "ends with space "]


def _workspace(tmp_path, model="gpt-4o", **prompt):
    frame = pd.DataFrame({
        "description": [ODD[i % len(ODD)] + ("" if i % 3 else f" row {i}") for i in range(80)],
        "points": [80 + i % 20 for i in range(80)],
        "price": [None if i % 7 == 0 else 10.5 + i for i in range(80)],
        "variety": ["Merlot", "Gamay", "Syrah ⟨x⟩", "Pinot Noir"] * 20,
    })
    frame.to_csv(tmp_path / "data.csv", index=False)
    path = write_spec(tmp_path, prompt=prompt, teacher={"model": model})
    return Workspace.open(path)


@pytest.mark.parametrize("prompt", [
    {"system": "You know wine.", "user": "Review: {description}. Points: {points}. Price: {price}. Pick one of {labels}."},
    {"system": "", "user": "{description}{points}{price}"},  # fields touching, no fixed text between
    {"system": "Sommelier {points}:", "user": "{labels}\n\n{description} | {price}"},
])
@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])  # o200k_base and cl100k_base
def test_every_row_counts_as_its_messages(tmp_path, prompt, model):
    ws = _workspace(tmp_path, model, **prompt)
    recorder = AnswerRecorder(ws, model, "train")
    reqs = list(iter_requests(ws.spec, ws.data, model, "train"))
    assert reqs and all(r.row is not None for r in reqs)
    assert [recorder.prompt_tokens(r) for r in reqs] == [
        tokens.count_chat(r.messages, model, r.body.get("response_format")) for r in reqs]
    assert recorder._from_rows, "the count from the row's fields was not used"
    ws.close()


def test_a_counter_that_disagrees_on_the_first_row_is_never_used(tmp_path, monkeypatch):
    ws = _workspace(tmp_path, system="You know wine.", user="{description} {labels}")
    model = ws.spec.teacher.model
    monkeypatch.setattr(PromptCounter, "count", lambda self, row: 7)
    recorder = AnswerRecorder(ws, model, "train")
    reqs = list(iter_requests(ws.spec, ws.data, model, "train"))
    assert [recorder.prompt_tokens(r) for r in reqs] == [
        tokens.count_chat(r.messages, model, r.body.get("response_format")) for r in reqs]
    assert recorder._from_rows is False
    ws.close()


def test_while_the_vocabulary_loads_a_request_reserves_an_upper_bound_then_its_count(tmp_path, monkeypatch):
    import threading
    import time

    ws = _workspace(tmp_path, system="You know wine.", user="{description} {labels}")
    model = ws.spec.teacher.model
    recorder = AnswerRecorder(ws, model, "train")
    req = next(iter_requests(ws.spec, ws.data, model, "train"))
    exact = recorder.estimate(req)
    monkeypatch.setattr(tokens, "_by_model", {})  # as in a fresh process: nothing loaded yet
    monkeypatch.setattr(tokens, "_loading", set())
    loaded = threading.Event()
    real = tokens.encoding_for

    def slow_load(name):
        loaded.wait(10)
        return real(name)

    monkeypatch.setattr(tokens, "encoding_for", slow_load)
    bound = recorder.quick_estimate(req)
    assert bound[0] > exact[0] and bound[1] > exact[1]  # more reserved, never less
    assert recorder.quick_estimate(req) == bound  # one loading thread, still loading
    loaded.set()
    deadline = time.monotonic() + 10
    while not tokens.encoding_ready(model):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert recorder.quick_estimate(req) == exact
    ws.close()


def test_the_bound_is_used_only_where_it_cannot_stop_a_run_for_its_budget(tmp_path, monkeypatch):
    from distill_tui.core.run.generate import QUICK_MARGIN

    ws = _workspace(tmp_path, system="You know wine.", user="{description} {labels}")
    model = ws.spec.teacher.model
    recorder = AnswerRecorder(ws, model, "train")
    req = next(iter_requests(ws.spec, ws.data, model, "train"))
    exact, bound = recorder.estimate(req), recorder.bound_estimate(req)
    monkeypatch.setattr(tokens, "encoding_ready", lambda model: False)  # still loading
    assert recorder.quick_estimate(req) == bound  # no budget: no cap
    recorder.bound_cap_usd = (QUICK_MARGIN * bound[1] + 1.0 - 1.0) / QUICK_MARGIN  # budget left holds 64 bounds
    assert recorder.quick_estimate(req) == bound
    recorder.bound_cap_usd = (QUICK_MARGIN * bound[1] + 1.0 - 1.5) / QUICK_MARGIN  # it does not
    assert recorder.quick_estimate(req) == exact
    recorder.price = None  # a budget with no price known: the bound's cost is unknown, so counted
    recorder.bound_cap_usd = 100.0
    assert recorder.quick_estimate(req) == recorder.estimate(req)
    ws.close()
