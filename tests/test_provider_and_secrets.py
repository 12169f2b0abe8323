"""Clients for each kind of provider, and the API key never reaching disk, logs or exports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from distill_tui.core.common.errors import UserError
from distill_tui.core.provider.clients import make_client
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_spec

SECRET = "sk-test-SECRET-4b1d9e7c"


def test_openai_client_reads_the_key_from_the_environment(tmp_path, monkeypatch):
    spec = load_spec(write_spec(tmp_path, provider={"base_url": "https://api.openai.com/v1"}))
    with pytest.raises(UserError, match="no API key: set OPENAI_API_KEY"):
        make_client(spec)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    client = make_client(spec)
    assert isinstance(client, openai.OpenAI) and client.api_key == SECRET and client.max_retries == 0


def test_compatible_endpoint_without_a_key(tmp_path):
    spec = load_spec(write_spec(tmp_path, provider={"base_url": "http://127.0.0.1:9/v1"}))
    client = make_client(spec)
    assert str(client.base_url).startswith("http://127.0.0.1:9/v1")


def test_azure_client(tmp_path, monkeypatch):
    spec = load_spec(write_spec(tmp_path, provider={"kind": "azure", "base_url": "", "api_version": "2024-10-21",
                                                    "azure_endpoint": "https://example.openai.azure.com"}))
    with pytest.raises(UserError, match="AZURE_OPENAI_API_KEY"):
        make_client(spec)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET)
    client = make_client(spec)
    assert isinstance(client, openai.AzureOpenAI)
    assert "example.openai.azure.com" in str(client.base_url)


def test_the_key_never_lands_on_disk(tmp_path, offline_server):
    spec = write_spec(tmp_path, rows=40, provider={"base_url": offline_server.base_url})
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    for args in (["generate", str(spec)], ["export", str(spec), "-o", str(tmp_path / "train.jsonl")],
                 ["eval", str(spec), "--export", str(tmp_path / "table.json")]):
        result = subprocess.run([sys.executable, "-m", "distill_tui.cli", *args], capture_output=True, text=True,
                                env=env, timeout=300)
        assert result.returncode in (0, 1), result.stderr
        assert SECRET not in result.stdout + result.stderr
    home = Path(os.environ["DISTILL_TUI_DATA_DIR"])
    written = [p for root in (home, tmp_path) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written)
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def test_a_401_without_any_key_set_says_to_set_one(tmp_path, monkeypatch, capsys):
    """A local endpoint gets a placeholder key when none is set; if it wants a real one, say so."""
    from distill_tui.core.provider.api_errors import explain
    from distill_tui.core.provider.clients import make_client
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(require_key=True, api_key="sk-right"))
    try:
        client = make_client(None, base_url=server.base_url, max_retries=0)
        with pytest.raises(Exception) as caught:
            client.models.list()
        line, code = explain(caught.value)
        assert code == 2 and "none is set: set OPENAI_API_KEY" in line
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        with pytest.raises(Exception) as caught:
            make_client(None, base_url=server.base_url, max_retries=0).models.list()
        line, _ = explain(caught.value)
        assert line.startswith("the provider refused the API key (401)") and "sk-wrong" not in line
    finally:
        server.shutdown()


def test_a_base_url_that_is_not_a_url_is_one_line_naming_where_it_came_from(monkeypatch):
    from distill_tui.core.common.errors import UserError
    from distill_tui.core.provider.clients import make_client

    with pytest.raises(UserError, match=r"^--base-url must be an http\(s\) URL"):
        make_client(None, base_url="not a url")
    monkeypatch.setenv("OPENAI_BASE_URL", "localhost:8000/v1")
    with pytest.raises(UserError, match=r"^OPENAI_BASE_URL must be an http\(s\) URL .* not 'localhost:8000/v1'"):
        make_client(None)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    assert str(make_client(None).base_url).startswith("http://localhost:8000/v1")
