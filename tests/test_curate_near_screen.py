"""Curate screen: `D` deselects near-duplicate prompts and answers, one kept per group (Pilot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distill_tui.core.curate.near_curation import near_drop
from tests.test_curate import make_ws
from tests.test_screen_curate import SIZE, CurateApp, settle, stored

WORDS = "plum cherry lemon smoke pepper honey mint cocoa olive tar violet leather herbs clove melon".split()


def _answers(i: int, req: Any, labels: list[str]) -> dict[str, Any]:
    """Rows 0-2 answer alike (punctuation, one word changed); every other answer is its own."""
    if i < 3:
        return {"content": ["The grape is Merlot, soft and plummy.", "The grape is Merlot: soft, plummy!",
                            "The grape is Merlot, soft and jammy."][i], "valid": True}
    return {"content": " ".join(f"{WORDS[(i + k) % len(WORDS)]}{i}" for k in range(5)), "valid": True}


async def test_near_dedupe_key(tmp_path: Path) -> None:
    # Free text: a classification task's answers are labels, never near-duplicates (test_near_curation).
    ws = make_ws(tmp_path, rows=60, answer=_answers, task={"kind": "generation"}, dataset={"reference": "variety"},
                 prompt={"user": "Review: {description} Which grape?"})
    try:
        app = CurateApp(ws)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            cur = app.screen.cur
            ids = cur.ids.tolist()
            before = int(cur.selected.sum())
            # The test data's reviews repeat a few words per label: some prompts are near-duplicates too.
            by_prompt = near_drop(cur, cur.effective, "prompts")
            rest = cur.effective.copy()
            rest[by_prompt] = False
            expected = len(by_prompt) + len(near_drop(cur, rest, "answers"))
            await pilot.press("D")
            await settle(pilot)
            assert f"near-duplicates: {expected:,} rows deselected" in app.screen.status
            assert int(cur.selected.sum()) == before - expected
            assert cur.selected[cur.positions([ids[0]])].all()  # the first of the group is kept
            assert not cur.selected[cur.positions(ids[1:3])].any()
            assert {ids[1], ids[2]} <= stored(app).excluded  # saved, as a hand deselection
    finally:
        ws.close()


async def test_b_caps_only_a_labelled_task(tmp_path: Path) -> None:
    ws = make_ws(tmp_path, rows=60, answer=_answers, task={"kind": "generation"}, dataset={"reference": "variety"},
                 prompt={"user": "Review: {description} Which grape?"})
    try:
        app = CurateApp(ws)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            before = int(app.screen.cur.selected.sum())
            await pilot.press("b", "1", "enter")
            await settle(pilot)
            assert "a cap per label is for classification" in app.screen.status
            assert app.screen.cur.cap is None and int(app.screen.cur.selected.sum()) == before
    finally:
        ws.close()
