"""Worker threads spread over SDK clients of `SHARD_THREADS` each, so no connection pool holds hundreds
of connections; only clients the tool built are copied (a caller's transport is kept)."""

from __future__ import annotations

import httpx2
import openai

from distill_tui.core.provider.clients import make_client, shard_maker
from distill_tui.core.run.client_shards import SHARD_CONNECTIONS, SHARD_THREADS, ClientShards


def test_a_new_client_only_when_every_one_is_full():
    made = []

    def make():
        made.append(object())
        return made[-1]

    first = object()
    shards = ClientShards(first, make)
    taken = [shards.take() for _ in range(SHARD_THREADS)]
    assert set(map(id, taken)) == {id(first)} and not made
    extra = shards.take()
    assert extra is made[0] and len(shards) == 2
    rest = [shards.take() for _ in range(SHARD_THREADS - 1)]
    assert all(c is made[0] for c in rest) and len(made) == 1  # the least used client first
    shards.give_back(first)  # a thread of the first client ended: the next one takes its place
    assert shards.take() is first and len(made) == 1


def test_without_a_maker_or_when_it_fails_every_thread_shares_the_client():
    first = object()
    shards = ClientShards(first)
    assert all(shards.take() is first for _ in range(3 * SHARD_THREADS))

    def broken():
        raise RuntimeError("no")

    shards = ClientShards(first, broken)
    assert all(shards.take() is first for _ in range(3 * SHARD_THREADS)) and len(shards) == 1


def test_only_clients_the_tool_made_are_copied(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    ours = make_client(None, base_url="https://api.example.com/v1")
    make = shard_maker(ours, SHARD_CONNECTIONS, max_retries=0)
    assert make is not None
    copy = make()
    assert copy is not ours and copy.base_url == ours.base_url and copy.api_key == ours.api_key
    assert copy.max_retries == 0 and copy._client is not ours._client  # its own connection pool
    theirs = openai.OpenAI(base_url="https://api.example.com/v1", api_key="sk-test",
                           http_client=httpx2.Client(transport=httpx2.MockTransport(lambda r: httpx2.Response(200))))
    assert shard_maker(theirs, SHARD_CONNECTIONS) is None and shard_maker(None, SHARD_CONNECTIONS) is None


class _Client:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_closing_closes_the_clients_made_that_no_thread_uses():
    first = _Client()
    shards = ClientShards(first, _Client)
    taken = [shards.take() for _ in range(3 * SHARD_THREADS)]
    made = [c for c in {id(c): c for c in taken}.values() if c is not first]
    assert len(made) == 2
    for client in taken:
        if client is made[0]:
            shards.give_back(client)  # every thread of the first copy ended; one still uses the second
    shards.close()
    assert made[0].closed and not made[1].closed and not first.closed  # the caller's client is theirs
    assert shards.take() is not made[0] and len(shards) == 2  # none made after the run


def test_a_run_closes_its_extra_clients(tmp_path, server_factory, monkeypatch):
    from distill_tui.core.run.generate import run_teacher
    from distill_tui.core.workspace.workspace import Workspace
    from tests.helpers import write_spec

    closed = []
    close = ClientShards.close
    monkeypatch.setattr(ClientShards, "close", lambda self: (closed.append(len(self)), close(self))[1])
    server = server_factory()
    ws = Workspace.open(write_spec(tmp_path, rows=20, provider={"base_url": server.base_url}))
    result = run_teacher(ws)
    assert result.done == result.total > 0 and closed
