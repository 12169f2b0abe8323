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
