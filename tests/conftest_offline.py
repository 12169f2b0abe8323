"""Fixtures for the offline provider tests (imported by tests/test_offline_*.py).

`provider` is a module-scoped server of its own, so these tests never share stored completions
or jobs with the session-wide `offline_server` of conftest.py.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

from distill_tui.offline import OfflineOptions, OfflineServer, start_server


@contextlib.contextmanager
def running(**options) -> Iterator[OfflineServer]:
    """An offline provider with these options, shut down afterwards."""
    options.setdefault("job_seconds", 1.0)
    server = start_server(OfflineOptions(**options))
    try:
        yield server
    finally:
        server.shutdown()


def client_for(server: OfflineServer, **kwargs):
    import openai

    kwargs.setdefault("api_key", "offline")
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.base_url, **kwargs)


@pytest.fixture(scope="module")
def provider() -> Iterator[OfflineServer]:
    """One default offline provider per test module (fast jobs: job_seconds=1)."""
    with running() as server:
        yield server


@pytest.fixture
def sdk(provider):
    """An SDK client for `provider`, without retries."""
    return client_for(provider)
