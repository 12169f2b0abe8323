"""Evaluation against the offline provider through the real SDK: a full run, resume of a half-done
run without asking anything twice, a model that fails every request, the CLI and the screen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Static

from distill_tui.cli import main
from distill_tui.core.evaluate.comparison import build_table
from distill_tui.core.evaluate.run import models_of_interest, run_evaluation
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.app import DistillApp
from tests.helpers import write_spec
from tests.settle import workers_done

ROWS = 48  # 12 eval rows at eval_fraction 0.25: quick, and enough for every statistic


def spec_path(folder: Path, **sections) -> Path:
    sections.setdefault("generation", {})
    sections["generation"] = {"max_retries": 0, **sections["generation"]}
    return write_spec(folder, rows=ROWS, **sections)


def ok_count(server, model: str) -> int:
    return server.stats["chat_ok_by_model"].get(model, 0)


@pytest.fixture
def failing_server():
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(failing_models=["broken-model"]))
    yield server
    server.shutdown()


def test_full_run_then_nothing_asked_twice(tmp_path: Path, offline_server) -> None:
    ws = Workspace.open(spec_path(tmp_path), base_url=offline_server.base_url)
    models = models_of_interest(ws)
    before = {m.name: ok_count(offline_server, m.name) for m in models}
    run = run_evaluation(ws, models)
    table = build_table(ws, models)
    assert table.complete and run.stopped is None
    eval_rows = table.eval_rows
    for m in models:
        assert ok_count(offline_server, m.name) - before[m.name] == eval_rows
    teacher = table.row(ws.spec.teacher.model)
    assert teacher.n == eval_rows and teacher.accuracy is not None and teacher.latency_mean_s is not None
    assert teacher.cost_per_1k_usd and teacher.spent_usd and table.row(ws.spec.student.model).p_value_vs_base is None

    requests_before = offline_server.stats["chat_requests"]
    again = run_evaluation(ws, models)
    assert again.requests == 0 and offline_server.stats["chat_requests"] == requests_before
    ws.close()


def test_resume_a_half_done_evaluation(tmp_path: Path, offline_server) -> None:
    ws = Workspace.open(spec_path(tmp_path), base_url=offline_server.base_url)
    models = models_of_interest(ws)
    before = {m.name: ok_count(offline_server, m.name) for m in models}
    first = run_evaluation(ws, models, limit=5)
    assert first.stopped == "limit"
    half = build_table(ws, models)
    assert [r.n for r in half.rows] == [5, 5] and [r.status for r in half.rows] == ["partial", "partial"]
    assert not half.complete

    second = run_evaluation(ws, models)
    table = build_table(ws, models)
    assert table.complete and second.requests == 2 * (table.eval_rows - 5)
    for m in models:  # every row asked exactly once over both runs
        assert ok_count(offline_server, m.name) - before[m.name] == table.eval_rows
    ws.close()


def test_model_failing_every_request_is_reported_failed(tmp_path: Path, failing_server) -> None:
    ws = Workspace.open(spec_path(tmp_path), base_url=failing_server.base_url)
    models = models_of_interest(ws, ["broken-model"])
    run = run_evaluation(ws, models)
    table = build_table(ws, models)
    broken = table.row("broken-model")
    assert broken.status == "failed" and broken.accuracy is None and broken.n == 0
    assert broken.failed + broken.missing == table.eval_rows and broken.failed > 0
    assert table.row(ws.spec.teacher.model).status == "ok"  # the others still ran
    assert len(run.results) == 3
    ws.close()


def test_cli_eval_json_and_exit_codes(tmp_path: Path, offline_server, capsys) -> None:
    spec = spec_path(tmp_path)
    out_file = tmp_path / "table.md"
    code = main(["eval", str(spec), "--json", "--base-url", offline_server.base_url, "--export", str(out_file)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(captured.out)
    first = payload["models"][0]
    assert {"model", "role", "n", "correct", "accuracy", "ci_low", "ci_high", "cost_per_1k_usd",
            "p_value_vs_base"} <= set(first)
    assert [m["role"] for m in payload["models"]] == ["teacher", "base student"]
    assert payload["models"][1]["p_value_vs_base"] is None and payload["complete"] is True
    assert payload["leak_check"]["ok"] is True
    assert out_file.read_text(encoding="utf-8").startswith("# Model comparison")

    code = main(["eval", str(spec), "--base-url", offline_server.base_url])
    captured = capsys.readouterr()
    assert code == 0 and "disjoint from training rows" in captured.out and "acc" in captured.out
    assert "no fine-tuned model yet" in captured.out


def test_cli_eval_failed_model_exits_1(tmp_path: Path, failing_server, capsys) -> None:
    spec = spec_path(tmp_path)
    code = main(["eval", str(spec), "--json", "--base-url", failing_server.base_url, "--model", "broken-model"])
    captured = capsys.readouterr()
    assert code == 1
    broken = json.loads(captured.out)["models"][2]
    assert broken["model"] == "broken-model" and broken["status"] == "failed" and broken["accuracy"] is None


def test_cli_eval_bad_input_exits_2(tmp_path: Path, capsys) -> None:
    spec = spec_path(tmp_path)
    assert main(["eval", str(spec), "--export", str(tmp_path / "table.txt")]) == 2
    assert "export format" in capsys.readouterr().err
    other = tmp_path / "no-eval"
    other.mkdir()
    assert main(["eval", str(spec_path(other, dataset={"eval_fraction": 0}))]) == 2
    assert "eval_fraction" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing.toml")]) == 2


async def test_screen_runs_the_evaluation(tmp_path: Path, offline_server) -> None:
    ws = Workspace.open(spec_path(tmp_path), base_url=offline_server.base_url)
    app = DistillApp(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        await workers_done(app)
        screen = app.screen
        assert [r.status for r in screen._table.rows] == ["not run", "not run"]
        await pilot.press("r")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        assert not screen.running
        assert screen._table.complete
        assert "Evaluation finished" in str(screen.query_one("#status", Static).render())
        # A second run reuses every saved answer.
        requests = offline_server.stats["chat_requests"]
        await pilot.press("r")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        assert offline_server.stats["chat_requests"] == requests
        assert "0 requests" in str(screen.query_one("#status", Static).render())


async def test_screen_cancels_a_running_evaluation(tmp_path: Path) -> None:
    from distill_tui.offline import OfflineOptions, start_server

    with start_server(OfflineOptions(latency=0.3)) as server:
        ws = Workspace.open(spec_path(tmp_path, generation={"workers": 1}), base_url=server.base_url)
        app = DistillApp(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("6")
            await pilot.pause()
            await workers_done(app)
            screen = app.screen
            await pilot.press("r")
            await pilot.pause()
            assert screen.running
            await pilot.press("x")
            await workers_done(app)
            await pilot.pause()
            await workers_done(app)
            await pilot.pause()
            assert not screen.running
            assert "Evaluation cancelled" in str(screen.query_one("#status", Static).render())
            assert not screen._table.complete
            asked = server.stats["chat_requests"]
            assert asked < 2 * screen._table.eval_rows
