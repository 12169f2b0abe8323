"""Changing eval_fraction after answers were paid for: answers follow today's split, nothing is asked
twice, and no row that is now held out can reach training."""

from __future__ import annotations

import tomllib

import tomli_w

from distill_tui.core.curate.selection import Curation
from distill_tui.core.evaluate.comparison import build_table
from distill_tui.core.evaluate.run import models_of_interest
from distill_tui.core.run.generate import run_model, run_teacher
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec


def _set_eval_fraction(path, value):
    data = tomllib.loads(path.read_text())
    data["dataset"]["eval_fraction"] = value
    path.write_text(tomli_w.dumps(data))


def test_answers_follow_the_split_of_today(tmp_path, offline_server):
    spec = write_spec(tmp_path, rows=48, provider={"base_url": offline_server.base_url})
    ws = Workspace.open(spec)
    assert run_teacher(ws).left == 0
    before = offline_server.stats["chat_requests"]
    ws.close()

    _set_eval_fraction(spec, 0.5)
    ws = Workspace.open(spec)
    teacher = ws.spec.teacher.model
    result = run_model(ws, teacher, "eval")
    eval_rows = len(ws.data.eval)
    moved = result.total - result.requests
    assert moved > 0, "rows answered as train rows are reused as eval answers"
    table = build_table(ws, [m for m in models_of_interest(ws) if m.name == teacher])
    row = table.rows[0]
    assert row.n == eval_rows and row.missing == 0
    assert offline_server.stats["chat_requests"] - before == result.requests

    curation = Curation.from_workspace(ws)
    eval_ids = set(ws.data.eval["_row"].tolist())
    train_ids = set(ws.data.train["_row"].tolist())
    listed = set(curation.ids.tolist())
    assert train_ids <= listed, "every train row of today is listed, whatever split it was asked in"
    held_out = listed & eval_ids
    assert held_out, "rows held out since they were answered stay visible..."
    assert not (set(curation.ids[curation.selectable].tolist()) & eval_ids), "...but can never be selected"
    ws.close()
