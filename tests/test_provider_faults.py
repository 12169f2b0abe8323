"""Provider faults that must neither stop nor stall a run: broken 200s are retried, and one give-up
rule covers every kind of outage. Through the real SDK against the offline provider's fault modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill_tui.cli import main
from distill_tui.core.common.errors import SpecError
from distill_tui.core.run.generate import run_teacher
from distill_tui.core.task.spec import load_spec
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec


def _workspace(tmp_path: Path, server, rows: int = 40, **generation) -> Workspace:
    gen = {"workers": 4, **generation}
    return Workspace.open(write_spec(tmp_path, rows=rows, provider={"base_url": server.base_url}, generation=gen))


@pytest.fixture
def fast_outages(monkeypatch):
    """Pauses after a 429 or an outage of a few milliseconds, so a give-up comes at once."""
    from distill_tui.core.run import engine

    monkeypatch.setattr(engine, "retry_after_from_headers", lambda headers: 0.01)
    monkeypatch.setattr(engine, "OUTAGE_PAUSE_CAP_S", 0.01)
    monkeypatch.setattr(engine, "retry_delay", lambda attempt, retry_after: 0.01)


@pytest.mark.parametrize("fault", ["not-json", "bad-json", "no-choices"])
def test_a_broken_200_is_retried_like_a_5xx(tmp_path, server_factory, fast_outages, fault):
    """A 200 whose body is an HTML page, cut-off JSON or JSON without `choices` fails its attempt
    only: the run goes on, and no row is saved as answered without an answer."""
    server = server_factory(fail_rate=0.3, fault=fault, seed=3)
    ws = _workspace(tmp_path, server)
    result = run_teacher(ws)
    assert server.stats["chat_broken"] > 0, "the fault happened"
    assert result.stopped is None and result.exit_code == 0, result.message
    assert result.done == result.total and result.retries >= server.stats["chat_broken"]
    answers = ws.store.answers("offline-teacher", "train")
    assert all(a.status == "ok" and a.content for a in answers)


@pytest.mark.parametrize("fault, kind", [("429", "only 429"), ("502", "only 502"), ("not-json", "only broken 200s")])
def test_every_kind_of_outage_is_given_up_alike(tmp_path, server_factory, fast_outages, fault, kind):
    """A provider that answers nothing but 429 (or 502, or broken bodies) is given up after
    `give_up_after_s` without an answer, with one line saying what it answered and that what was
    saved is kept."""
    server = server_factory(fail_rate=1.0, fault=fault)
    ws = _workspace(tmp_path, server, rows=60, give_up_after_s=0.3)
    result = run_teacher(ws)
    assert result.stopped == "fatal" and result.exit_code == 1
    assert result.message.startswith(f"gave up: the provider answered {kind} for ")
    assert result.message.endswith(f"0 of {result.total} answers saved, run again to resume")
    assert "\n" not in result.message and result.requests < 200


def test_an_outage_after_answers_says_how_many_are_saved(tmp_path, server_factory, fast_outages, capsys):
    """`generate` ends with one line on stderr naming the outage and the answers kept; a second run
    against a healthy provider asks only the rows left."""
    down = server_factory(fail_rate=1.0, fault="429")
    healthy = server_factory()
    spec = write_spec(tmp_path, rows=40, provider={"base_url": "offline"},
                      generation={"workers": 2, "give_up_after_s": 0.3})
    assert main(["generate", str(spec), "--limit", "5", "--base-url", healthy.base_url]) == 0
    capsys.readouterr()
    assert main(["generate", str(spec), "--base-url", down.base_url]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("distill-tui: error: gave up: the provider answered only 429 for ")
    assert "(last: rate limited (429): Rate limit reached" in last
    assert last.endswith("5 of 32 answers saved, run again to resume")
    assert main(["generate", str(spec), "--base-url", healthy.base_url]) == 0
    assert healthy.stats["chat_requests"] == 32


def test_give_up_after_s_must_be_positive(tmp_path):
    spec = write_spec(tmp_path, generation={"give_up_after_s": 0})
    with pytest.raises(SpecError, match=r"\[generation\] give_up_after_s must be above 0"):
        load_spec(spec)


def test_scattered_500s_at_few_requests_in_flight_are_no_outage(tmp_path, server_factory, fast_outages, monkeypatch):
    """Two failures in a row out of 20 % are chance, not an outage, even with 2 requests in flight:
    the pool is never paused nor slowed for them (each such pause cost the run its pace)."""
    from distill_tui.core.run.rate_limiter import RateLimiter

    pauses: list[float | None] = []
    penalize = RateLimiter.penalize
    monkeypatch.setattr(RateLimiter, "penalize", lambda self, s: (pauses.append(s), penalize(self, s))[1])
    server = server_factory(fail_rate=0.2, seed=5)
    ws = _workspace(tmp_path, server, rows=120, workers=2)
    result = run_teacher(ws)
    assert server.stats["chat_failed"] > 10, "the faults happened"
    assert result.done == result.total and not pauses
