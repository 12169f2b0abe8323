"""The HTTP side of the offline provider: routing, auth, rate limits, injected faults, start and stop."""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from distill_tui.offline.batches import BatchManager
from distill_tui.offline.chat import ChatService, model_not_found, prompt_hash
from distill_tui.offline.common import ORGANIZATION, ApiError, OfflineOptions
from distill_tui.offline.files import FileStore
from distill_tui.offline.jobs import JobManager
from distill_tui.offline.limits import RateLimiter, retry_headers
from distill_tui.offline.models import Knowledge, ModelRegistry
from distill_tui.offline.state import StateStore

Handler = Callable[..., Any]


class OfflineApp:
    """Everything one server holds: models, files, jobs, stored completions, counters."""

    def __init__(self, options: OfflineOptions) -> None:
        self.options = options
        state = StateStore(options.state_dir) if options.state_dir else None
        knowledge = Knowledge(options.knowledge, options.label, options.text_columns)
        self.registry = ModelRegistry(knowledge, options.seed, state, judge_position_bias=options.judge_position_bias)
        self.files = FileStore(state)
        self.chat = ChatService(self.registry, state)
        self.jobs = JobManager(options, self.files, self.registry, state)
        self.batches = BatchManager(options, self.files, lambda body: self._chat({"json": lambda: body}), state)
        self.limiter = RateLimiter(options.rpm, options.tpm, window=options.burst_seconds)
        self._faults = random.Random(options.seed)
        self._lock = threading.Lock()
        self.stats: dict[str, Any] = {
            "chat_requests": 0, "chat_ok": 0, "chat_rate_limited": 0, "chat_failed": 0, "chat_invalid": 0,
            "chat_broken": 0,
            "prompt_tokens": 0, "completion_tokens": 0, "chat_ok_by_model": Counter(),
            "requests_by_prompt_hash": Counter(), "embedding_requests": 0, "embedding_tokens": 0,
        }
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        route = self._route
        route("GET", r"/_offline/stats", lambda ctx: self.stats_snapshot())
        route("GET", r"/v1/models", lambda ctx: {"object": "list", "data": [e.public() for e in self.registry.listed()]})
        route("GET", r"/v1/models/(?P<model>[^/]+)", self._get_model)
        route("DELETE", r"/v1/models/(?P<model>[^/]+)", self._delete_model)
        route("POST", r"/v1/chat/completions", self._chat)
        route("POST", r"/v1/embeddings", self._embeddings)
        route("GET", r"/v1/chat/completions", lambda ctx: self.chat.list(ctx["query"]))
        route("GET", r"/v1/chat/completions/(?P<id>[^/]+)", lambda ctx, id: self.chat.retrieve(id))
        route("POST", r"/v1/chat/completions/(?P<id>[^/]+)", lambda ctx, id: self.chat.update(id, ctx["json"]()))
        route("DELETE", r"/v1/chat/completions/(?P<id>[^/]+)", lambda ctx, id: self.chat.delete(id))
        route("GET", r"/v1/chat/completions/(?P<id>[^/]+)/messages", lambda ctx, id: self.chat.messages(id, ctx["query"]))
        route("POST", r"/v1/files", lambda ctx: self.files.upload(ctx["content_type"], ctx["body"]))
        route("GET", r"/v1/files", lambda ctx: self.files.list(ctx["query"]))
        route("GET", r"/v1/files/(?P<id>[^/]+)", lambda ctx, id: self.files.get(id))
        route("DELETE", r"/v1/files/(?P<id>[^/]+)", lambda ctx, id: self.files.delete(id))
        route("GET", r"/v1/files/(?P<id>[^/]+)/content", lambda ctx, id: RawBody(self.files.content(id)))
        route("POST", r"/v1/fine_tuning/jobs", lambda ctx: self.jobs.create(ctx["json"]()))
        route("GET", r"/v1/fine_tuning/jobs", lambda ctx: self.jobs.list(ctx["query"]))
        route("GET", r"/v1/fine_tuning/jobs/(?P<id>[^/]+)", lambda ctx, id: self.jobs.retrieve(id))
        route("POST", r"/v1/fine_tuning/jobs/(?P<id>[^/]+)/cancel", lambda ctx, id: self.jobs.cancel(id))
        route("POST", r"/v1/fine_tuning/jobs/(?P<id>[^/]+)/pause", lambda ctx, id: self.jobs.pause(id))
        route("POST", r"/v1/fine_tuning/jobs/(?P<id>[^/]+)/resume", lambda ctx, id: self.jobs.resume(id))
        route("GET", r"/v1/fine_tuning/jobs/(?P<id>[^/]+)/events", lambda ctx, id: self.jobs.events(id, ctx["query"]))
        route("GET", r"/v1/fine_tuning/jobs/(?P<id>[^/]+)/checkpoints",
              lambda ctx, id: self.jobs.checkpoints(id, ctx["query"]))
        route("POST", r"/v1/batches", lambda ctx: self.batches.create(ctx["json"]()))
        route("GET", r"/v1/batches", lambda ctx: self.batches.list(ctx["query"]))
        route("GET", r"/v1/batches/(?P<id>[^/]+)", lambda ctx, id: self.batches.retrieve(id))
        route("POST", r"/v1/batches/(?P<id>[^/]+)/cancel", lambda ctx, id: self.batches.cancel(id))

    def _route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"/?\Z"), handler))

    def stats_snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in self.stats.items()}

    def _count(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[key] += amount

    def _get_model(self, ctx: dict, model: str) -> dict:
        entry = self.registry.entry(model)
        if entry is None:
            raise model_not_found(model)
        return entry.public()

    def _delete_model(self, ctx: dict, model: str) -> dict:
        if not model.startswith("ft:"):
            raise ApiError(403, f"You have insufficient permissions to delete the model {model}.",
                           code="model_not_deletable")
        if not self.registry.delete(model):
            raise model_not_found(model)
        return {"id": model, "object": "model", "deleted": True}

    def _embeddings(self, ctx: dict) -> dict[str, Any]:
        from distill_tui.offline import embeddings

        response = embeddings.create(ctx["json"]())
        with self._lock:
            self.stats["embedding_requests"] += 1
            self.stats["embedding_tokens"] += response["usage"]["prompt_tokens"]
        return response

    def _chat(self, ctx: dict) -> Any:
        self._count("chat_requests")
        ctx["extra_headers"] = self.limiter.headers
        try:
            request = self.chat.validate(ctx["json"]())
            if request["model"] in self.options.failing_models:
                raise server_error()
            if self.registry.entry(request["model"]) is None:
                raise model_not_found(request["model"])
            admission = self.limiter.admit(request["prompt_tokens"] + (request["max_tokens"] or 0), request["model"])
            if not admission.ok:
                headers = dict(admission.headers)
                if admission.too_large:
                    headers["x-should-retry"] = "false"
                else:
                    headers.update(retry_headers(admission.retry_after))
                raise ApiError(429, admission.message, type=admission.kind, code="rate_limit_exceeded", headers=headers)
            ctx["extra_headers"] = lambda: admission.headers
            # An injected fault strikes after admission: the request used its share of the limit.
            if self.options.fail_rate > 0:
                with self._lock:
                    fail = self._faults.random() < self.options.fail_rate
                if fail:
                    broken = injected_fault(self.options.fault, request["model"])
                    if ctx.get("http"):  # a broken body only on the wire; a batch line gets a 500
                        self._count("chat_broken")
                        return broken
                    raise server_error()
            if self.options.latency > 0:
                time.sleep(self.options.latency)
            completion = self.chat.complete(request)
        except ApiError as error:
            key = "chat_rate_limited" if error.status == 429 else "chat_failed" if error.status >= 500 else "chat_invalid"
            self._count(key)
            raise
        with self._lock:
            self.stats["chat_ok"] += 1
            self.stats["chat_ok_by_model"][request["model"]] += 1
            self.stats["requests_by_prompt_hash"][prompt_hash(request["messages"])] += 1
            self.stats["prompt_tokens"] += completion["usage"]["prompt_tokens"]
            self.stats["completion_tokens"] += completion["usage"]["completion_tokens"]
        return completion


def injected_fault(kind: str, model: str) -> "RawBody | dict[str, Any]":
    """What an injected fault of `kind` (see `OfflineOptions.fault`) answers: an error is raised,
    a 200 with a broken body is returned."""
    if kind == "429":
        raise ApiError(429, f"Rate limit reached for {model} in organization {ORGANIZATION} on requests per min "
                       "(RPM): Limit 0, Used 0, Requested 1. Please try again in 1s.", type="requests",
                       code="rate_limit_exceeded", headers=retry_headers(1.0))
    if kind == "502":
        raise ApiError(502, "Bad gateway.", type="server_error")
    if kind == "not-json":
        return RawBody(b"<html><head><title>504 Gateway Time-out</title></head>\n<body>upstream timed out</body></html>",
                       "text/html")
    if kind == "bad-json":
        return RawBody(b'{"id": "chatcmpl-cut", "object": "chat.completion", "choices": [{"ind', "application/json")
    if kind == "no-choices":
        return {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "model": model}
    raise server_error()


def server_error() -> ApiError:
    return ApiError(500, "The server had an error while processing your request. Sorry about that!",
                    type="server_error")


class RawBody:
    """A non-JSON response body (file content)."""

    def __init__(self, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.data = data
        self.content_type = content_type


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "distill-tui-offline"
    timeout = 120  # an idle keep-alive connection does not hold its thread forever
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the TUI owns the terminal
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PUT(self) -> None:  # noqa: N802 - no route takes PUT or PATCH: answered as JSON 404s
        self._dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        app: OfflineApp = self.server.app  # type: ignore[attr-defined]
        started = time.monotonic()
        body = self._read_body()
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"

        def parse_json() -> Any:
            try:
                return json.loads(body or b"null")
            except ValueError:
                raise ApiError(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                               "aren't using your HTTP library correctly.)") from None

        ctx: dict[str, Any] = {"query": parse_qs(url.query), "body": body, "json": parse_json,
                               "content_type": self.headers.get("Content-Type") or "", "http": True}
        status, headers = 200, {}
        try:
            if path.startswith("/v1/") and app.options.echo_key:
                _echo_key(self.headers.get("Authorization"))
            if path.startswith("/v1/") and app.options.require_key:
                _check_key(self.headers.get("Authorization"), app.options.api_key)
            handler, args = self._find(app, method, path)
            result = handler(ctx, **args)
        except ApiError as error:
            status, result, headers = error.status, error.body(), dict(error.headers)
        except Exception as exc:  # never let a bug become a dropped connection
            status, result = 500, server_error().body()
            result["error"]["message"] += f" ({type(exc).__name__}: {exc})"
        if "extra_headers" in ctx:
            headers = {**ctx["extra_headers"](), **headers}
        if isinstance(result, RawBody):
            payload, content_type = result.data, result.content_type
        else:
            payload, content_type = json.dumps(result, ensure_ascii=False).encode("utf-8"), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
        self.send_header("openai-processing-ms", str(int((time.monotonic() - started) * 1000)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def _find(app: OfflineApp, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        for route_method, pattern, handler in app.routes:
            match = pattern.match(path)
            if match and route_method == method:
                return handler, match.groupdict()
        raise ApiError(404, f"Invalid URL ({method} {path})")


def _check_key(header: str | None, expected: str | None = None) -> None:
    if not header:
        raise ApiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                       "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
    scheme, _, key = header.partition(" ")
    if expected is not None and key.strip() != expected:
        # Never echo the key back (OpenAI shows only its last characters).
        raise ApiError(401, f"Incorrect API key provided: ...{key.strip()[-4:]}.", code="invalid_api_key")
    if scheme != "Bearer" or not key.strip():
        raise ApiError(401, "Incorrect API key provided. The offline provider accepts any non-empty key.",
                       code="invalid_api_key")


def _echo_key(header: str | None) -> None:
    """The fault `echo_key`: a careless proxy's 401, which repeats the key it was sent."""
    key = (header or "").partition(" ")[2].strip()
    raise ApiError(401, f"Incorrect API key provided: {key}. Check the key and try again.", code="invalid_api_key")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr, which would tear through the TUI of the embedded
        # demo; a client that hangs up (killed, cancelled) is normal here, anything else is logged.
        import logging
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)):
            return
        logging.getLogger("distill_tui.offline").debug("request from %s failed", client_address, exc_info=True)


class OfflineServer:
    """A running offline provider (see `start_server`)."""

    def __init__(self, app: OfflineApp, httpd: _HTTPServer, thread: threading.Thread) -> None:
        self.app = app
        self._httpd = httpd
        self._thread = thread
        host, port = httpd.server_address[:2]
        self.bound_host = str(host)
        """The address the socket is bound to ("0.0.0.0": every interface)."""
        self.host = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)
        self.port = int(port)
        self.base_url = f"http://{self.host}:{self.port}/v1"

    @property
    def stats(self) -> dict[str, Any]:
        """Live counters: chat_requests (every attempt), chat_ok, chat_rate_limited, chat_failed,
        chat_invalid, prompt_tokens, completion_tokens, chat_ok_by_model and requests_by_prompt_hash
        (a Counter keyed by `prompt_hash(messages)` of each successful completion)."""
        return self.app.stats

    def warm(self) -> None:
        """Train the base models now rather than on their first request."""
        for name in ("offline-teacher", "offline-student"):
            entry = self.app.registry.entry(name)
            if entry is not None:
                entry.get()

    def shutdown(self) -> None:
        """Stop serving, stop running jobs and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self.app.jobs.shutdown()
        self.app.batches.shutdown()
        self._thread.join(timeout=5)

    def __enter__(self) -> "OfflineServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def start_server(options: OfflineOptions | None = None) -> OfflineServer:
    """Start the offline provider in a daemon thread; returns once it is listening.

    Raises:
        OSError: when the address cannot be bound.
        distill_tui.offline.models.KnowledgeError: when the knowledge file cannot be read.
    """
    options = options or OfflineOptions()
    app = OfflineApp(options)
    httpd = _HTTPServer((options.host, options.port), _RequestHandler)
    httpd.app = app  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                              name="offline-provider", daemon=True)
    thread.start()
    return OfflineServer(app, httpd, thread)
