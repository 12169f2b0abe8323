"""The generation engine against the offline provider, through the real SDK over HTTP."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import openai
import pytest

from distill_tui.core.run.engine_parts import Controls
from distill_tui.core.run.generate import Progress, run_model, run_teacher
from distill_tui.core.run.plan import teacher_plan
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.offline import OfflineOptions, prompt_hash, start_server
from tests.helpers import write_spec


def _workspace(tmp_path: Path, server, rows: int = 120, **generation) -> Workspace:
    gen = {"workers": 4, **generation}
    return Workspace.open(write_spec(tmp_path, rows=rows, provider={"base_url": server.base_url}, generation=gen))


def _duplicates(server) -> int:
    return sum(n - 1 for n in server.stats["requests_by_prompt_hash"].values() if n > 1)


def _train_hashes(ws: Workspace) -> set[str]:
    from distill_tui.core.task.requests import iter_requests

    return {prompt_hash(r.messages) for r in iter_requests(ws.spec, ws.data, ws.spec.teacher.model, "train")}


def test_every_row_answered_and_saved(tmp_path, offline_server):
    ws = _workspace(tmp_path, offline_server)
    seen: list[Progress] = []
    result = run_teacher(ws, on_progress=seen.append, progress_interval=0.05)
    assert result.stopped is None and result.exit_code == 0
    assert result.done == result.total == len(ws.data.train) and result.failed == 0
    assert result.requests == result.total
    assert seen[-1].state == "done" and seen[-1].done == result.total and seen[-1].left == 0
    answers = ws.store.answers("offline-teacher", "train")
    assert len(answers) == result.total
    first = answers[0]
    assert first.status == "ok" and first.label in ws.data.labels and first.valid
    assert first.messages and first.gold and first.finish_reason == "stop"
    assert first.prompt_tokens > 0 and first.completion_tokens > 0 and first.cost_usd > 0
    assert first.request_id.startswith("req_") and first.attempts == 1 and first.latency_s > 0
    assert result.cost_usd == pytest.approx(sum(a.cost_usd for a in answers))
    assert result.input_tokens == sum(a.prompt_tokens for a in answers)
    # store + metadata went along: the provider's stored-completions view lists them
    client = openai.OpenAI(base_url=offline_server.base_url, api_key="offline")
    stored = list(client.chat.completions.list(metadata={"distillation": "test"}, model="offline-teacher"))
    assert len(stored) >= result.total
    assert ws.store.execute("SELECT status, done FROM runs ORDER BY id DESC LIMIT 1")[0][:] == ("done", result.total)


def test_a_budget_reached_while_the_rest_is_planned_still_counts_the_answers_in_flight(tmp_path, server_factory,
                                                                                      monkeypatch):
    """The first requests reserve the budget and the pool stops before the run reaches its wait loop
    (here: pricing a row waits for the vocabulary): the run must still wait for the requests in flight,
    not report 0 done with their answers arriving after it returned."""
    import time as _time

    from distill_tui.core.cost import estimate
    from distill_tui.core.run.recorder import AnswerRecorder
    from distill_tui.core.task.requests import iter_requests

    server = server_factory(latency=1.5)
    slow = estimate.answer_tokens

    def answer_tokens(*args, **kwargs):
        _time.sleep(0.4)  # the pool is stopped by now, its first requests still in flight
        return slow(*args, **kwargs)

    monkeypatch.setattr(estimate, "answer_tokens", answer_tokens)
    ws = _workspace(tmp_path, server, rows=40)
    recorder = AnswerRecorder(ws, "offline-teacher", "train")
    first = next(iter_requests(ws.spec, ws.data, "offline-teacher", "train"))
    recorder.prompt_tokens(first)  # the vocabulary loaded: every request reserves its exact estimate
    ws.spec.generation.budget_usd = 2.5 * recorder.estimate(first)[1]  # two requests fit, not three
    result = run_teacher(ws)
    assert result.stopped == "budget" and result.requests > 0
    assert result.done == result.requests == len(ws.store.answers("offline-teacher", "train"))


def test_rerun_asks_nothing_again(tmp_path, server_factory):
    server = server_factory()
    ws = _workspace(tmp_path, server, rows=40)
    first = run_teacher(ws)
    again = run_teacher(ws)
    assert again.requests == 0 and again.done == first.total and again.exit_code == 0
    assert server.stats["chat_requests"] == first.total and _duplicates(server) == 0


def test_injected_500s_lose_no_row(tmp_path, server_factory):
    server = server_factory(fail_rate=0.3, seed=5)
    ws = _workspace(tmp_path, server)
    result = run_teacher(ws)
    assert result.done == result.total and result.failed == 0 and result.stopped is None
    assert result.retries > 0 and result.requests == result.total + result.retries
    assert _duplicates(server) == 0
    assert set(server.stats["requests_by_prompt_hash"]) == _train_hashes(ws)
    assert max(a.attempts for a in ws.store.answers("offline-teacher", "train")) > 1


def _drain(server) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="offline", max_retries=0)
    for i in range(100_000):
        try:
            client.chat.completions.create(model="offline-student", messages=[{"role": "user", "content": f"x{i}"}],
                                           max_tokens=1)
        except openai.RateLimitError:
            return


def test_rate_limit_learned_from_headers_and_kept(tmp_path, server_factory):
    server = server_factory(rpm=600)
    _drain(server)  # the server's minute bucket starts full: empty it, as on a busy account
    ws = _workspace(tmp_path, server, rows=40)
    seen: list[Progress] = []
    result = run_teacher(ws, on_progress=seen.append)
    assert result.done == result.total and result.failed == 0
    assert seen[-1].limiter["requests_per_min"] == pytest.approx(600, rel=0.5)
    # Before the first answer teaches the limit, each worker may send one request into a 429.
    assert result.rate_limited <= ws.spec.generation.workers + 2, result.rate_limited
    assert _duplicates(server) == 0


def test_429s_pause_the_pool_and_every_row_still_lands(tmp_path, server_factory):
    server = server_factory(rpm=600)
    ws = _workspace(tmp_path, server, rows=40, workers=8)
    _drain(server)
    # Pretend the limit is far higher than it is: the server answers 429s, the engine backs off.
    ws.set_spec(ws.spec.with_changes("generation", rpm=60_000))
    result = run_teacher(ws)
    assert result.done == result.total and result.failed == 0
    assert result.rate_limited > 0 and _duplicates(server) == 0


def test_bad_key_stops_at_once_with_one_line(tmp_path, server_factory):
    server = server_factory(require_key=True)
    ws = _workspace(tmp_path, server)
    # The offline provider accepts any non-empty bearer key, so send a wrong kind of credential.
    ws._client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0,
                               default_headers={"Authorization": "Basic not-a-key"})
    result = run_teacher(ws)
    assert result.stopped == "fatal" and result.fatal_exit_code == 2 and result.exit_code == 2
    assert "401" in result.fatal_error and "\n" not in result.fatal_error
    assert result.requests <= 4 and result.done == 0
    assert ws.store.answers("offline-teacher") == []


def test_no_key_is_a_user_error(tmp_path, monkeypatch):
    from distill_tui.core.common.errors import UserError

    spec = write_spec(tmp_path, provider={"base_url": "https://api.openai.com/v1", "api_key_env": "NO_SUCH_KEY"})
    with pytest.raises(UserError, match="NO_SUCH_KEY"):
        run_teacher(Workspace.open(spec))


def test_unknown_model_stops_at_once(tmp_path, offline_server):
    spec = write_spec(tmp_path, provider={"base_url": offline_server.base_url}, teacher={"model": "no-such-model"})
    result = run_teacher(Workspace.open(spec))
    assert result.stopped == "fatal" and result.exit_code == 2
    assert result.fatal_error.startswith("not found (404)") and "no-such-model" in result.fatal_error
    assert result.requests <= 8 and result.done == 0 and result.failed == 0


def test_budget_stops_before_passing_it(tmp_path, offline_server):
    ws = _workspace(tmp_path, offline_server, budget_usd=0.003)
    result = run_teacher(ws)
    assert result.stopped == "budget" and result.exit_code == 1
    assert 0 < result.done < result.total
    assert result.spent_usd <= 0.003
    assert "budget reached" in result.message
    for _ in range(20):  # the budget counts earlier runs: re-running never passes it
        again = run_teacher(ws)
        assert again.stopped == "budget" and again.spent_usd <= 0.003
        if again.requests == 0:
            break
    assert again.requests == 0


def test_budget_with_unknown_price_does_not_start(tmp_path, offline_server, monkeypatch):
    ws = _workspace(tmp_path, offline_server, budget_usd=1.0)
    monkeypatch.setattr(type(ws.prices), "price", lambda self, model: None)
    result = run_teacher(ws)
    assert result.stopped == "budget" and result.requests == 0 and "no price is known" in result.message
    unbounded = run_teacher(ws, budget_usd=None)  # without a budget it runs, counting tokens only
    assert unbounded.done == unbounded.total and not unbounded.price_known and unbounded.input_tokens > 0


def test_limit_then_continue(tmp_path, server_factory):
    server = server_factory()
    ws = _workspace(tmp_path, server)
    smoke = run_teacher(ws, limit=5)
    assert smoke.stopped == "limit" and smoke.requests == 5 and smoke.done == 5 and smoke.exit_code == 0
    rest = run_teacher(ws)
    assert rest.requests == rest.total - 5 and rest.done == rest.total
    assert _duplicates(server) == 0


def test_cancel_finishes_in_flight_and_resumes(tmp_path, server_factory):
    server = server_factory(latency=0.05)
    ws = _workspace(tmp_path, server)
    controls = Controls()

    def on_progress(p: Progress) -> None:
        if p.done >= 8:
            controls.cancel()

    result = run_teacher(ws, controls=controls, on_progress=on_progress, progress_interval=0.02)
    assert result.stopped == "cancelled" and result.exit_code == 1
    assert 8 <= result.done < result.total
    assert result.message == f"cancelled: {result.done} done, {result.total - result.done} left; run again to resume"
    saved = len(ws.store.answers("offline-teacher", "train", status="ok"))
    assert saved == result.done == server.stats["chat_ok"]  # every answer received was saved
    rest = run_teacher(ws)
    assert rest.done == rest.total and _duplicates(server) == 0


def test_pause_and_resume(tmp_path, server_factory):
    server = server_factory(latency=0.02)
    ws = _workspace(tmp_path, server, rows=60)
    controls = Controls()
    states: list[str] = []

    def on_progress(p: Progress) -> None:
        states.append(p.state)
        if p.done >= 3 and not controls.paused and "paused" not in states:
            controls.pause()
            threading.Timer(0.5, controls.resume).start()

    result = run_teacher(ws, controls=controls, on_progress=on_progress, progress_interval=0.05)
    assert "paused" in states and states[-1] == "done"
    assert result.done == result.total


def test_failing_provider_stops_the_run(tmp_path, server_factory, monkeypatch):
    from distill_tui.core.run import engine

    monkeypatch.setattr(engine, "MAX_OUTAGE_S", 0.5)
    monkeypatch.setattr(engine, "OUTAGE_PAUSE_CAP_S", 0.05)
    broken = server_factory(failing_models=["offline-teacher"])
    ws = _workspace(tmp_path, broken, workers=2)
    result = run_teacher(ws)
    assert result.stopped == "fatal" and result.exit_code == 1
    assert "gave up: the provider answered only 500" in result.fatal_error
    assert result.requests < 30 and result.done == 0  # stopped early, not after every row's retries


def test_failed_rows_are_saved_and_asked_again(tmp_path, server_factory):
    flaky = server_factory(fail_rate=0.3, seed=2)
    ws = _workspace(tmp_path, flaky, max_retries=0)
    result = run_teacher(ws)
    assert result.stopped is None and result.exit_code == 1
    assert result.failed > 0 and result.done + result.failed == result.total
    assert "failed; run again to retry them" in result.message
    failed = ws.store.answers("offline-teacher", "train", status="failed")
    assert len(failed) == result.failed and all(a.error and "500" in a.error and a.attempts == 1 for a in failed)
    assert teacher_plan(ws).failed == len(failed)
    healthy = server_factory()
    ws2 = Workspace(ws.spec, base_url=healthy.base_url, store=ws.store)
    ws2.set_spec(ws.spec.with_changes("provider", base_url=healthy.base_url))
    skipped = run_teacher(ws2, retry_failed=False)
    assert skipped.requests == 0 and skipped.failed == len(failed)
    only = run_teacher(ws2, only_failed=True)
    assert only.requests == len(failed) and only.failed == 0 and only.done == only.total
    assert _duplicates(healthy) == 0 and _duplicates(flaky) == 0


def test_eval_split_and_other_model(tmp_path, offline_server):
    ws = _workspace(tmp_path, offline_server)
    result = run_model(ws, "offline-student", "eval")
    assert result.done == result.total == len(ws.data.eval)
    assert {a.split for a in ws.store.answers("offline-student")} == {"eval"}
    kinds = Counter(r[0] for r in ws.store.execute("SELECT kind FROM runs"))
    assert kinds["evaluate"] == 1


def test_plan_counts_rows_and_cost(tmp_path, offline_server):
    ws = _workspace(tmp_path, offline_server, budget_usd=2.0)
    before = teacher_plan(ws)
    assert before.total == len(ws.data.train) and before.to_ask == before.total and before.done == 0
    assert before.cost_usd > 0 and before.budget_usd == 2.0 and before.spent_usd == 0
    run_teacher(ws, limit=10)
    after = teacher_plan(ws)
    assert after.done == 10 and after.to_ask == before.total - 10 and after.spent_usd > 0
    assert after.cost_usd < before.cost_usd


def test_a_short_outage_does_not_stop_the_run(tmp_path, monkeypatch):
    """A provider failing every request for a second: the pool pauses and carries on; no row lost."""
    from distill_tui.core.run import engine

    monkeypatch.setattr(engine, "OUTAGE_PAUSE_CAP_S", 0.3)
    server = start_server(OfflineOptions(latency=0.02))
    ws = _workspace(tmp_path, server, workers=2)
    outage: list[str] = []

    def on_progress(p):
        if p.done >= 5 and not outage:
            outage.append("down")
            server.app.options.failing_models.append("offline-teacher")
            threading.Timer(1.0, server.app.options.failing_models.clear).start()

    try:
        result = run_teacher(ws, on_progress=on_progress, progress_interval=0.05)
        assert outage and server.stats["chat_failed"] >= 2, "the outage happened"
        assert result.stopped is None and result.done == result.total, result.fatal_error
        assert _duplicates(server) == 0
    finally:
        server.shutdown()


def test_a_request_larger_than_the_token_limit_fails_its_row_at_once(tmp_path):
    """429 "Request too large" with x-should-retry: false is not retried (the run would hang)."""

    server = start_server(OfflineOptions(tpm=100))
    try:
        ws = _workspace(tmp_path, server, rows=12, workers=2)
        result = run_teacher(ws, limit=3)
        assert result.failed == 3 and result.done == 0 and result.stopped in (None, "limit")
        assert server.stats["chat_rate_limited"] == 3, "each too-large row asked once"
        answers = ws.store.answers(status="failed")
        assert answers and "too large" in answers[0].error.lower()
    finally:
        server.shutdown()


def test_a_wrong_key_stops_the_run_with_one_line(tmp_path, monkeypatch):
    """The offline provider told to accept only one key: any other gets 401, the run stops at once."""

    server = start_server(OfflineOptions(require_key=True, api_key="sk-right"))
    try:
        spec = write_spec(tmp_path, rows=20, provider={"base_url": server.base_url, "api_key_env": "MY_KEY"})
        monkeypatch.setenv("MY_KEY", "sk-wrong")
        result = run_teacher(Workspace.open(spec))
        assert result.stopped == "fatal" and result.fatal_exit_code == 2
        assert "401" in result.fatal_error and "sk-wrong" not in result.fatal_error
        assert server.stats["chat_requests"] <= 4, "stopped at once, not after every row's retries"
    finally:
        server.shutdown()
