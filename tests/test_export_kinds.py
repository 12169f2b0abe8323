"""Export of extraction and generation tasks (issue 14): the teacher's answer is the assistant message,
the provider's checks accept the file, and a validation file is split off although no two answers share
a label. Teacher answers are fabricated in the store."""

from __future__ import annotations

import json
from pathlib import Path

from distill_tui.cli import main
from distill_tui.core.store.database import Answer
from distill_tui.core.task import kinds
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from tests.test_eval_kinds import SCHEMA, TEACHER_M, qa_spec


def teach(spec: Path, text) -> None:
    """Save the teacher's answer `text(i, request)` to every train row."""
    ws = Workspace.open(spec)
    try:
        for i, request in enumerate(iter_requests(ws.spec, ws.data, TEACHER_M, "train")):
            content = text(i, request)
            parsed = kinds.parse_answer(ws.spec, content, ws.data.labels, "stop")
            ws.store.record_answer(Answer(
                model=TEACHER_M, row_id=request.row_id, prompt_hash=request.prompt_hash, split="train", status="ok",
                gold=request.gold, messages=request.messages, content=content, label=parsed.label, valid=parsed.valid,
                problem=parsed.problem, finish_reason="stop", prompt_tokens=20, completion_tokens=12))
    finally:
        ws.close()


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_generation_export_with_a_validation_file(tmp_path, capsys):
    spec = qa_spec(tmp_path, dataset={"reference": "answer"})
    teach(spec, lambda i, r: f"Answer number {i}: {r.messages[-1]['content'][3:]} goes with Merlot.")
    out, val = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    code = main(["export", str(spec), "-o", str(out), "--validation", str(val), "--validation-fraction", "0.2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err + captured.out
    train, held = read(out), read(val)
    assert len(train) + len(held) == 30 and len(held) == 6  # one group: 20 % of the answers, not 0 of 30 "labels"
    assert train[0]["messages"][-1] == {"role": "assistant", "content": train[0]["messages"][-1]["content"]}
    assert train[0]["messages"][-1]["content"].startswith("Answer number")


def test_extraction_export_writes_the_json_answers(tmp_path, capsys):
    spec = qa_spec(tmp_path, prompt={"schema": SCHEMA})
    teach(spec, lambda i, r: json.dumps({"grape": f"Grape {i}"}))
    out = tmp_path / "train.jsonl"
    assert main(["export", str(spec), "-o", str(out)]) == 0, capsys.readouterr().err
    contents = [json.loads(line["messages"][-1]["content"]) for line in read(out)]
    assert len(contents) == 30 and contents[0] == {"grape": "Grape 0"}
