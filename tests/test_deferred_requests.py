"""Rows planned ahead of the requests wait in the queue by their fields only (`RowRequest.defer`), and
are built again, identical, as they are sent: a queue of 130k cookbook prompts held every row's
messages (860 MB)."""

from __future__ import annotations

import json

import pandas as pd

from distill_tui.core.run.generate import run_teacher
from distill_tui.core.run.planner import RequestPlanner
from distill_tui.core.cost.capabilities import load_models
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


def test_the_planner_hands_deferred_rows_and_the_run_sends_them_whole(tmp_path, server_factory):
    server = server_factory()
    ws = _workspace(tmp_path, provider={"base_url": server.base_url}, generation={"workers": 4})
    model = ws.spec.teacher.model
    planner = RequestPlanner(ws, model, "train", load_models())
    first = planner.take(1)
    handed: list = []
    planner.plan_rest(handed.extend, lambda: None)
    planner.join()
    assert first and not first[0].deferred
    assert handed and all(r.deferred and r.row is not None for r in handed)

    result = run_teacher(ws)
    assert result.exit_code == 0 and result.done == len(ws.data.train) > 200
    expected = {r.row_id: r for r in iter_requests(ws.spec, ws.data, model, "train")}
    saved = ws.store.answers(model, "train")
    assert len(saved) == len(expected)
    for answer in saved:
        req = expected[answer.row_id]
        assert answer.prompt_hash == req.prompt_hash
        assert json.dumps(answer.messages, sort_keys=True) == json.dumps(req.messages, sort_keys=True)
    ws.close()
