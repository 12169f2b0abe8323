"""OpenAI clients for a spec: OpenAI, Azure OpenAI, any OpenAI-compatible base_url, or the
embedded offline provider (started by whatever the commands registered with `use_embedded_provider`).
The API key is read from the environment and never stored."""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.common.errors import UserError
from distill_tui.core.common.redact import remember

if TYPE_CHECKING:
    import openai

    from distill_tui.core.task.spec import TaskSpec

OFFLINE = "offline"
OFFLINE_KEY = "offline"
NO_KEY = "none"
"""Sent when no key is set for a non-OpenAI endpoint; a 401 then says no key was set."""
OPENAI_URL = "https://api.openai.com/v1"


def is_openai(url: str | None) -> bool:
    """Whether `url` (None: the SDK's default) is OpenAI's own API rather than another endpoint."""
    return not url or url.startswith("https://api.openai.com")


_keyless_urls: set[str] = set()
"""Base URLs whose latest client `make_client` built without a key (it sent `NO_KEY`)."""


def sent_without_key(request_url: str) -> bool:
    """Whether a request to `request_url` went through a client we configured with no key.

    Decided from our own configuration, not from the failed request: the SDK strips the
    Authorization header from the requests it keeps on its errors.
    """
    return any(request_url.startswith(url) for url in _keyless_urls)


_offline_lock = threading.Lock()
_offline_start: "Callable[[], str] | None" = None
_offline_url: str | None = None


def use_embedded_provider(start: "Callable[[], str]") -> None:
    """Say how `base_url = "offline"` starts the embedded offline provider: `start()` returns its base URL.

    The commands (the edge) register this; the core never imports the offline provider itself.
    """
    global _offline_start, _offline_url
    with _offline_lock:
        if start is not _offline_start:
            _offline_start, _offline_url = start, None


def offline_base_url() -> str:
    """Start (once per process) the embedded offline provider and return its base URL.

    Raises:
        UserError: nothing registered a way to start it (the core used without the commands).
    """
    global _offline_url
    with _offline_lock:
        if _offline_url is None:
            if _offline_start is None:
                raise UserError('base_url = "offline" needs the embedded offline provider: run it through distill-tui')
            _offline_url = _offline_start()
        return _offline_url


def resolve_base_url(spec: "TaskSpec | None", override: str | None = None) -> str | None:
    """The base URL to call: a command-line override, else the spec's, else OPENAI_BASE_URL."""
    url = override or (spec.provider.base_url if spec else None) or os.environ.get("OPENAI_BASE_URL") or None
    if url == OFFLINE:
        return offline_base_url()
    return url


def is_offline(spec: "TaskSpec | None", override: str | None = None) -> bool:
    url = override or (spec.provider.base_url if spec else None) or os.environ.get("OPENAI_BASE_URL")
    return url == OFFLINE or (_offline_url is not None and url == _offline_url)


def pooled_http_client(size: int | None = None) -> Any:
    """The SDK's HTTP client with a connection pool of `size` connections (default: as large as the
    engine's most requests in flight).

    The SDK keeps 100 idle connections: above that many requests in flight, every answer closed
    one connection and the next request opened another (a TCP handshake each, and the pool's lock
    held meanwhile), which is where a pool of threads queued.
    """
    import httpx2
    import openai

    from distill_tui.core.task.spec import MAX_WORKERS

    size = size or MAX_WORKERS + 16
    return openai.DefaultHttpxClient(limits=httpx2.Limits(max_connections=size, max_keepalive_connections=size))


_made: "weakref.WeakSet[Any]" = weakref.WeakSet()
"""Clients `make_client` built (their HTTP client is `pooled_http_client`'s, nothing of the caller's)."""


def shard_maker(client: Any, size: int, **options: Any) -> "Callable[[], Any] | None":
    """A function giving copies of `client`, each with its own pool of `size` connections and with
    `options` (as `with_options` takes them); None for a client `make_client` did not build (its HTTP
    client, a test's transport or a user's proxy, is not ours to replace).

    The HTTP client's pool looks through every connection it holds on each request and each answer,
    under its lock: at hundreds of requests in flight that scan cost more CPU than the request.
    """
    if client not in _made:
        return None
    return lambda: client.with_options(http_client=pooled_http_client(size), **options)


def make_client(
    spec: "TaskSpec | None", *, base_url: str | None = None, max_retries: int = 0, timeout: float = 120.0
) -> "openai.OpenAI":
    """A client for the spec's provider. The engine retries itself, so the SDK's retries are off.

    Raises:
        UserError: the key (or Azure endpoint) is missing.
    """
    import openai

    from distill_tui.core.task.spec import url_problem

    provider = spec.provider if spec else None
    url = resolve_base_url(spec, base_url)
    offline = is_offline(spec, base_url)
    problem = None if offline else url_problem(url)
    if problem:
        source = "--base-url" if base_url else ("[provider] base_url" if provider and provider.base_url else "OPENAI_BASE_URL")
        raise UserError(f"{source} {problem}")
    key_env = provider.api_key_env if provider else "OPENAI_API_KEY"
    kind = provider.kind if provider else "openai"
    if kind == "azure" and not offline:
        key = os.environ.get(key_env if key_env != "OPENAI_API_KEY" else "AZURE_OPENAI_API_KEY") or os.environ.get(key_env)
        endpoint = (provider.azure_endpoint if provider else None) or os.environ.get("AZURE_OPENAI_ENDPOINT")
        version = (provider.api_version if provider else None) or os.environ.get("OPENAI_API_VERSION")
        if not key:
            raise UserError("no Azure OpenAI key: set AZURE_OPENAI_API_KEY (or [provider] api_key_env)")
        if not endpoint:
            raise UserError("no Azure endpoint: set AZURE_OPENAI_ENDPOINT or [provider] azure_endpoint")
        if not version:
            raise UserError("no Azure API version: set OPENAI_API_VERSION or [provider] api_version")
        remember(key)
        azure = openai.AzureOpenAI(
            api_key=key, azure_endpoint=endpoint, api_version=version, max_retries=max_retries, timeout=timeout,
            http_client=pooled_http_client(),
        )
        _made.add(azure)
        return azure
    key = OFFLINE_KEY if offline else os.environ.get(key_env)
    if not offline:
        remember(key)
    if not key and is_openai(url):
        raise UserError(f"no API key: set {key_env} (or use `distill-tui demo` to try the offline provider)")
    # Local OpenAI-compatible servers (vLLM, Ollama…) often need no key: send a placeholder.
    client = openai.OpenAI(api_key=key or NO_KEY, base_url=url, max_retries=max_retries, timeout=timeout,
                           http_client=pooled_http_client())
    client_url = str(client.base_url)
    if key:
        _keyless_urls.discard(client_url)
    else:
        _keyless_urls.add(client_url)
    _made.add(client)
    return client
