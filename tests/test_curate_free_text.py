"""Curation for free text: refusals, edits kept beside the original and exported in its place, the
gold label put in where the teacher disagrees, grader scores, and sorting by answer length."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distill_tui.core.common.errors import UserError
from distill_tui.core.curate import edits, free_text
from distill_tui.core.curate.export import plan_export, write_export
from distill_tui.core.curate.filters import Filters, parse_filter_line
from distill_tui.core.curate.selection import Curation
from distill_tui.core.store.database import Store
from distill_tui.core.store.edits import GOLD
from tests.test_curate import TEACHER, answers_by_id, make_ws, ws  # noqa: F401


@pytest.mark.parametrize("text", [
    "I'm sorry, but I can't help with that.",
    "I’m sorry, I cannot assist with this request.",
    "Sorry — that's not something I can do.",
    "As an AI language model, I do not have opinions.",
    "Unfortunately I am unable to provide that information.",
    "I can't provide medical advice. Please see a doctor.",
    "I must decline to answer.",
    "That request is against my guidelines.",
])
def test_refusals_are_recognised(text: str) -> None:
    assert free_text.is_refusal(text)


@pytest.mark.parametrize("text", [
    "Pinot Noir",
    '{"variety": "Riesling"}',
    "I can't help but notice the oak: this is a Chardonnay.",
    "The wine is bright and fresh. " * 20 + "I cannot provide more detail.",  # said late, not a refusal
    "We do not know the vintage, but the grape is Malbec.",
    "",
])
def test_answers_are_not_refusals(text: str) -> None:
    assert not free_text.is_refusal(text)


def test_provider_refusal_and_content_filter_count() -> None:
    assert free_text.is_refusal(None, problem="refusal: I can't do that")
    assert free_text.is_refusal("partial", finish_reason="content_filter")


def test_filter_refusal_and_sort_by_length(tmp_path: Path) -> None:
    def answer(i, req, labels):
        if i == 3:
            return {"label": None, "content": "I'm sorry, but I can't help with that.", "valid": False}
        if i == 5:
            return {"content": json.dumps({"variety": req.gold, "why": "long " * 40})}
        return None

    ws = make_ws(tmp_path, answer=answer)
    cur = Curation.from_workspace(ws)
    refused = cur.ids[cur.mask(Filters(refusal=True))].tolist()
    assert len(refused) == 1 and cur.answers[cur.pos[refused[0]]].content.startswith("I'm sorry")
    assert cur.mask(Filters(refusal=False)).sum() == cur.n - 1
    cur.set_filters(Filters(sort="long"))
    view = cur.view()
    assert cur.assistant_tokens[view[0]] == cur.assistant_tokens.max() and "long long" in cur.answers[view[0]].content
    assert list(cur.assistant_tokens[view]) == sorted(cur.assistant_tokens[view], reverse=True)
    longest = int(cur.assistant_tokens.max())
    assert cur.ids[cur.mask(Filters(length=(longest, None)))].tolist() == [int(cur.ids[view[0]])]
    assert cur.mask(Filters(length=(None, longest - 1))).sum() == cur.n - 1
    cur.set_filters(Filters(sort="short"))
    assert list(cur.assistant_tokens[cur.view()]) == sorted(cur.assistant_tokens[cur.view()])
    ws.close()


def test_filter_expressions_round_trip() -> None:
    f, _ = parse_filter_line("refusal=yes edited=no length=5.. score=chrf:0.5.. sort=long")
    assert (f.refusal, f.edited, f.score, f.sort, f.length) == (True, False, ("chrf", 0.5, None), "long", (5, None))
    assert parse_filter_line(f.describe())[0] == f
    assert Filters.from_dict(json.loads(json.dumps(f.to_dict()))) == f
    for bad in ("sort=longest", "score=0.5..", "score=chrf:2..", "refusal=maybe", "length=5", "length=a.."):
        with pytest.raises(UserError):
            parse_filter_line(bad)
    for empty in ("length=10..5", "tokens=500..10", "score=chrf:0.9..0.1"):  # matched nothing, said nothing
        with pytest.raises(UserError, match=f"{empty}: the minimum is above the maximum"):
            parse_filter_line(empty)
    assert parse_filter_line("length=5..5")[0].length == (5, 5)


def test_grader_scores_filter_and_sort(ws) -> None:  # noqa: F811
    cur = Curation.from_workspace(ws)
    with pytest.raises(UserError, match="no grader scores"):
        cur.check_filters(Filters(score=("chrf", 0.5, None)))
    assert not cur.mask(Filters(score=("chrf", 0.5, None))).any()  # a saved filter without scores: nothing
    assert list(free_text.order(cur, np.arange(cur.n), Filters(sort="score"))) == list(range(cur.n))
    ids = cur.ids.tolist()
    cur.scores = free_text.score_columns(cur.ids, {"chrf": {r: (i % 10) / 10 for i, r in enumerate(ids) if i % 7}})
    kept = cur.ids[cur.mask(Filters(score=("chrf", 0.5, None)))].tolist()
    assert kept and all((ids.index(r) % 10) >= 5 and ids.index(r) % 7 for r in kept)
    with pytest.raises(UserError, match="graded by chrf"):
        cur.check_filters(Filters(score=("bleu", None, 0.5)))
    cur.set_filters(Filters(sort="-score"))
    scores = cur.scores["chrf"][cur.view()]
    graded = scores[~np.isnan(scores)]
    assert list(graded) == sorted(graded) and np.isnan(scores[-1])  # unscored rows last


def test_an_edit_is_kept_marked_and_exported_and_the_original_stays(ws, tmp_path) -> None:  # noqa: F811
    cur = Curation.from_workspace(ws)
    row = int(cur.ids[1])
    before = answers_by_id(ws)[row]
    other = next(label for label in ws.data.labels if label != before.gold)
    new = edits.edit(cur, row, json.dumps({"variety": other}), edits.parser(ws))
    assert new.label == other and new.valid and cur.edited[1] and cur.agrees[1] == 0
    assert cur.originals[row].content == before.content
    # The answers table is untouched; the edit is in its own table, and a new curation reads it.
    assert answers_by_id(ws)[row].content == before.content
    again = Curation.from_workspace(ws)
    assert again.answers[again.pos[row]].label == other and again.edited.sum() == 1
    assert again.ids[again.mask(Filters(edited=True))].tolist() == [row]
    plan = plan_export(again)
    line = json.loads(plan.train[plan.train_rows.index(row)])
    assert plan.edited == 1 and "1 corrected answer exported in place of the teacher's" in "\n".join(plan.lines())
    assert plan.to_json()["edited"] == 1
    assert line["messages"][-1] == {"role": "assistant", "content": json.dumps({"variety": other})}
    write_export(plan, tmp_path / "train.jsonl")
    # An edit that is not a label is kept but invalid, as the teacher's answer would be.
    bad = edits.edit(again, row, "Pinot-ish", edits.parser(ws))
    assert not bad.valid and not again.valid[again.pos[row]]
    assert not again.effective[again.pos[row]]  # an answer made invalid is deselected, as by default
    with pytest.raises(UserError, match="cannot be empty"):
        edits.edit(again, row, "  ", edits.parser(ws))
    assert edits.revert(again, [row]) == 1
    assert again.answers[again.pos[row]].content == before.content and not again.edited.any()
    assert again.effective[again.pos[row]]  # valid again: selected again
    assert Curation.from_workspace(ws).edited.sum() == 0


def test_use_the_gold_label_where_the_teacher_disagrees(ws) -> None:  # noqa: F811
    cur = Curation.from_workspace(ws)
    wrong = int((cur.agrees == 0).sum())
    assert wrong > 0
    cur.set_filters(Filters(labels=(ws.data.labels[0],)))
    shown_wrong = int((cur.agrees[cur.view()] == 0).sum())
    assert edits.use_gold(cur, ws, cur.view()) == shown_wrong  # only the rows shown
    assert int((cur.agrees == 0).sum()) == wrong - shown_wrong
    assert edits.use_gold(cur, ws) == wrong - shown_wrong
    assert not (cur.agrees == 0).any() and cur.edited.sum() == wrong
    saved = ws.store.edits()
    assert len(saved) == wrong and {e.reason for e in saved.values()} == {GOLD}
    p = int(np.flatnonzero(cur.edited)[0])
    assert cur.answers[p].content == json.dumps({"variety": cur.answers[p].gold}) and cur.answers[p].valid
    assert edits.use_gold(cur, ws) == 0


def test_use_gold_needs_labels(tmp_path: Path) -> None:
    ws = make_ws(tmp_path)
    cur = Curation.from_workspace(ws)
    cur.context.labels = []
    with pytest.raises(UserError, match="labelled classification"):
        edits.use_gold(cur, ws)
    ws.close()


def test_saving_the_teachers_own_answer_is_no_edit(ws) -> None:  # noqa: F811
    cur = Curation.from_workspace(ws)
    row = int(cur.ids[2])
    original = cur.answers[2].content
    same = edits.edit(cur, row, original, edits.parser(ws))  # E, then ctrl+s without a change
    assert same.content == original and not cur.edited.any() and not ws.store.edits()
    edits.edit(cur, row, json.dumps({"variety": "Other"}), edits.parser(ws))
    back = edits.edit(cur, row, original, edits.parser(ws))  # typed back as it was: the edit is dropped
    assert back.content == original and not cur.edited.any() and not ws.store.edits()
    assert Curation.from_workspace(ws).edited.sum() == 0


def test_an_older_workspace_gains_the_edits_table(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = Store(path)
    store.execute("DROP TABLE answer_edits")
    store.close()
    store = Store(path)
    assert store.edits() == {}
    store.close()


def test_the_gold_label_selects_an_invalid_answer_and_a_reload_agrees(tmp_path: Path) -> None:
    def refusal_at_3(i, req, labels):
        return {"label": None, "content": "I'm sorry, I can't help with that.", "valid": False} if i == 3 else None

    ws = make_ws(tmp_path, answer=refusal_at_3)
    cur = Curation.from_workspace(ws)
    p = int(np.flatnonzero(cur.refusal)[0])
    assert not cur.effective[p]
    assert edits.use_gold(cur, ws, np.array([p])) == 1
    assert cur.effective[p] and not cur.refusal[p] and cur.edited[p]
    again = Curation.from_workspace(ws)
    assert again.effective[p] and list(again.effective) == list(cur.effective)
    ws.close()
