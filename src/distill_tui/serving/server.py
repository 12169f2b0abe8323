"""The HTTP side of the light server: `/v1/models` and `/v1/chat/completions` on the standard library's
threading HTTP server (one request is computed at a time; the others wait their turn)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from distill_tui.serving.models import ModelPool, ServeError
from distill_tui.serving.options import ServeOptions


def _error(status: int, message: str, code: str | None = None, param: str | None = None) -> tuple[int, dict]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _positive_int(body: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ServeError(400, f"{key} must be a positive integer, not {value!r}", param=key)
        return value
    return None


def chat_completion(pool: ModelPool, body: Any) -> dict[str, Any]:
    """The chat completion object answering one request body (raises ServeError for a bad request)."""
    if not isinstance(body, dict):
        raise ServeError(400, "the request body must be a JSON object")
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise ServeError(400, "you must provide a model parameter", param="model")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ServeError(400, "messages must be a non-empty list of message objects", param="messages")
    if body.get("stream"):
        raise ServeError(400, "this light server does not stream; ask without stream", param="stream")
    if body.get("n") not in (None, 1):
        raise ServeError(400, "this light server answers n = 1 only", param="n")
    temperature = body.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                    or not 0 <= temperature <= 2):
        raise ServeError(400, f"temperature must be a number from 0 to 2, not {temperature!r}", param="temperature")
    max_tokens = _positive_int(body, "max_completion_tokens", "max_tokens")
    template_kwargs = body.get("chat_template_kwargs")
    if template_kwargs is not None and not isinstance(template_kwargs, dict):
        raise ServeError(400, "chat_template_kwargs must be an object", param="chat_template_kwargs")
    answer = pool.answer(model, messages, max_tokens=max_tokens, temperature=temperature,
                         response_format=body.get("response_format"), template_kwargs=template_kwargs)
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text, "refusal": None},
                     "logprobs": None, "finish_reason": answer.finish_reason}],
        "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                  "total_tokens": answer.prompt_tokens + answer.completion_tokens},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "distill-tui-serve"
    timeout = 600
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        pool: ModelPool = self.server.pool  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        status, result = 200, {}
        try:
            if method == "GET" and path == "/v1/models":
                created = int(time.time())
                result = {"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                                       "owned_by": "distill-tui"} for name in pool.names]}
            elif method == "POST" and path == "/v1/chat/completions":
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    raise ServeError(400, "We could not parse the JSON body of your request.") from None
                result = chat_completion(pool, body)
            else:
                status, result = _error(404, f"Invalid URL ({method} {path})")
        except ServeError as error:
            status, result = _error(error.status, error.message, error.code, error.param)
        except Exception as exc:  # noqa: BLE001 - a bug answers 500 rather than dropping the connection
            status, result = _error(500, f"The server had an error while processing your request "
                                         f"({type(exc).__name__}: {exc})")
        payload = json.dumps(result, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up is normal; never print a traceback over the TUI


class LightServer:
    """A running light server (see `start_server`)."""

    def __init__(self, pool: ModelPool, httpd: _HTTPServer, thread: threading.Thread) -> None:
        self.pool = pool
        self._httpd, self._thread = httpd, thread
        host, port = httpd.server_address[:2]
        self.host = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)
        self.port = int(port)
        self.base_url = f"http://{self.host}:{self.port}/v1"

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LightServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def start_server(options: ServeOptions) -> LightServer:
    """Load the models, then serve them from a daemon thread; returns once it is listening.

    Raises:
        distill_tui.serving.models.LoadError: a model or adapter folder cannot be loaded.
        OSError: the address cannot be bound.
    """
    pool = ModelPool(options)
    httpd = _HTTPServer((options.host, options.port), _Handler)
    httpd.pool = pool  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                              name="light-server", daemon=True)
    thread.start()
    return LightServer(pool, httpd, thread)
