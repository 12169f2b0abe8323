"""The keys a run plans with (answered, failed before) come straight from the answers table, without
reading the prompts those answers were asked with."""

from __future__ import annotations

import time

from distill_tui.core.store import prompts
from distill_tui.core.store.database import Answer
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec


def _answer(model: str, row: int, split: str, status: str) -> Answer:
    return Answer(model=model, row_id=row, prompt_hash=f"{row:040x}", split=split, status=status, gold="x",
                  messages=[{"role": "user", "content": f"row {row} " * 20}], content="x" if status == "ok" else None,
                  created_at=time.time())


def test_failed_keys_are_those_of_the_failed_answers_of_that_model_and_split(tmp_path, monkeypatch):
    ws = Workspace.open(write_spec(tmp_path))
    with ws.store.transaction():
        for row in range(600):  # enough prompts to fill blocks
            ws.store.record_answer(_answer("m", row, "train" if row % 3 else "eval", "failed" if row % 2 else "ok"))
            ws.store.record_answer(_answer("other", row, "train", "failed"))
    expected = {(a.row_id, a.prompt_hash) for a in ws.store.answers("m", "train", status="failed")}
    monkeypatch.setattr(prompts.PromptCodec, "load", lambda *a: (_ for _ in ()).throw(AssertionError("read a prompt")))
    monkeypatch.setattr(prompts.PromptCodec, "blocks_of", lambda *a: (_ for _ in ()).throw(AssertionError("read a block")))
    got = ws.store.failed_keys("m", "train")
    assert got == expected and len(got) == 200
    assert ws.store.answered_keys("m") == {(r, f"{r:040x}") for r in range(0, 600, 2)}
    ws.close()
