"""Why a model has no score: no price while a budget is set, the budget spent, a fine-tuned model of
another provider, a model the provider does not know; the exit codes of those cases, and the cheap
fingerprint the Results screen reloads by."""

from __future__ import annotations

import json
from pathlib import Path

from distill_tui.cli import main
from distill_tui.commands.eval import exit_code
from distill_tui.core.evaluate import comparison as evaluate
from distill_tui.core.evaluate import report
from distill_tui.core.evaluate.comparison import DISTILLED, EXTRA, NO_PRICE, TEACHER, EvalModel
from distill_tui.core.evaluate.run import (
    EXTRAS_SETTING,
    EvalRun,
    models_of_interest,
    run_evaluation,
    same_provider,
    table_fingerprint,
)
from distill_tui.core.run.generate import RunResult
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec
from tests.test_evaluate import BASE_M, TEACHER_M, TUNED_M, eval_requests, fabricate

ROWS = 48
OPENAI = "https://api.openai.com/v1"
ELSEWHERE_M = "ft:gpt-4o-mini-2024-07-18:acme::xyz"


def spec_path(folder: Path, **generation) -> Path:
    return write_spec(folder, rows=ROWS, generation={"max_retries": 0, **generation})


def save_tuned(ws: Workspace, job_id: str, model: str, data: dict | None, created_at: float = 1.0) -> None:
    ws.store.save_job(JobRecord(id=job_id, backend="openai", base_model=BASE_M, status="succeeded",
                                fine_tuned_model=model, created_at=created_at, data=data))


# no price while a budget is set ---------------------------------------------------------------
def test_no_price_under_a_budget_is_the_reason_before_any_run(tmp_path: Path) -> None:
    ws = Workspace.open(spec_path(tmp_path, budget_usd=5.0))
    total = len(eval_requests(ws))
    fabricate(ws, "mystery-model", ["right"] * 3, cost=None)
    models = [EvalModel(TEACHER_M, TEACHER), EvalModel("mystery-model", EXTRA), EvalModel("gpt-nothing", EXTRA)]
    table = evaluate.build_table(ws, models)
    teacher, partial, none = table.rows
    assert teacher.reason is None  # priced: the budget can be held
    assert none.status == "not run" and none.reason == NO_PRICE
    assert report.row_note(none) == f"gpt-nothing: not run: {NO_PRICE}"
    assert not [n for n in report.notes(table) if "gpt-nothing" in n and "stopped before its turn" in n]
    assert partial.status == "partial"
    assert report.row_note(partial) == f"mystery-model: {total - 3} rows not asked: {NO_PRICE}"
    assert table.to_json()["models"][2]["reason"] == NO_PRICE
    assert f"- gpt-nothing: not run: {NO_PRICE}" in report.markdown(table)
    ws.close()


def test_no_price_under_a_budget_without_a_budget_is_no_reason(tmp_path: Path) -> None:
    ws = Workspace.open(spec_path(tmp_path))
    row = evaluate.build_table(ws, [EvalModel("gpt-nothing", EXTRA)]).rows[0]
    assert row.reason is None and report.row_note(row).endswith("not run (stopped before its turn); run eval again")
    ws.close()


def test_run_reports_the_engine_refusing_an_unpriced_model(tmp_path: Path, offline_server) -> None:
    ws = Workspace.open(spec_path(tmp_path, budget_usd=5.0), base_url=offline_server.base_url)
    models = models_of_interest(ws, ["gpt-nothing"])
    asked = offline_server.stats["chat_requests"]
    run = run_evaluation(ws, models)
    assert run.reasons == {"gpt-nothing": NO_PRICE} and run.stopped is None
    assert offline_server.stats["chat_requests"] - asked == 2 * len(eval_requests(ws))  # the others ran
    table = evaluate.build_table(ws, models, run.failures, run.reasons)
    assert [r.status for r in table.rows] == ["ok", "ok", "not run"]
    assert run.to_json()["reasons"] == {"gpt-nothing": NO_PRICE}
    ws.close()


