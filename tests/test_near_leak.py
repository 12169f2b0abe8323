"""Eval rows that nearly repeat a train row (core/evaluate/near_leak.py): the leak exact matching misses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from distill_tui.core.evaluate.near_leak import near_leaks
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import LABELS, write_spec


def _write(path: Path, texts: list[str]) -> None:
    pd.DataFrame({"description": texts, "points": [90] * len(texts),
                  "price": [20.0] * len(texts), "variety": [LABELS[i % 4] for i in range(len(texts))]}).to_csv(
        path, index=False)


def test_an_eval_row_reworded_from_a_train_row_is_flagged(tmp_path: Path) -> None:
    texts = [f"tasting note {i}: aroma{i} fruit{i} oak{i} finish{i} body{i} colour{i}" for i in range(40)]
    _write(tmp_path / "data.csv", texts)
    spec = write_spec(tmp_path)
    ws = Workspace.open(spec)
    train = [r.row_id for r in iter_requests(ws.spec, ws.data, "m", "train")]
    held = [r.row_id for r in iter_requests(ws.spec, ws.data, "m", "eval")]
    assert near_leaks(ws).pairs == []  # the template's words alone make no near-duplicates
    ws.close()
    a, b, c = held[:3]
    texts[a] = texts[train[0]].replace(f"oak{train[0]}", "cedar")  # one word changed
    words = texts[train[1]].split()
    texts[b] = " ".join(reversed(words)) + "!"  # reordered, punctuation
    texts[c] = f"something else entirely {c}"
    _write(tmp_path / "data.csv", texts)
    ws = Workspace.open(spec)
    try:
        found = near_leaks(ws)
        assert [(p.eval_row, p.train_row) for p in found.pairs] == sorted([(a, train[0]), (b, train[1])])
        assert "WARNING: 2 eval rows nearly repeat a train row" in found.line()
        assert near_leaks(ws, eval_ids=[b]).rows == [b]
        assert near_leaks(ws, threshold=0.95).rows == [b]  # the reordering keeps every word
        assert found.to_json()["pairs"][0]["similarity"] < 1
    finally:
        ws.close()


def test_the_leak_check_carries_near_duplicates_and_caches_them(tmp_path: Path) -> None:
    from distill_tui.core.evaluate import near_leak
    from distill_tui.core.evaluate.comparison import TEACHER, EvalModel, build_table
    from distill_tui.core.evaluate.leak import leak_check

    texts = [f"tasting note {i}: aroma{i} fruit{i} oak{i} finish{i} body{i} colour{i}" for i in range(40)]
    spec = write_spec(tmp_path)
    _write(tmp_path / "data.csv", texts)
    ws = Workspace.open(spec)
    train = [r.row_id for r in iter_requests(ws.spec, ws.data, "m", "train")]
    held = [r.row_id for r in iter_requests(ws.spec, ws.data, "m", "eval")]
    ws.close()
    texts[held[0]] = texts[train[0]] + " indeed"
    _write(tmp_path / "data.csv", texts)
    ws = Workspace.open(spec)
    try:
        check = leak_check(ws, held)
        assert check.ok and check.near is not None and check.near.rows == [held[0]]
        assert "disjoint" in check.line()  # exact leaks only: the near-duplicates have their own line
        assert leak_check(ws, held).near is check.near  # same texts: not computed again
        near_leak._CACHE.clear()
        assert leak_check(ws, held).near is not check.near
        table = build_table(ws, [EvalModel("offline-teacher", TEACHER)])
        near = table.to_json()["leak_check"]["near_duplicates"]  # eval --json
        assert [(p["eval_row"], p["train_row"]) for p in near["pairs"]] == [(held[0], train[0])]
    finally:
        ws.close()
