"""The API key never leaves the program: not in error lines, stored failures, job events or eval's table,
even when a provider's error repeats it or a key is pasted into the wrong spec key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distill_tui.cli import main
from distill_tui.core.common.redact import REDACTED, redact, remember
from tests.helpers import write_spec

OWN_KEY = "myOwnKey0123456789abcdef"
"""Shaped like no known key (no prefix, under 32 characters): only knowing it is ours hides it."""
PASTED = "sk-proj-Ab3dEf0123456789xyzXYZ0123"


def test_redact_hides_keys_and_keeps_ids_hashes_and_names(monkeypatch):
    remember("remembered-Secret-42x")
    monkeypatch.setenv("OPENAI_API_KEY", "envKey-0123456789")
    for text, secret in [
        (f"Incorrect API key provided: {PASTED}.", PASTED),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc", "eyJhbGciOiJIUzI1NiJ9"),
        ("token AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW here", "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"),
        ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123 in a log", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123"),
        ("the key remembered-Secret-42x failed", "remembered-Secret-42x"),
        ("sent envKey-0123456789", "envKey-0123456789"),
    ]:
        out = redact(text)
        assert secret not in out and REDACTED in out, out
    assert redact(f"Incorrect API key provided: {PASTED}.").endswith(f"sk-proj-{REDACTED}.")
    for kept in ["batch_AbC123dEf456GhI789jKl012MnO345pq failed", "chatcmpl-AbC123dEf456GhI789jKl012MnO34",
                 "ft:gpt-4o-mini-2024-07-18:org-offline:wine:AbC12345", "sha1 3f786850e387550fdab836ed7e6dc881de23001b",
                 "the offline provider", "task-1234 and skills-test", "sk-proj-****abcd (OpenAI's own mask)"]:
        assert redact(kept) == kept


def test_a_key_pasted_into_the_wrong_spec_key_is_not_echoed(tmp_path, capsys):
    spec = write_spec(tmp_path, generation={"budget_usd": PASTED})
    assert main(["estimate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "budget_usd" in err and PASTED not in err and REDACTED in err


@pytest.fixture
def echoing_provider():
    """A provider that refuses every key with a 401 repeating it whole."""
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(echo_key=True))
    yield server
    server.shutdown()


def _files_holding(secret: str, *roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_provider_echoing_the_key_never_gets_it_printed_or_stored(tmp_path, monkeypatch, capsys, echoing_provider):
    monkeypatch.setenv("OPENAI_API_KEY", OWN_KEY)
    spec = write_spec(tmp_path, rows=40, provider={"base_url": echoing_provider.base_url})
    assert main(["generate", str(spec), "--limit", "3"]) == 2
    out = capsys.readouterr()
    assert "refused the API key (401)" in out.err and REDACTED in out.err
    assert OWN_KEY not in out.out + out.err
    assert main(["eval", str(spec)]) == 2
    out = capsys.readouterr()
    assert "refused the API key (401)" in out.out  # the table's note says why each model failed…
    assert OWN_KEY not in out.out + out.err  # …without the key
    assert not _files_holding(OWN_KEY, Path(os.environ["DISTILL_TUI_DATA_DIR"]), tmp_path)


@pytest.mark.parametrize("section", [{"teacher": {"model": PASTED}}, {"provider": {"api_key_env": PASTED}}])
def test_a_key_pasted_as_a_model_or_variable_name_is_refused_without_echo(tmp_path, capsys, section):
    spec = write_spec(tmp_path, rows=40, **section)
    assert main(["generate", str(spec), "--limit", "2"]) == 2
    out = capsys.readouterr()
    assert "looks like an API key" in out.err and PASTED not in out.out + out.err
    assert not _files_holding(PASTED, Path(os.environ["DISTILL_TUI_DATA_DIR"]))


def test_job_errors_and_events_are_stored_without_keys(tmp_path):
    from distill_tui.core.store.database import Store
    from distill_tui.core.store.jobs import JobRecord

    with Store(tmp_path / "w.sqlite") as store:
        store.save_job(JobRecord(id="ftjob-1", backend="openai", base_model="m", status="failed",
                                 error=f"upstream said: bad key {PASTED}"))
        store.save_events("ftjob-1", [{"id": "e1", "message": f"auth {PASTED}", "data": {"k": PASTED}}])
    assert not _files_holding(PASTED, tmp_path)