def test_cli_unpriced_model_under_a_budget_says_why(tmp_path: Path, offline_server, capsys) -> None:
    spec = spec_path(tmp_path, budget_usd=5.0)
    code = main(["eval", str(spec), "--base-url", offline_server.base_url, "--model", "nonexistent"])
    out = capsys.readouterr().out
    assert code == 1
    assert f"nonexistent: not run: {NO_PRICE}" in out and "stopped before its turn" not in out


def test_spent_budget_names_the_models_left(tmp_path: Path, offline_server) -> None:
    ws = Workspace.open(spec_path(tmp_path), base_url=offline_server.base_url)
    models = models_of_interest(ws)
    run = run_evaluation(ws, models, budget_usd=1e-9)
    assert run.stopped == "budget"
    assert run.reasons[BASE_M].startswith("the evaluation budget") and "raise budget_usd" in run.reasons[BASE_M]
    table = evaluate.build_table(ws, models, run.failures, run.reasons)
    assert "raise budget_usd" in report.row_note(table.row(BASE_M))
    ws.close()


# a model the provider does not know -----------------------------------------------------------
def test_cli_unknown_model_is_tried_and_failed_work(tmp_path: Path, offline_server, capsys) -> None:
    spec = spec_path(tmp_path)
    code = main(["eval", str(spec), "--json", "--base-url", offline_server.base_url, "--model", "nonexistent"])
    captured = capsys.readouterr()
    assert code == 1, captured.err  # one model's work failed; the spec and flags were fine
    row = json.loads(captured.out)["models"][2]
    assert row["status"] == "failed" and "(404)" in row["last_error"]
    code = main(["eval", str(spec), "--base-url", offline_server.base_url, "--model", "nonexistent"])
    out = capsys.readouterr().out
    assert code == 1 and "nonexistent: FAILED, no row answered (not found (404)" in out


def _fatal(line: str, code: int) -> RunResult:
    return RunResult(model="m", split="eval", total=1, done=0, failed=0, requests=1, input_tokens=0,
                     output_tokens=0, cost_usd=0.0, elapsed_s=0.0, stopped="fatal", fatal_error=line,
                     fatal_exit_code=code)


def test_exit_codes() -> None:
    class Table:
        def __init__(self, complete: bool) -> None:
            self.complete = complete

    assert exit_code(Table(False), EvalRun([_fatal("not found (404): no such model", 2)])) == 1
    assert exit_code(Table(False), EvalRun([_fatal("bad request (400): json_schema", 2)])) == 1
    assert exit_code(Table(False), EvalRun([_fatal("the provider refused the API key (401): bad", 2)])) == 2
    assert exit_code(Table(True), EvalRun()) == 0 and exit_code(Table(False), EvalRun()) == 1


# a fine-tuned model of another provider -------------------------------------------------------
def test_jobs_of_another_provider_are_skipped(tmp_path: Path) -> None:
    ws = Workspace.open(spec_path(tmp_path))  # base_url "offline"
    save_tuned(ws, "ftjob-old", TUNED_M, None, created_at=1.0)  # no base_url recorded: same provider
    save_tuned(ws, "ftjob-here", TUNED_M + "2", {"base_url": "offline"}, created_at=2.0)
    save_tuned(ws, "ftjob-away", ELSEWHERE_M, {"base_url": OPENAI}, created_at=3.0)
    ws.store.save_checkpoints("ftjob-away", [{"id": "cp", "step": 3, "model_name": ELSEWHERE_M + ":ckpt-step-3"}])
    models = models_of_interest(ws, checkpoints=True)
    assert [(m.name, bool(m.skip)) for m in models] == [
        (TEACHER_M, False), (BASE_M, False), (TUNED_M, False), (TUNED_M + "2", False), (ELSEWHERE_M, True),
        (ELSEWHERE_M + ":ckpt-step-3", True),
    ]
    away = models[4]
    assert away.skip == f"{ELSEWHERE_M} was trained on another provider ({OPENAI}); evaluate it there with --base-url"

    total = len(eval_requests(ws))
    for name in (TEACHER_M, BASE_M, TUNED_M, TUNED_M + "2"):
        fabricate(ws, name, ["right"] * total)
    table = evaluate.build_table(ws, models)
    assert [r.model for r in table.rows] == [TEACHER_M, BASE_M, TUNED_M, TUNED_M + "2"]
    assert table.complete and [m.name for m in table.skipped] == [ELSEWHERE_M, ELSEWHERE_M + ":ckpt-step-3"]
    assert away.skip in report.notes(table) and away.skip in report.markdown(table)
    assert table.to_json()["skipped"][0] == {"model": ELSEWHERE_M, "role": DISTILLED, "note": "ftjob-away",
                                             "reason": away.skip}
    ws.close()


