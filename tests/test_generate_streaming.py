"""A run asks its first rows while the rest are still planned (core/run/planner.py), and its totals,
resume and limit stay exact."""

from __future__ import annotations

import threading
from pathlib import Path

from distill_tui.core.run.generate import Progress, run_teacher
from distill_tui.core.run.progress_text import progress_line
from distill_tui.core.task import requests
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec


def _workspace(tmp_path: Path, server, rows: int = 60) -> Workspace:
    return Workspace.open(write_spec(tmp_path, rows=rows, provider={"base_url": server.base_url},
                                     generation={"workers": 4}))


def test_the_first_request_goes_out_before_every_row_is_planned(tmp_path, server_factory, monkeypatch):
    server = server_factory()
    ws = _workspace(tmp_path, server)
    real = requests.RequestBuilder.rows
    asked_while_planning = threading.Event()

    def slow_planning(*args, **kwargs):
        rows = real(*args, **kwargs)
        yield next(rows)
        # Hold the rest of the plan back until the provider has seen a request (or give up after 10 s:
        # a run that plans every row before asking never sends one while this waits).
        for _ in range(1000):
            if server.stats["chat_requests"]:
                asked_while_planning.set()
                break
            threading.Event().wait(0.01)
        yield from rows

    monkeypatch.setattr(requests.RequestBuilder, "rows", slow_planning)
    seen: list[Progress] = []
    result = run_teacher(ws, on_progress=seen.append, progress_interval=0.02)
    assert asked_while_planning.is_set()
    assert result.exit_code == 0 and result.done == result.total == len(ws.data.train)
    assert result.requests == result.total and server.stats["chat_requests"] == result.total
    assert seen[-1].done == result.total and not seen[-1].planning and seen[-1].left == 0
    planning = [p for p in seen if p.planning]
    assert planning and all(p.eta_s is None and p.estimated_total_usd is None for p in planning)
    line = progress_line(planning[0])
    assert f"/{planning[0].total:,}+ done" in line and f"{planning[0].left:,}+ left, planning…" in line


def test_resume_and_limit_count_exactly_while_planning_streams(tmp_path, server_factory):
    server = server_factory()
    ws = _workspace(tmp_path, server, rows=200)
    train = len(ws.data.train)
    smoke = run_teacher(ws, limit=7)
    assert smoke.stopped == "limit" and smoke.requests == 7 and smoke.done == 7 and smoke.total == train
    assert smoke.left == train - 7
    more = run_teacher(ws, limit=30)
    assert more.requests == 30 and more.done == 37 and more.total == train
    rest = run_teacher(ws)
    assert rest.requests == train - 37 and rest.done == rest.total == train and rest.exit_code == 0
    again = run_teacher(ws)
    assert again.requests == 0 and again.done == train and again.message == f"all {train} rows answered"
    by_hash = server.stats["requests_by_prompt_hash"]
    assert sum(n - 1 for n in by_hash.values() if n > 1) == 0  # nothing bought twice
