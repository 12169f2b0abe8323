"""Said before anything is spent: structured-output limits, context windows, and the embedded
offline provider asked about labels it never learned."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pandas as pd
import pytest

from distill_tui import locations
from distill_tui.cli import main
from distill_tui.core.common.errors import UserError
from distill_tui.core.cost import capabilities, preflight, pricing
from distill_tui.core.cost.estimate import build_estimate
from distill_tui.core.task import dataset, prompts
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_dataset, write_spec

PLAIN_USER = "Review: {description} Points: {points}."


def _limits() -> capabilities.StructuredOutputLimits:
    limits = capabilities.load_models().structured_outputs("openai")
    assert limits is not None
    return limits


# model data -----------------------------------------------------------------------------------------
def test_model_limits_are_dated_data_resolving_snapshots_and_fine_tunes():
    table = capabilities.load_models()
    gpt4o = table.limits("gpt-4o-2024-08-06")
    assert (gpt4o.context_window, gpt4o.max_output_tokens) == (128_000, 16_384)
    assert gpt4o.as_of and "gpt-4o" in gpt4o.source
    assert table.limits("ft:gpt-4.1-mini-2025-04-14:acme:wine:abc").context_window == 1_047_576
    assert table.limits("my-local-llm") is None  # unknown: nothing is checked, nothing is guessed
    limits = _limits()
    assert (limits.max_enum_values, limits.large_enum_values, limits.large_enum_max_chars) == (1000, 250, 15_000)
    assert "structured-outputs" in limits.source
    assert table.structured_outputs("compatible") is None


def test_user_model_file_overrides_and_rejects_bad_values():
    path = locations.user_models_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[models."gpt-4o"]\ncontext_window = 8000\n[models."my-llm"]\ncontext_window = 32768\n')
    table = capabilities.load_models()
    assert table.limits("gpt-4o").context_window == 8000 and table.limits("gpt-4o").max_output_tokens == 16_384
    assert table.limits("my-llm").context_window == 32768 and str(path) in table.limits("my-llm").source
    path.write_text('[models."gpt-4o"]\ncontext_window = "big"\n')
    with pytest.raises(UserError, match="context_window must be a whole number"):
        capabilities.load_models()


def test_offline_models_window_matches_the_server():
    from distill_tui.offline import models

    table = capabilities.load_models()
    for name in (models.TEACHER, models.STUDENT, models.LEGACY):
        assert table.limits(name).context_window == models.CONTEXT_WINDOW
        assert table.limits(name).max_output_tokens == models.MAX_OUTPUT_TOKENS
    assert preflight.OFFLINE_KNOWLEDGE_LABEL == models.DEFAULT_LABEL


# structured outputs ---------------------------------------------------------------------------------
def test_schema_problems_follow_openais_rules():
    limits = _limits()
    fine = prompts.response_format("label", [f"l{i}" for i in range(1000)])
    assert preflight.schema_problems(fine, limits) == []
    too_many = preflight.schema_problems(prompts.response_format("label", [f"l{i}" for i in range(1001)]), limits)
    assert [p.rule for p in too_many] == ["max_enum_values"] and too_many[0].actual == 1001
    # Over 250 values the values may hold at most 15,000 characters; at 250 or fewer they may hold more.
    long_labels = [f"{i:03d}" + "x" * 57 for i in range(251)]  # 15,060 characters
    assert [p.rule for p in preflight.schema_problems(prompts.response_format("a", long_labels), limits)] == [
        "large_enum_max_chars"]
    assert preflight.schema_problems(prompts.response_format("a", long_labels[:250]), limits) == []


def _many_labels(tmp_path: Path, n: int, **sections) -> Path:
    labels = [f"label {i:04d}" for i in range(n)]
    # One label twice: a column with a value of its own on every row is refused as free text.
    write_dataset(tmp_path / "data.csv", rows=n + 1, labels=labels)
    return write_spec(tmp_path, prompt={"user": PLAIN_USER}, dataset={"eval_fraction": 0.0}, **sections)


def test_estimate_says_a_schema_over_the_limits_will_be_refused(tmp_path):
    spec = load_spec(_many_labels(tmp_path, 1001, teacher={"model": "gpt-4o"}, student={"model": "gpt-4o-mini"},
                                  provider={"base_url": "https://api.openai.com/v1"}))
    data = dataset.prepare(spec)
    plan = build_estimate(spec, data, pricing.load_prices())
    check = plan.to_json()["structured_outputs"]
    assert check["ok"] is False and check["provider"] == "OpenAI"
    assert check["problems"][0]["rule"] == "max_enum_values" and check["problems"][0]["actual"] == 1001
    assert "structured = false" in check["fix"] and check["source"]
    assert any("1,000 enum values" in w and "structured = false" in w for w in plan.warnings)
    # Plain-text answers have no schema; another endpoint's limits are not known: nothing to say.
    plain = spec.with_changes("prompt", structured=False)
    assert build_estimate(plain, data, pricing.load_prices()).structured_outputs is None
    local = spec.with_changes("provider", base_url="http://127.0.0.1:8000/v1")
    assert build_estimate(local, data, pricing.load_prices()).structured_outputs is None


def test_cli_estimate_reports_the_limit_with_the_way_out(tmp_path, capsys):
    spec = _many_labels(tmp_path, 1001, teacher={"model": "gpt-4o"}, student={"model": "gpt-4o-mini"},
                        provider={"base_url": "https://api.openai.com/v1"})
    assert main(["estimate", str(spec), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["structured_outputs"]["ok"] is False
    assert main(["estimate", str(spec)]) == 0
    err = capsys.readouterr().err
    assert "warning: OpenAI's structured outputs take at most 1,000 enum values; this schema has 1,001" in err
    assert "[prompt] structured = false" in err and "min_per_label" in err


# context windows ------------------------------------------------------------------------------------
def _with_long_rows(tmp_path: Path, words: int, **sections) -> tuple[Path, list[int]]:
    """A spec whose data has three rows (two train, one eval) `words` tokens long."""
    spec_path = write_spec(tmp_path, generation={"max_tokens": 32}, **sections)
    data = dataset.prepare(load_spec(spec_path))
    train = data.train[dataset.ROW].tolist()[:2]
    long = [*train, data.eval[dataset.ROW].tolist()[0]]
    frame = pd.read_csv(tmp_path / "data.csv")
    frame["description"] = frame["description"].astype(object)
    for row in long:
        frame.loc[row, "description"] = " word" * words
    frame.to_csv(tmp_path / "data.csv", index=False)
    return spec_path, long


def test_estimate_counts_and_leaves_out_rows_over_the_context_window(tmp_path):
    path = locations.user_models_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[models."offline-teacher"]\ncontext_window = 2000\n')
    spec_path, _ = _with_long_rows(tmp_path, 3000)
    spec = load_spec(spec_path)
    data = dataset.prepare(spec)
    plan = build_estimate(spec, data, pricing.load_prices())
    stages = {s.name: s for s in plan.stages}
    teacher_train, teacher_eval = stages["teacher: train rows"], stages["teacher: eval rows"]
    assert (teacher_train.too_long, teacher_eval.too_long) == (2, 1)
    assert teacher_train.requests == len(data.train) - 2 and teacher_train.context_window == 2000
    assert teacher_train.input_tokens < 2000 * teacher_train.requests
    assert stages["base student: eval rows"].too_long == 0  # the student's window is 128,000
    assert stages["fine-tune training"].requests == len(data.train) - 2  # no teacher answer, no training line
    assert any(w.startswith("3 of ") and "offline-teacher" in w and "2,000-token context window" in w
               for w in plan.warnings)
    assert plan.to_json()["stages"][0]["too_long"] == 2


def test_unknown_window_is_mentioned_only_when_it_matters(tmp_path):
    spec_path, _ = _with_long_rows(tmp_path, 3000, teacher={"model": "my-llm"})
    spec = load_spec(spec_path)
    notes = build_estimate(spec, dataset.prepare(spec), pricing.load_prices()).notes
    assert not any("context window unknown" in n for n in notes)  # 3,000 tokens fit every known window
    table = capabilities.load_models()
    table.models["tiny"] = {"context_window": 1000}
    notes = build_estimate(spec, dataset.prepare(spec), pricing.load_prices(), models=table).notes
    assert any(n.startswith("my-llm: context window unknown") for n in notes)


def _chat_requests(server) -> int:
    import httpx2

    return httpx2.get(server.base_url.removesuffix("/v1") + "/_offline/stats").json()["chat_requests"]


def test_runs_leave_out_rows_over_the_context_window(tmp_path, offline_server, capsys):
    spec_path, long = _with_long_rows(tmp_path, 130_000, provider={"base_url": offline_server.base_url})
    before = _chat_requests(offline_server)
    assert main(["generate", str(spec_path), "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["too_long"] == 2 and result["failed"] == 0 and result["done"] == result["total"]
    assert "2 of " in err and "too long for offline-teacher" in err and "128,000-token context window" in err
    assert _chat_requests(offline_server) - before == result["requests"]  # the long rows were never sent
    # The evaluation leaves the long eval row out too, and says why in the table.
    from distill_tui.core.evaluate.comparison import TEACHER, EvalModel
    from distill_tui.core.evaluate.run import run_evaluation
    from distill_tui.core.workspace.workspace import Workspace

    ws = Workspace.open(spec_path)
    try:
        run = run_evaluation(ws, [EvalModel("offline-teacher", TEACHER)])
        assert run.results[0].too_long == 1 and "too long" in run.reasons["offline-teacher"]
        asked = {a.row_id for a in ws.store.answers("offline-teacher", "eval")}
        assert long[2] not in asked and asked
    finally:
        ws.close()


def test_offline_provider_refuses_a_prompt_over_its_window(offline_server):
    client = openai.OpenAI(base_url=offline_server.base_url, api_key="offline", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="offline-teacher", max_completion_tokens=64,
                                       messages=[{"role": "user", "content": " word" * 128_000}])
    assert "maximum context length is 128000 tokens" in str(caught.value)
    assert caught.value.code == "context_length_exceeded"


# the embedded offline provider ----------------------------------------------------------------------
def test_offline_provider_with_unknown_labels_says_so(tmp_path, capsys):
    spec_path = _many_labels(tmp_path, 12)
    spec = load_spec(spec_path)
    plan = build_estimate(spec, dataset.prepare(spec), pricing.load_prices())
    [line] = [w for w in plan.warnings if "offline provider" in w]
    assert "know none of your labels" in line and "serve-offline --knowledge data.csv --label variety" in line
    assert main(["estimate", str(spec_path)]) == 0
    assert "serve-offline --knowledge" in capsys.readouterr().err


def test_generate_on_the_embedded_provider_with_unknown_labels_says_so(tmp_path, offline_server, monkeypatch,
                                                                       capsys):
    from distill_tui.core.provider import clients

    monkeypatch.setattr(clients, "_offline_url", offline_server.base_url)  # "offline" is this test's server
    spec_path = _many_labels(tmp_path, 12)
    main(["generate", str(spec_path), "--limit", "1"])
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "serve-offline --knowledge data.csv" in notes[0]


def test_offline_provider_with_wine_labels_says_nothing(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    plan = build_estimate(spec, dataset.prepare(spec), pricing.load_prices())
    assert not any("offline provider" in w for w in plan.warnings)
    # Another endpoint (a serve-offline with --knowledge, vLLM…) is not the embedded clients.
    other = spec.with_changes("provider", base_url="http://127.0.0.1:9/v1")
    assert preflight.offline_note(other, ["label 0001"]) is None


def test_batch_runs_leave_out_rows_over_the_context_window(tmp_path, monkeypatch, capsys):
    from distill_tui.core.run import batch_api, batch_session
    from distill_tui.offline import OfflineOptions, start_server

    monkeypatch.setattr(batch_session, "POLL_FIRST_S", 0.05)
    monkeypatch.setattr(batch_session, "POLL_MAX_S", 0.2)
    server = start_server(OfflineOptions(batch_seconds=0.2))
    try:
        spec_path, _ = _with_long_rows(tmp_path, 130_000, provider={"base_url": server.base_url})
        assert main(["generate", str(spec_path), "--batch", "--wait", "--json"]) == 0
        out, err = capsys.readouterr()
        result = json.loads(out)
        assert result["too_long"] == 2 and result["failed"] == 0 and result["done"] == result["total"]
        assert result["answered_now"] == result["total"] and "too long for offline-teacher" in err
    finally:
        server.shutdown()


# the screens ------------------------------------------------------------------------------------------
async def test_estimate_and_generate_screens_say_it(tmp_path):
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.tui.app import DistillApp
    from tests.settle import workers_done

    spec_path = _many_labels(tmp_path, 1001)  # offline provider, labels its models never learned
    spec = load_spec(spec_path).with_changes("provider", base_url="https://api.openai.com/v1")
    app = DistillApp(Workspace(spec))
    async with app.run_test(size=(100, 30)) as pilot:
        for key in ("2", None):
            if key:
                await pilot.press(key)
            await pilot.pause()
            await workers_done(app)
            await pilot.pause()
        summary = str(app.screen.query_one("#summary-text").render())
        assert "1,000 enum values" in summary and "structured = false" in summary
    app = DistillApp(Workspace.open(spec_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        plan = str(app.screen.query_one("#plan").render())
        assert "know none of your labels" in plan and "serve-offline" in plan
