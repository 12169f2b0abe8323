"""The pool's worker threads spread over several SDK clients, `SHARD_THREADS` threads each.

One HTTP client for hundreds of requests in flight means one connection pool of hundreds of
connections, which the pool scans on every request and every answer under its lock: at 10,000
requests a minute and 1 s latency that scan was the largest cost of a request after the SDK's own.
Each worker takes a client when it starts (`take`) and gives its place back when it ends; a client
is made only when every existing one already serves `SHARD_THREADS` threads, and is kept (its
connections stay open) for the threads that come after, until the run ends (`close`).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

SHARD_THREADS = 32
"""Worker threads per client (and connections per client's pool, with a few to spare)."""
SHARD_CONNECTIONS = SHARD_THREADS + 8


class ClientShards:
    """Clients for the worker threads.

    Args:
        first: The run's client (the only one when `make` is None).
        make: Makes another client like `first` with its own connection pool
            (`provider.clients.shard_maker`); None to share `first` among every thread.
    """

    def __init__(self, first: Any, make: Callable[[], Any] | None = None) -> None:
        self._make = make
        self._users: dict[Any, int] = {first: 0}  # client -> threads using it; the first is the caller's
        self._lock = threading.Lock()

    def take(self) -> Any:
        """The client a starting worker thread uses (the least used, or a new one when all are full)."""
        with self._lock:
            client = min(self._users, key=self._users.__getitem__)
            if self._users[client] >= SHARD_THREADS and self._make is not None:
                try:
                    client = self._make()
                except Exception:  # noqa: BLE001 - one more pool is an optimisation: share instead
                    self._make = None
                else:
                    self._users[client] = 0
            self._users[client] += 1
            return client

    def give_back(self, client: Any) -> None:
        """A worker thread using `client` ends."""
        with self._lock:
            self._users[client] -= 1

    def close(self) -> None:
        """Close the clients made here that no thread uses any more, and make no more: their idle
        connections (up to `SHARD_CONNECTIONS` each) would otherwise stay open until the garbage
        collector finds them, a run after a run. The first client is the caller's, left open."""
        with self._lock:
            self._make = None
            idle = [c for c, users in list(self._users.items())[1:] if users == 0]
            for client in idle:
                del self._users[client]
        for client in idle:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing idle connections must not fail a finished run
                pass

    def __len__(self) -> int:
        return len(self._users)
