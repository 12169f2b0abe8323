"""The cap per label holds after every later change and in every export; a range takes the opposite
of its first row; a filter on a label no row has is refused."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from distill_tui.cli import main
from distill_tui.core.common.errors import UserError
from distill_tui.core.curate.export import plan_export
from distill_tui.core.curate.filters import Filters, check_known
from distill_tui.core.curate.selection import Curation
from distill_tui.core.store.database import Answer
from distill_tui.core.workspace.workspace import Workspace
from tests.test_curate import make_ws

CAP = 2


@pytest.fixture
def ws(tmp_path):
    workspace = make_ws(tmp_path, rows=80)
    yield workspace
    workspace.close()


def per_label(cur: Curation) -> Counter:
    return Counter(cur.answer_codes[cur.effective].tolist())


def capped(ws: Workspace) -> Curation:
    cur = Curation.from_workspace(ws)
    cur.apply_cap(CAP)
    assert max(per_label(cur).values()) == CAP
    return cur


@pytest.mark.parametrize("action", ["select_all", "select_matching", "invert"])
def test_cap_holds_after_bulk_actions(ws, action):
    cur = Curation.from_workspace(ws)
    cur.select_none()
    assert cur.apply_cap(CAP) == 0 and not cur.excluded  # the cap is set while nothing is selected
    getattr(cur, action)()
    assert max(per_label(cur).values()) == CAP and cur.capped > 0
    assert max(per_label(Curation.from_workspace(ws)).values()) == CAP  # and in the store


def test_cap_holds_for_rows_that_arrive_later(ws):
    """Rows imported (or answered) after the cap was set come in selected by default: a reload caps them."""
    cur = capped(ws)
    label = cur.answer_values[cur.answer_codes[cur.effective][0]]
    for i in range(1, 6):
        ws.store.record_answer(Answer(model="elsewhere", row_id=-i, prompt_hash=f"h{i}", split="train", status="ok",
                                      messages=[{"role": "user", "content": f"new wine {i}"}],
                                      content=json.dumps({"variety": label}), label=label, valid=True,
                                      source="imported"))
    again = Curation.from_workspace(ws)
    assert again.cap == CAP and max(per_label(again).values()) == CAP
    assert (again.effective == Curation.from_workspace(ws).effective).all()  # stable from load to load


def test_a_hand_selection_over_the_cap_wins_and_another_row_goes(ws):
    cur = capped(ws)
    code = cur.answer_codes[cur.effective][0]
    spare = int(cur.ids[(cur.answer_codes == code) & ~cur.effective & cur.selectable][0])
    assert cur.toggle(spare) is True and cur.capped == 1
    assert per_label(cur)[code] == CAP
    cur.set_rows(cur.ids[(cur.answer_codes == code) & cur.selectable].tolist(), True)
    assert per_label(cur)[code] == CAP


def test_export_honours_the_saved_cap(ws, tmp_path, capsys):
    cur = capped(ws)
    cur.select_all()
    # A selection saved before caps were enforced: flags over the cap, as an older version left them.
    ws.store.set_selections({int(r): True for r in cur.ids[cur.selectable].tolist()})
    cur.flush()
    loaded = Curation.from_workspace(ws)
    assert max(per_label(loaded).values()) == CAP  # the load caps them...
    loaded.selected |= loaded.selectable  # ...and the export holds the cap by itself too
    for plan in (plan_export(loaded), plan_export(loaded, filters=Filters())):
        labels = Counter(loaded.answers[loaded.pos[r]].label for r in plan.train_rows)
        assert max(labels.values()) <= CAP and f"at most {CAP} per label" in plan.source
    out = tmp_path / "train.jsonl"
    ws.close()
    code = main(["export", str(ws.spec.source), "-o", str(out), "--filter", "valid=yes"])
    assert code == 0, capsys.readouterr().err
    answers = Counter(json.loads(line)["messages"][-1]["content"] for line in out.read_text().splitlines())
    assert max(answers.values()) <= CAP


def test_export_cap_action_replaces_the_saved_cap(ws):
    cur = capped(ws)
    plan = plan_export(cur, filters=Filters(), actions={"dedupe": False, "cap": 3})
    assert max(Counter(cur.answers[cur.pos[r]].label for r in plan.train_rows).values()) == 3


def test_clearing_the_cap_stops_enforcing_it(ws):
    cur = capped(ws)
    cur.apply_cap(None)
    cur.select_all()
    assert cur.cap is None and max(per_label(cur).values()) > CAP


def test_range_takes_the_opposite_of_its_first_row(ws):
    cur = Curation.from_workspace(ws)
    first = int(cur.ids[0])
    assert cur.effective[0] and cur.range_value(first) is False
    cur.set_rows(cur.ids[:5].tolist(), cur.range_value(first))
    assert not cur.effective[:5].any()
    assert cur.range_value(first) is True


# unknown labels ---------------------------------------------------------------------------------
def test_unknown_label_names_the_closest_known_ones(ws):
    cur = Curation.from_workspace(ws)
    with pytest.raises(UserError, match=r"label=merlot: no gold label 'merlot'; did you mean Merlot\?"):
        cur.check_filters(Filters(labels=("merlot",)))
    with pytest.raises(UserError, match=r"answer=Pinot Nor: .*did you mean Pinot Noir\?"):
        cur.check_filters(Filters(answers=("Pinot Nor",)))
    with pytest.raises(UserError, match=r"answer=Nonexistent: no teacher answer 'Nonexistent'; known: "):
        cur.check_filters(Filters(answers=("Nonexistent",)))
    with pytest.raises(UserError, match="finish=lenght"):
        cur.check_filters(Filters(finish=("lenght",)))
    cur.check_filters(Filters(labels=("Merlot", "Syrah"), answers=("Gamay",), finish=("length",)))


def test_check_known_with_nothing_known():
    with pytest.raises(UserError, match="there are none"):
        check_known(Filters(labels=("x",)), [], [], [])


@pytest.mark.parametrize("expr", ["label=merlot", "answer=Nonexistent"])
def test_cli_unknown_label_exit_2_one_line(ws, tmp_path, capsys, expr):
    out = tmp_path / "t.jsonl"
    code = main(["export", str(ws.spec.source), "-o", str(out), "--filter", expr])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and expr in err and not out.exists()
    assert "Merlot" in err if expr == "label=merlot" else "known:" in err
