"""Rows planned far ahead of the requests wait in the queue by their fields only (`RowRequest.defer`,
past `engine.WHOLE_QUEUED`), and are built again, identical, as they are sent: a queue of 130k
cookbook prompts held every row's messages (860 MB)."""

from __future__ import annotations

import json

import pandas as pd

from distill_tui.core.run.generate import run_teacher
from distill_tui.core.task.requests import RequestBuilder, iter_requests
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec

ODD = ['He said "ok"\\n', "ünïcødé — 葡萄酒 🍷", "{braces} [x]", "", "12,345.6"]


def _workspace(tmp_path, rows=300, **sections):
    frame = pd.DataFrame({
        "description": [ODD[i % len(ODD)] + f" row {i}" for i in range(rows)],
        "points": [80 + i % 20 for i in range(rows)],
        "price": [None if i % 7 == 0 else 10.5 + i for i in range(rows)],
        "variety": ["Merlot", "Gamay", "Syrah ⟨x⟩", "Pinot Noir"] * (rows // 4),
    })
    frame.to_csv(tmp_path / "data.csv", index=False)
    return Workspace.open(write_spec(tmp_path, rows=rows, **sections))


def test_a_deferred_request_is_built_again_identical(tmp_path):
    ws = _workspace(tmp_path, 40)
    model = ws.spec.teacher.model
    builder = RequestBuilder(ws.spec, ws.data, model)
    for req in iter_requests(ws.spec, ws.data, model, "train"):
        light = req.defer()
        assert light.deferred and not light.body and light.prompt_hash == req.prompt_hash
        again = builder.undeferred(light)
        assert not again.deferred
        assert (again.body, again.prompt_hash, again.row_id, again.split, again.gold) == (
            req.body, req.prompt_hash, req.row_id, req.split, req.gold)
    ws.close()


def test_past_the_whole_queue_rows_wait_deferred_and_the_run_sends_them_whole(tmp_path, server_factory,
                                                                              monkeypatch):
    from distill_tui.core.run import engine

    server = server_factory()
    ws = _workspace(tmp_path, provider={"base_url": server.base_url}, generation={"workers": 4})
    model = ws.spec.teacher.model
    monkeypatch.setattr(engine, "WHOLE_QUEUED", 10)
    built_again = []
    real = RequestBuilder.undeferred

    def undeferred(self, req):
        built_again.append(req.deferred)
        return real(self, req)

    monkeypatch.setattr(RequestBuilder, "undeferred", undeferred)
    result = run_teacher(ws)
    assert result.exit_code == 0 and result.done == len(ws.data.train) > 200
    assert sum(built_again) > 100  # most rows waited deferred, and were built again as they were taken
    expected = {r.row_id: r for r in iter_requests(ws.spec, ws.data, model, "train")}
    saved = ws.store.answers(model, "train")
    assert len(saved) == len(expected) and server.stats["chat_requests"] == len(expected)
    for answer in saved:
        req = expected[answer.row_id]
        assert answer.prompt_hash == req.prompt_hash
        assert json.dumps(answer.messages, sort_keys=True) == json.dumps(req.messages, sort_keys=True)
    ws.close()
