"""The comparison table built from saved answers: definitions, statistics through the table, leak
check, model list and exports (no provider needed: answers are fabricated in the store)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from distill_tui.core.common.errors import UserError
from distill_tui.core.evaluate import comparison as evaluate
from distill_tui.core.evaluate import report
from distill_tui.core.evaluate.comparison import BASE, CHECKPOINT, DISTILLED, EXTRA, TEACHER, EvalModel
from distill_tui.core.evaluate.run import models_of_interest
from distill_tui.core.store.database import Answer
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.task.requests import iter_requests
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec

TEACHER_M, BASE_M, TUNED_M = "offline-teacher", "offline-student", "ft:offline-student:test:abc"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace.open(write_spec(tmp_path))
    yield workspace
    workspace.close()


def eval_requests(ws: Workspace):
    return list(iter_requests(ws.spec, ws.data, ws.spec.teacher.model, "eval"))


def wrong_label(ws: Workspace, gold: str) -> str:
    return next(label for label in ws.data.labels if label != gold)


def fabricate(ws: Workspace, model: str, outcomes: list[str | None], *, latency: float = 0.5,
              prompt_tokens: int = 100, completion_tokens: int = 10, cost: float | None = 0.001) -> None:
    """Save one answer per eval row: "right", "wrong", "invalid", "failed", or None (not asked)."""
    for request, outcome in zip(eval_requests(ws), outcomes):
        if outcome is None:
            continue
        label, valid, status = request.gold, True, "ok"
        if outcome == "wrong":
            label = wrong_label(ws, request.gold)
        elif outcome == "invalid":
            label, valid = "Cabernet Franc-ish", False
        elif outcome == "failed":
            label, valid, status = None, False, "failed"
        ws.store.record_answer(Answer(
            model=model, row_id=request.row_id, prompt_hash=request.prompt_hash, split="eval", status=status,
            gold=request.gold, content=json.dumps({"variety": label}), label=label, valid=valid,
            prompt_tokens=prompt_tokens if status == "ok" else 0,
            completion_tokens=completion_tokens if status == "ok" else 0,
            latency_s=latency if status == "ok" else None, cost_usd=cost if status == "ok" else None,
            error="provider error (500): boom" if status == "failed" else None,
        ))


def three_models() -> list[EvalModel]:
    return [EvalModel(TEACHER_M, TEACHER), EvalModel(BASE_M, BASE), EvalModel(TUNED_M, DISTILLED)]


def test_wilson_interval_through_the_table(ws: Workspace) -> None:
    total = len(eval_requests(ws))
    fabricate(ws, BASE_M, ["right"] * 8 + ["wrong"] * 2 + [None] * (total - 10))
    row = evaluate.build_table(ws, [EvalModel(BASE_M, BASE)]).rows[0]
    assert (row.n, row.correct, row.accuracy) == (10, 8, 0.8)
    assert row.ci_low == pytest.approx(0.4901625, abs=1e-6)
    assert row.ci_high == pytest.approx(0.9433178, abs=1e-6)
    assert row.status == "partial" and row.missing == total - 10 and row.coverage == pytest.approx(10 / total)
    assert row.accuracy_all == pytest.approx(8 / total)


def test_mcnemar_through_the_table(ws: Workspace) -> None:
    # Paired rows: tuned right & base wrong on 5, base right & tuned wrong on 1, both right on 4.
    total = len(eval_requests(ws))
    rest = [None] * (total - 10)
    fabricate(ws, BASE_M, ["wrong"] * 5 + ["right"] + ["right"] * 4 + rest)
    fabricate(ws, TUNED_M, ["right"] * 5 + ["wrong"] + ["right"] * 4 + rest)
    table = evaluate.build_table(ws, three_models())
    base, tuned = table.row(BASE_M), table.row(TUNED_M)
    assert base.p_value_vs_base is None
    assert (tuned.wins_vs_base, tuned.losses_vs_base, tuned.paired_n) == (5, 1, 10)
    assert tuned.p_value_vs_base == pytest.approx(14 / 64)  # 2 · P(X ≤ 1), X ~ Bin(6, ½)


def test_mcnemar_one_sided_discordance_and_none(ws: Workspace) -> None:
    total = len(eval_requests(ws))
    fabricate(ws, BASE_M, ["wrong"] * 10 + ["right"] * (total - 10))
    fabricate(ws, TUNED_M, ["right"] * total)
    fabricate(ws, TEACHER_M, ["wrong"] * 10 + ["right"] * (total - 10))
    table = evaluate.build_table(ws, three_models())
    assert table.row(TUNED_M).p_value_vs_base == pytest.approx(2 / 1024)
    # The teacher got exactly the base's rows right: no discordant pair, p = 1.
    teacher = table.row(TEACHER_M)
    assert (teacher.wins_vs_base, teacher.losses_vs_base) == (0, 0)
    assert teacher.p_value_vs_base == 1.0
    assert table.complete


def test_failed_every_request_is_failed_not_zero(ws: Workspace) -> None:
    total = len(eval_requests(ws))
    fabricate(ws, BASE_M, ["right"] * total)
    fabricate(ws, TUNED_M, ["failed"] * total)
    table = evaluate.build_table(ws, three_models())
    tuned = table.row(TUNED_M)
    assert tuned.status == "failed"
    assert tuned.accuracy is None and tuned.ci_low is None and tuned.n == 0 and tuned.failed == total
    assert tuned.last_error == "provider error (500): boom"
    assert tuned.p_value_vs_base is None and tuned.spent_usd == 0.0
    assert report.accuracy(tuned) == "FAILED"
    assert table.row(TEACHER_M).status == "not run"
    assert report.accuracy(table.row(TEACHER_M)) == "not run"
    assert not table.complete
    payload = table.to_json()
    assert payload["models"][2]["accuracy"] is None and payload["models"][2]["status"] == "failed"


def test_failed_rows_are_not_counted_as_wrong(ws: Workspace) -> None:
    total = len(eval_requests(ws))
    fabricate(ws, BASE_M, ["failed"] * 4 + ["right"] * (total - 4))
    row = evaluate.build_table(ws, [EvalModel(BASE_M, BASE)]).rows[0]
    assert row.accuracy == 1.0 and row.n == total - 4 and row.failed == 4 and row.status == "partial"


def test_invalid_answers_are_wrong_and_counted(ws: Workspace) -> None:
    total = len(eval_requests(ws))
    fabricate(ws, BASE_M, ["invalid"] * 3 + ["right"] * (total - 3))
    row = evaluate.build_table(ws, [EvalModel(BASE_M, BASE)]).rows[0]
    assert row.n == total and row.correct == total - 3 and row.invalid == 3
    assert row.invalid_rate == pytest.approx(3 / total)
    detail = evaluate.build_table(ws, [EvalModel(BASE_M, BASE)]).details[BASE_M]
    assert sum(c for g, p, c in detail.confusions if p == evaluate.INVALID) == 3
    assert detail.predicted_labels[-1] == evaluate.INVALID


def test_agreement_latency_cost_and_spend(ws: Workspace) -> None:
    total = len(eval_requests(ws))
    fabricate(ws, TEACHER_M, ["right"] * total, latency=1.0)
    fabricate(ws, BASE_M, ["wrong"] * 4 + ["right"] * (total - 4), latency=0.2, cost=0.002)
    table = evaluate.build_table(ws, three_models()[:2])
    base = table.row(BASE_M)
    assert base.agreement_with_teacher == pytest.approx((total - 4) / total)
    assert base.agreement_n == total
    assert table.row(TEACHER_M).agreement_with_teacher is None
    assert base.latency_mean_s == pytest.approx(0.2) and base.latency_p95_s == pytest.approx(0.2)
    # offline-student is priced like gpt-4o-mini: 100k input at $0.15/M + 10k output at $0.60/M.
    assert base.cost_per_1k_usd == pytest.approx(0.021)
    assert table.row(TEACHER_M).cost_per_1k_usd == pytest.approx(0.35)  # 0.25 + 0.10 at gpt-4o prices
    assert base.spent_usd == pytest.approx(0.002 * total)


def test_unknown_price_gives_no_cost(ws: Workspace) -> None:
    fabricate(ws, "mystery-model", ["right"] * 5, cost=None)
    row = evaluate.build_table(ws, [EvalModel("mystery-model", EXTRA)]).rows[0]
    assert row.cost_per_1k_usd is None and row.spent_usd is None and report.money(None) == report.DASH


def test_per_class_and_confusions(ws: Workspace) -> None:
    requests = eval_requests(ws)
    fabricate(ws, BASE_M, ["wrong" if r.gold == "Merlot" else "right" for r in requests])
    detail = evaluate.build_table(ws, [EvalModel(BASE_M, BASE)]).details[BASE_M]
    merlot = next(c for c in detail.classes if c.label == "Merlot")
    assert merlot.accuracy == 0.0 and merlot.n == sum(r.gold == "Merlot" for r in requests)
    assert all(c.accuracy == 1.0 for c in detail.classes if c.n and c.label != "Merlot")
    gold, pred, count = detail.confusions[0]
    assert (gold, pred, count) == ("Merlot", wrong_label(ws, "Merlot"), merlot.n)
    assert detail.matrix[("Merlot", pred)] == merlot.n


def test_answers_of_another_prompt_are_ignored(ws: Workspace) -> None:
    total = len(eval_requests(ws))
    fabricate(ws, BASE_M, ["right"] * total)
    ws.set_spec(ws.spec.with_changes("prompt", system="Another system prompt."))
    row = evaluate.build_table(ws, [EvalModel(BASE_M, BASE)]).rows[0]
    assert row.status == "not run" and row.n == 0


def test_no_eval_rows_is_a_user_error(tmp_path: Path) -> None:
    ws = Workspace.open(write_spec(tmp_path, dataset={"eval_fraction": 0}))
    with pytest.raises(UserError, match="eval_fraction"):
        evaluate.build_table(ws, three_models())
    ws.close()


def test_leak_check_clean_selected_and_exported(ws: Workspace, tmp_path: Path) -> None:
    requests = eval_requests(ws)
    train = next(iter_requests(ws.spec, ws.data, BASE_M, "train"))
    ws.store.set_selections({train.row_id: True, requests[0].row_id: False})
    table = evaluate.build_table(ws, three_models())
    assert table.leak.ok and "disjoint from training rows" in table.leak.line()

    ws.store.set_selections({requests[1].row_id: True})
    jsonl = tmp_path / "train.jsonl"
    lines = [{"messages": [*r.messages, {"role": "assistant", "content": "{}"}]} for r in (train, requests[2])]
    jsonl.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    ws.store.record_export(str(jsonl), examples=2, tokens=0)
    leak = evaluate.build_table(ws, three_models()).leak
    assert leak.leaked == sorted([requests[1].row_id, requests[2].row_id])
    assert "1 exported file" in leak.sources
    assert leak.line().startswith("WARNING: 2 of")
    ws.store.record_export(str(jsonl), examples=2, tokens=0)  # the same file exported again
    leak = evaluate.build_table(ws, three_models()).leak
    assert "1 exported file" in leak.sources and leak.line().count(str(jsonl)) == 1


def test_models_of_interest(ws: Workspace) -> None:
    assert [(m.name, m.role) for m in models_of_interest(ws)] == [(TEACHER_M, TEACHER), (BASE_M, BASE)]
    ws.store.save_job(JobRecord(id="ftjob-1", backend="openai", base_model=BASE_M, status="succeeded",
                                fine_tuned_model=TUNED_M, created_at=1.0))
    ws.store.save_job(JobRecord(id="ftjob-2", backend="openai", base_model=BASE_M, status="failed", created_at=2.0))
    ws.store.save_checkpoints("ftjob-1", [{"id": "cp-1", "step": 10, "model_name": TUNED_M + ":ckpt-step-10"}])
    names = models_of_interest(ws, ["gpt-x", TEACHER_M], checkpoints=True)
    assert [(m.name, m.role) for m in names] == [
        (TEACHER_M, TEACHER), (BASE_M, BASE), (TUNED_M, DISTILLED), (TUNED_M + ":ckpt-step-10", CHECKPOINT),
        ("gpt-x", EXTRA),
    ]
    assert [m.role for m in models_of_interest(ws)] == [TEACHER, BASE, DISTILLED]
    with pytest.raises(UserError):
        models_of_interest(ws, [" "])


def test_exports(ws: Workspace, tmp_path: Path) -> None:
    total = len(eval_requests(ws))
    fabricate(ws, TEACHER_M, ["right"] * total)
    fabricate(ws, BASE_M, ["wrong"] * 10 + ["right"] * (total - 10))
    fabricate(ws, TUNED_M, ["failed"] * total)
    table = evaluate.build_table(ws, three_models())

    md = report.export(table, tmp_path / "out" / "table.md").read_text(encoding="utf-8")
    assert "| model | role | n | accuracy | 95% CI | p vs base |" in md
    assert f"| {BASE_M} | base student | {total} | {report.pct((total - 10) / total)} |" in md
    assert f"| {TUNED_M} | distilled | 0/{total} | FAILED |" in md
    assert f"- {TUNED_M}: FAILED, no row answered (provider error (500): boom)" in md
    assert "## Largest confusions" in md and f"## Per-class accuracy: {BASE_M}" in md
    assert "disjoint from training rows" in md

    rows = list(csv.DictReader(io.StringIO(report.export(table, tmp_path / "t.csv").read_text(encoding="utf-8"))))
    assert [r["model"] for r in rows] == [TEACHER_M, BASE_M, TUNED_M]
    assert rows[1]["correct"] == str(total - 10) and rows[2]["accuracy"] == "" and rows[2]["status"] == "failed"

    data = json.loads(report.export(table, tmp_path / "t.json").read_text(encoding="utf-8"))
    assert {"model", "role", "n", "correct", "accuracy", "ci_low", "ci_high", "cost_per_1k_usd",
            "p_value_vs_base"} <= set(data["models"][0])
    assert data["details"][BASE_M]["top_confusions"][0]["count"] >= 1
    assert not list((tmp_path / "out").glob(".*.tmp"))

    with pytest.raises(UserError, match="export format"):
        report.export(table, tmp_path / "t.txt")


def test_text_table_and_cells(ws: Workspace) -> None:
    total = len(eval_requests(ws))
    fabricate(ws, BASE_M, ["right"] * total)
    text = report.text_table(evaluate.build_table(ws, three_models()))
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["model", "role", "n", "acc"]
    assert "100.0%" in lines[3] and "not run" in lines[2]
    assert report.p_value(0.0004) == "<0.001" and report.p_value(0.21875) == "0.219" and report.p_value(1.0) == "1.00"
    assert report.seconds(0.25) == "250ms" and report.seconds(1.5) == "1.50s"
