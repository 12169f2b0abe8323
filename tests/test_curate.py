"""Core curation: every filter, bulk action, dedupe, cap, leak guard and persistence.

`fabricate` writes teacher answers straight into the store (as the generation engine would), so
these tests do not depend on the engine or a provider.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from distill_tui.core.common.errors import UserError
from distill_tui.core.cost import tokens
from distill_tui.core.curate.filters import Filters, parse_filter_line, parse_filters
from distill_tui.core.curate.importer import prompt_key
from distill_tui.core.curate.selection import Curation
from distill_tui.core.store.database import Answer
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec

TEACHER = "offline-teacher"
AnswerFn = Callable[[int, Any, list[str]], dict[str, Any] | None]


def fabricate(ws: Workspace, answer: AnswerFn | None = None, split: str | None = "train") -> int:
    """Save a teacher answer for every row of `split`; `answer(i, request, labels)` may override
    fields (label, content, status, valid, finish_reason, …). Returns how many were written."""
    labels = ws.data.labels
    n = 0
    with ws.store.transaction():
        for i, req in enumerate(iter_requests(ws.spec, ws.data, TEACHER, split)):
            fields: dict[str, Any] = {"label": req.gold}
            fields.update((answer(i, req, labels) if answer else None) or {})
            label = fields.pop("label")
            content = fields.pop("content", json.dumps({"variety": label}) if label is not None else None)
            ws.store.record_answer(Answer(**{
                "model": TEACHER, "row_id": req.row_id, "prompt_hash": req.prompt_hash, "split": req.split,
                "status": "ok", "gold": req.gold, "messages": req.messages, "content": content, "label": label,
                "valid": label in labels, "finish_reason": "stop", "prompt_tokens": 100, "completion_tokens": 8,
                "cost_usd": 0.0001, **fields,
            }))
            n += 1
    return n


def wrong(i: int, req: Any, labels: list[str]) -> dict[str, Any] | None:
    """Every 4th answer is another label than gold."""
    if i % 4 == 0:
        return {"label": labels[(labels.index(req.gold) + 1) % len(labels)]}
    return None


def make_ws(folder: Path, rows: int = 60, answer: AnswerFn | None = wrong, **sections: Any) -> Workspace:
    ws = Workspace.open(write_spec(folder, rows=rows, **sections))
    fabricate(ws, answer)
    return ws


@pytest.fixture
def ws(tmp_path: Path):
    workspace = make_ws(tmp_path)
    yield workspace
    workspace.close()


def shown_ids(cur: Curation, filters: Filters) -> set[int]:
    return set(cur.ids[cur.mask(filters)].tolist())


def answers_by_id(ws: Workspace) -> dict[int, Answer]:
    return {a.row_id: a for a in ws.store.answers(model=TEACHER, split="train")}


# filters -------------------------------------------------------------------------------------
def test_filter_agrees(ws):
    cur = Curation.from_workspace(ws)
    by_id = answers_by_id(ws)
    assert shown_ids(cur, Filters(agrees="yes")) == {r for r, a in by_id.items() if a.label == a.gold}
    assert shown_ids(cur, Filters(agrees="no")) == {r for r, a in by_id.items() if a.label != a.gold}
    assert shown_ids(cur, Filters(agrees="unknown")) == set()


def test_filter_agrees_unknown_without_gold(tmp_path):
    ws = make_ws(tmp_path, answer=lambda i, r, labels: {"gold": None} if i < 3 else None)
    cur = Curation.from_workspace(ws)
    assert len(shown_ids(cur, Filters(agrees="unknown"))) == 3


def test_filter_valid(tmp_path):
    ws = make_ws(tmp_path, answer=lambda i, r, labels: {"label": "Zinfandel"} if i % 5 == 0 else None)
    cur = Curation.from_workspace(ws)
    invalid = shown_ids(cur, Filters(valid=False))
    assert invalid and all(answers_by_id(ws)[r].label == "Zinfandel" for r in invalid)
    assert shown_ids(cur, Filters(valid=True)) == set(cur.ids.tolist()) - invalid


def test_filter_gold_label(ws):
    cur = Curation.from_workspace(ws)
    by_id = answers_by_id(ws)
    assert shown_ids(cur, Filters(labels=("Merlot", "Syrah"))) == {
        r for r, a in by_id.items() if a.gold in ("Merlot", "Syrah")}


def test_filter_teacher_answer(ws):
    cur = Curation.from_workspace(ws)
    assert shown_ids(cur, Filters(answers=("Merlot",))) == {
        r for r, a in answers_by_id(ws).items() if a.label == "Merlot"}


def test_filter_finish_reason(tmp_path):
    ws = make_ws(tmp_path, answer=lambda i, r, labels: {"finish_reason": "length"} if i in (1, 2) else None)
    cur = Curation.from_workspace(ws)
    assert len(shown_ids(cur, Filters(finish=("length",)))) == 2
    assert len(shown_ids(cur, Filters(finish=("stop", "length")))) == cur.n


def test_filter_status_and_source(tmp_path):
    ws = make_ws(tmp_path, answer=lambda i, r, labels: {"status": "failed", "label": None} if i == 0 else None)
    cur = Curation.from_workspace(ws)
    assert len(shown_ids(cur, Filters(status="failed"))) == 1
    assert len(shown_ids(cur, Filters(status="ok"))) == cur.n - 1
    assert shown_ids(cur, Filters(source="imported")) == set()
    assert len(shown_ids(cur, Filters(source="generated"))) == cur.n


def test_filter_token_range(ws):
    cur = Curation.from_workspace(ws)
    low, high = int(np.percentile(cur.tokens, 25)), int(np.percentile(cur.tokens, 75))
    got = cur.mask(Filters(min_tokens=low, max_tokens=high))
    assert got.any() and (cur.tokens[got] >= low).all() and (cur.tokens[got] <= high).all()
    assert got.sum() == ((cur.tokens >= low) & (cur.tokens <= high)).sum()


def test_filter_text_in_prompt_or_answer(ws):
    cur = Curation.from_workspace(ws)
    by_prompt = shown_ids(cur, Filters(text="BACON"))  # any case
    assert by_prompt and all("bacon" in answers_by_id(ws)[r].messages[-1]["content"] for r in by_prompt)
    by_answer = shown_ids(cur, Filters(text='"variety": "gamay"'))
    assert by_answer == {r for r, a in answers_by_id(ws).items() if a.label == "Gamay"}


def test_filter_duplicates(tmp_path):
    # Same description, points and price → the same prompt.
    import pandas as pd

    from tests.helpers import write_dataset

    path = write_dataset(tmp_path / "data.csv", rows=40)
    frame = pd.read_csv(path)
    frame.loc[[1, 9, 17], ["description", "points", "price"]] = ["Same words.", 90, 20.0]
    frame.loc[[1, 9, 17], "variety"] = "Pinot Noir"
    frame.to_csv(path, index=False)
    ws = make_ws(tmp_path, rows=40, answer=None, dataset={"eval_fraction": 0.0})
    cur = Curation.from_workspace(ws)
    assert shown_ids(cur, Filters(dups=True)) == {1, 9, 17}
    assert len(shown_ids(cur, Filters(dups=False))) == cur.n - 3
    assert set(cur.group_size[cur.positions([1, 9, 17])].tolist()) == {3}


def test_filters_combine(ws):
    cur = Curation.from_workspace(ws)
    both = Filters(agrees="no", labels=("Merlot",))
    assert shown_ids(cur, both) == shown_ids(cur, Filters(agrees="no")) & shown_ids(cur, Filters(labels=("Merlot",)))


def test_parse_filters_and_round_trip():
    f, actions = parse_filters(["agrees=yes", "label=Merlot,Syrah", "tokens=10..200", "valid=no", "dedupe=yes",
                                "cap=5", "finish=length", "status=ok", "source=imported", "dup=no", "text=oak"])
    assert f == Filters(agrees="yes", valid=False, labels=("Merlot", "Syrah"), answers=(), finish=("length",),
                        status="ok", source="imported", min_tokens=10, max_tokens=200, text="oak", dups=False)
    assert actions == {"dedupe": True, "cap": 5}
    spaced = Filters(labels=("Pinot Noir",), text="red fruit", max_tokens=90)
    assert parse_filter_line(spaced.describe())[0] == spaced
    assert Filters.from_dict(spaced.to_dict()) == spaced
    for bad in ("agrees=maybe", "colour=red", "tokens=a..b", "cap=0", "valid=perhaps", "status=done", "label"):
        with pytest.raises(UserError):
            parse_filters([bad])


# selection -----------------------------------------------------------------------------------
def test_default_selection_is_ok_and_valid(tmp_path):
    def answer(i, req, labels):
        return {0: {"status": "failed", "label": None}, 1: {"label": "Zinfandel"},
                2: {"content": "   ", "label": None}}.get(i)

    ws = make_ws(tmp_path, answer=answer)
    cur = Curation.from_workspace(ws)
    first = cur.ids[:3].tolist()
    assert not cur.effective[cur.positions(first)].any()
    assert cur.effective[3:].all()
    assert cur.selectable[cur.positions(first[1:2])].all()  # invalid answers may still be chosen by hand


def test_toggle_writes_the_store(ws):
    cur = Curation.from_workspace(ws)
    row = int(cur.ids[5])
    assert cur.toggle(row) is False
    assert ws.store.selections() == {row: False}
    assert row in cur.excluded
    assert cur.toggle(row) is True
    assert ws.store.selections() == {row: True} and row not in cur.excluded


def test_failed_rows_cannot_be_selected(tmp_path):
    ws = make_ws(tmp_path, answer=lambda i, r, labels: {"status": "failed", "label": None} if i == 0 else None)
    cur = Curation.from_workspace(ws)
    failed = int(cur.ids[0])
    assert cur.toggle(failed) is False
    cur.select_all()
    assert not cur.effective[0]
    assert failed not in ws.store.selections()


def test_range_select(ws):
    cur = Curation.from_workspace(ws)
    cur.select_none()
    rows = cur.ids[3:9].tolist()
    assert cur.set_rows(rows, True) == 6
    assert set(cur.ids[cur.effective].tolist()) == set(rows)


def test_select_all_none_invert_act_on_the_filtered_rows(ws):
    cur = Curation.from_workspace(ws)
    cur.set_filters(Filters(agrees="no"))
    shown = set(cur.ids[cur.view()].tolist())
    cur.select_none()
    assert set(cur.ids[~cur.effective].tolist()) == shown
    cur.invert()
    assert cur.effective.all()
    cur.set_filters(Filters())
    cur.select_none()
    cur.set_filters(Filters(agrees="no"))
    cur.select_all()
    assert set(cur.ids[cur.effective].tolist()) == shown
    flags = ws.store.selections()
    assert {r for r, v in flags.items() if v} == shown


def test_invert_flips_each_row(ws):
    cur = Curation.from_workspace(ws)
    cur.set_rows(cur.ids[:4].tolist(), False)
    before = cur.effective.copy()
    cur.invert()
    assert (cur.effective == ~before).all()


def test_select_matching_keeps_hand_exclusions(ws):
    cur = Curation.from_workspace(ws)
    excluded = cur.ids[[2, 3]].tolist()
    for row in excluded:
        cur.toggle(row)
    cur.select_none()  # a bulk deselection is not an exclusion
    cur.select_matching()
    assert set(cur.ids[~cur.effective].tolist()) == set(excluded)
    cur.select_all()  # "all" means all
    assert cur.effective.all() and not cur.excluded


def test_selection_and_state_persist_across_reopen(tmp_path):
    ws = make_ws(tmp_path)
    cur = Curation.from_workspace(ws)
    cur.toggle(int(cur.ids[0]))
    cur.set_filters(Filters(agrees="yes", text="oak"))
    cur.apply_cap(3)
    cur.set_epochs(7)
    chosen = cur.effective.copy()
    spec = ws.spec.source
    ws.close()
    again = Curation.from_workspace(Workspace.open(spec))
    assert (again.effective == chosen).all()
    assert again.filters == Filters(agrees="yes", text="oak")
    assert again.cap == 3 and again.epochs == 7 and again.excluded == cur.excluded


def test_dedupe_keeps_one_preferring_agreement(tmp_path):
    import pandas as pd

    from tests.helpers import write_dataset

    path = write_dataset(tmp_path / "data.csv", rows=30)
    frame = pd.read_csv(path)
    frame.loc[[2, 5, 8], ["description", "points", "price", "variety"]] = ["Same.", 90, 20.0, "Syrah"]
    frame.to_csv(path, index=False)
    ws = make_ws(tmp_path, rows=30, answer=lambda i, r, labels: {"label": "Merlot"} if r.row_id in (2, 5) else None,
                 dataset={"eval_fraction": 0.0})
    cur = Curation.from_workspace(ws)
    assert cur.dedupe() == 2
    kept = set(cur.ids[cur.effective].tolist()) & {2, 5, 8}
    assert kept == {8}  # the one that agrees with gold
    assert {2, 5} <= cur.excluded
    assert cur.dedupe() == 0


def test_cap_per_label(ws):
    cur = Curation.from_workspace(ws)
    dropped = cur.apply_cap(2)
    counts = {label: chosen for label, chosen, _ in cur.distribution()}
    assert max(counts.values()) == 2 and dropped > 0
    chosen = cur.effective
    assert (cur.agrees[chosen] == 1).all()  # agreeing rows are kept first
    again = Curation.from_workspace(ws)  # deterministic (seeded)
    assert (again.effective == chosen).all()


def test_distribution_selected_next_to_all(ws):
    cur = Curation.from_workspace(ws)
    cur.set_filters(Filters(answers=("Merlot",)))
    cur.select_none()
    dist = {label: (chosen, total) for label, chosen, total in cur.distribution()}
    assert dist["Merlot"][0] == 0 and dist["Merlot"][1] == len(cur.view())
    assert sum(t for _, t in dist.values()) == cur.n


def test_training_tokens_match_count_chat(ws):
    cur = Curation.from_workspace(ws)
    a = cur.answers[0]
    full = tokens.count_training_line([*a.messages, {"role": "assistant", "content": a.content}], "offline-student")
    assert cur.tokens[0] == full
    assert cur.assistant_tokens[0] == tokens.count_text(a.content, "offline-student")


def test_totals_cost_and_epochs(ws):
    cur = Curation.from_workspace(ws)
    t = cur.totals()
    assert t.examples == cur.effective.sum() and t.tokens == cur.tokens[cur.effective].sum()
    assert t.epochs == 3  # auto for 34+ examples
    price = ws.prices.training_price("offline-student")
    assert t.cost_usd == pytest.approx(t.tokens * 3 * price / 1e6)
    cur.set_epochs(2)
    assert cur.totals().epochs == 2
    cur.select_none()
    cur.set_rows(cur.ids[:5].tolist(), True)
    cur.set_epochs(None)
    assert cur.totals().epochs == 20  # auto: at least 100 example passes


def test_leak_guard_flags_rows_now_held_out(tmp_path):
    ws = make_ws(tmp_path, dataset={"eval_fraction": 0.0})
    spec = ws.spec.source
    ws.close()
    # The split changes after generation: some answered train rows are now eval rows.
    text = spec.read_text().replace("eval_fraction = 0.0", "eval_fraction = 0.3")
    spec.write_text(text)
    ws = Workspace.open(spec)
    cur = Curation.from_workspace(ws)
    now_eval = set(ws.data.eval["_row"].tolist())
    assert now_eval and set(cur.ids[cur.leak].tolist()) == now_eval
    cur.select_all()
    assert not (cur.effective & cur.leak).any()
    assert cur.totals().leaked == len(now_eval)


def test_leak_guard_flags_prompts_equal_to_an_eval_prompt(ws):
    eval_req = next(iter_requests(ws.spec, ws.data, TEACHER, "eval"))
    ws.store.record_answer(Answer(model="elsewhere", row_id=-1, prompt_hash="x", split="train", status="ok",
                                  messages=eval_req.messages, content='{"variety": "Merlot"}', label="Merlot",
                                  valid=True, source="imported"))
    cur = Curation.from_workspace(ws)
    p = cur.pos[-1]
    assert cur.leak[p] and prompt_key(eval_req.messages) in cur.context.eval_keys
    assert not cur.effective[p]


def test_imported_rows_load_with_negative_ids(ws):
    ws.store.record_answer(Answer(model="gpt-4o", row_id=-1, prompt_hash="h", split="train", status="ok",
                                  messages=[{"role": "user", "content": "new"}], content='{"variety": "Gamay"}',
                                  label="Gamay", valid=True, source="imported"))
    cur = Curation.from_workspace(ws)
    assert int(cur.ids[-1]) == -1 and cur.imported[-1] and cur.agrees[-1] == -1
    assert shown_ids(cur, Filters(source="imported")) == {-1}


def test_stale_answers_of_an_old_prompt_are_not_loaded(ws):
    n = Curation.from_workspace(ws).n
    spec = ws.spec.with_changes("prompt", user=ws.spec.prompt.user + " Be brief.")
    ws.set_spec(spec)
    assert Curation.from_workspace(ws).n == 0 and n > 0


def test_background_writes_reach_the_store_in_order(ws):
    cur = Curation.from_workspace(ws, background_writes=True)
    for _ in range(3):
        cur.invert()
    cur.toggle(int(cur.ids[1]))
    cur.set_filters(Filters(agrees="no"))
    assert cur.flush(10)
    again = Curation.from_workspace(ws)
    assert (again.effective == cur.effective).all()
    assert again.filters == Filters(agrees="no") and again.excluded == cur.excluded


def test_curation_modules_do_not_import_textual():
    import subprocess
    import sys

    code = ("import sys\nimport distill_tui.core.curate.selection, distill_tui.core.curate.export, distill_tui.core.curate.importer, "
            "distill_tui.core.curate.validate, distill_tui.commands.export\n"
            "print(any(m == 'textual' or m.startswith('textual.') or m == 'rich' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