def test_same_provider(tmp_path: Path, monkeypatch) -> None:
    offline = Workspace.open(spec_path(tmp_path))
    assert same_provider(offline, "offline") and not same_provider(offline, OPENAI)
    flag = Workspace(offline.spec, base_url="https://api.openai.com/v1/", store=offline.store)
    assert same_provider(flag, None) and same_provider(flag, "") and same_provider(flag, "https://API.openai.com/v1")
    assert not same_provider(flag, "http://localhost:8000/v1") and not same_provider(flag, "offline")
    plain = Workspace(offline.spec.with_changes("provider", base_url=None), store=offline.store)
    assert same_provider(plain, OPENAI)  # no URL anywhere: OpenAI's
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    assert same_provider(plain, "http://localhost:8000/v1") and not same_provider(plain, OPENAI)
    offline.close()


def test_cli_skips_a_job_of_another_provider(tmp_path: Path, offline_server, capsys) -> None:
    spec = spec_path(tmp_path)
    ws = Workspace.open(spec)
    save_tuned(ws, "ftjob-away", ELSEWHERE_M, {"base_url": OPENAI})
    total = len(eval_requests(ws))
    ws.close()
    asked = offline_server.stats["chat_requests"]
    code = main(["eval", str(spec), "--base-url", offline_server.base_url])
    out = capsys.readouterr().out
    assert code == 0  # not evaluated against the wrong provider, so nothing failed
    assert f"{ELSEWHERE_M} was trained on another provider ({OPENAI}); evaluate it there with --base-url" in out
    assert offline_server.stats["chat_requests"] - asked == 2 * total  # the teacher and the base student only
    assert "no fine-tuned model yet" not in out
    code = main(["eval", str(spec), "--json", "--base-url", offline_server.base_url])
    captured = capsys.readouterr()
    assert code == 0 and json.loads(captured.out)["skipped"][0]["model"] == ELSEWHERE_M
    assert "trained on another provider" in captured.err


# the Results screen's fingerprint -------------------------------------------------------------
def test_fingerprint_changes_only_with_what_the_table_is_built_from(tmp_path: Path) -> None:
    ws = Workspace.open(spec_path(tmp_path))
    first = table_fingerprint(ws)
    assert table_fingerprint(ws) == first
    evaluate.build_table(ws, models_of_interest(ws))  # reading changes nothing
    assert table_fingerprint(ws) == first
    fabricate(ws, BASE_M, ["right"])
    second = table_fingerprint(ws)
    assert second != first
    save_tuned(ws, "ftjob-1", TUNED_M, None)
    third = table_fingerprint(ws)
    assert third != second
    ws.store.set_setting(EXTRAS_SETTING, ["gpt-x"])
    assert table_fingerprint(ws) != third
    fourth = table_fingerprint(ws)
    ws.set_spec(ws.spec.with_changes("dataset", eval_fraction=0.5))
    assert table_fingerprint(ws) != fourth
    ws.close()


def test_a_skipped_model_is_never_asked(tmp_path: Path) -> None:
    ws = Workspace.open(spec_path(tmp_path))
    models = [EvalModel("ft:elsewhere", DISTILLED, skip="trained elsewhere")]
    run = run_evaluation(ws, models)  # no request: the offline provider is never even started
    assert run.results == [] and run.reasons == {}
    ws.close()
