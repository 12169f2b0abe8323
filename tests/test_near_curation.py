"""Near-duplicate curation: keep one teacher answer per group of near-duplicate prompts or answers
(core/curate/near_curation.py), from the core, the export plan and `distill-tui export --near-dedupe`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from distill_tui.cli import main
from distill_tui.core.common.errors import UserError
from distill_tui.core.curate.export import plan_export
from distill_tui.core.curate.near_curation import dedupe_near, near_drop, parse_fields
from distill_tui.core.curate.selection import Curation
from distill_tui.core.store.database import Answer
from tests.test_curate import make_ws

WORDS = ("plum cherry lemon smoke pepper honey mint cocoa olive tar violet leather herbs clove melon pear "
         "apricot toast butter flint").split()


def _answer(row_id: int, prompt: str, content: str, *, agrees: bool = True) -> Answer:
    return Answer(model="t", row_id=row_id, prompt_hash=str(row_id), split="train", status="ok", gold="A",
                  messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}],
                  content=content, label="A" if agrees else "B", valid=True)


def _distinct(i: int) -> str:
    return " ".join(WORDS[(i * 7 + k) % len(WORDS)] + str(i) for k in range(6))


def test_keeps_the_row_that_agrees_with_gold_then_the_lowest_id() -> None:
    near = "Which grape makes this red wine from Bordeaux with notes of cassis and cedar?"
    answers = [
        _answer(1, near, "Cabernet Sauvignon, for its cassis and cedar.", agrees=False),
        _answer(2, near.replace("Which", "What"), "Merlot, by the soft fruit."),
        _answer(3, near + "!!", "Merlot, by the soft fruit."),
        *(_answer(10 + i, _distinct(i), _distinct(100 + i)) for i in range(8)),
    ]
    cur = Curation(answers)
    drop = near_drop(cur, cur.effective, "prompts")
    # Row 1 is first by id but disagrees with gold: row 2 is kept, rows 1 and 3 go.
    assert cur.ids[drop].tolist() == [1, 3]
    assert dedupe_near(cur, ("prompts",)) == 2
    assert not cur.selected[cur.positions([1, 3])].any() and cur.selected[cur.positions([2])].all()
    assert {1, 3} <= cur.excluded  # an exclusion: "select all matching" does not bring them back
    cur.select_matching()
    assert not cur.selected[cur.positions([1, 3])].any()


def test_answers_are_a_field_of_their_own() -> None:
    answers = [_answer(i, _distinct(i), f"The answer is {'yes' if i % 2 else 'no'}, because of the tannins.")
               for i in range(1, 7)]
    cur = Curation(answers)
    assert near_drop(cur, cur.effective, "prompts").size == 0
    # "yes" and "no" answers share 6 of 8 words (Jaccard 0.75): one group at 0.7, two groups at 0.8.
    assert cur.ids[near_drop(cur, cur.effective, "answers")].tolist() == [2, 3, 4, 5, 6]
    assert cur.ids[near_drop(cur, cur.effective, "answers", threshold=0.8)].tolist() == [3, 4, 5, 6]


def test_parse_fields_and_bad_values() -> None:
    assert parse_fields("both") == ("prompts", "answers")
    assert parse_fields("Answers") == ("answers",)
    with pytest.raises(UserError, match="--near-dedupe replies: use prompts, answers or both"):
        parse_fields("replies")


def _free_text(i: int, req: Any, labels: list[str]) -> dict[str, Any]:
    """Rows 0-2 answer alike (a word changed, punctuation); every other answer is distinct."""
    if i < 3:
        return {"content": ["The grape is Merlot, soft and plummy.", "The grape is Merlot: soft, plummy!",
                            "The grape is Merlot, soft and jammy."][i], "valid": True}
    return {"content": _distinct(i), "valid": True}


FREE_TEXT = {"task": {"kind": "generation"}, "dataset": {"reference": "variety"},  # free-text answers
             "prompt": {"user": "Review: {description} Which grape?"}}


def test_export_plan_drops_near_duplicate_answers(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, rows=60, answer=_free_text, **FREE_TEXT)
    try:
        cur = Curation.from_workspace(ws)
        plain = plan_export(cur)
        plan = plan_export(cur, actions={"near": ("answers",), "near_threshold": 0.6})
    finally:
        ws.close()
    assert plan.dropped == {"near-duplicate answers": 2}
    assert len(plan.train_rows) == len(plain.train_rows) - 2
    assert "near-duplicate answers dropped 2 rows" in "\n".join(plan.lines())


def test_cli_export_near_dedupe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_ws(tmp_path, rows=60, answer=_free_text, **FREE_TEXT)
    spec = str(ws.spec.source)
    ws.close()
    out = tmp_path / "train.jsonl"
    assert main(["export", spec, "-o", str(out), "--near-dedupe", "answers", "--near-threshold", "0.6",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dropped"] == {"near-duplicate answers": 2}
    contents = [json.loads(line)["messages"][-1]["content"] for line in out.read_text().splitlines()]
    assert sum("Merlot" in c for c in contents) == 1
    for bad in (["--near-dedupe", "replies"], ["--near-dedupe", "prompts", "--near-threshold", "1.5"]):
        assert main(["export", spec, "-o", str(out), *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("distill-tui: error:") and len(err.strip().splitlines()) == 1


def test_a_classification_tasks_answers_are_labels_never_near_duplicates(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, rows=60)  # every answer is one of a few labels, repeated by design
    try:
        cur = Curation.from_workspace(ws)
        # It kept one example per label: the classification demo's 420 answers became 12 (export and D).
        assert near_drop(cur, cur.effective, "answers").size == 0
        assert dedupe_near(cur, ("answers",)) == 0
        assert plan_export(cur, actions={"near": ("answers",)}).dropped.get("near-duplicate answers", 0) == 0
    finally:
        ws.close()


def test_a_cap_per_label_is_refused_for_free_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_ws(tmp_path, rows=60, answer=_free_text, **FREE_TEXT)
    spec = str(ws.spec.source)
    try:
        cur = Curation.from_workspace(ws)
        # It capped per distinct answer text: an exact dedupe of answers under another name.
        with pytest.raises(UserError, match="a cap per label is for classification"):
            cur.apply_cap(1)
        assert cur.cap is None
        with pytest.raises(UserError, match="a cap per label is for classification"):
            plan_export(cur, actions={"cap": 1})
    finally:
        ws.close()
    assert main(["export", spec, "-o", str(tmp_path / "t.jsonl"), "--filter", "cap=1"]) == 2
    err = capsys.readouterr().err
    assert "a cap per label is for classification" in err and len(err.strip().splitlines()) == 1


def test_extraction_records_are_never_near_duplicate_answers() -> None:
    from distill_tui.core.curate.importer import Context

    records = [json.dumps({"grape": "Merlot", "region": "Bordeaux", "producer": f"Château {name}"})
               for name in ("Lafon", "Brun", "Moreau", "Valrose")]
    answers = [_answer(i + 1, _distinct(i), record) for i, record in enumerate(records)]
    assert near_drop(Curation(answers), Curation(answers).effective, "answers").size == 3  # free text: alike
    cur = Curation(answers, context=Context(kind="extraction"))
    assert near_drop(cur, cur.effective, "answers").size == 0
