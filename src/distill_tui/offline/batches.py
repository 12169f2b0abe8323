"""The Batch API: validating → in_progress → finalizing → completed (or failed/cancelled), in real time.

Each batch runs in a daemon thread, its phases taking shares of `batch_seconds`. Every line is
answered by the same code as POST /v1/chat/completions (passed in as `answer`), so answers, usage,
injected faults and unknown models behave exactly as they do there. A 429 from the rate limits makes
the batch wait and ask again: a provider paces its own batch work instead of failing lines for it.
Successful lines go to an output file, failed ones to an error file (purpose "batch_output").
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from distill_tui.offline.common import (
    ApiError,
    OfflineOptions,
    check_metadata,
    cursor_page,
    new_id,
    now,
    query_limit,
)
from distill_tui.offline.files import FileStore
from distill_tui.offline.state import StateStore

TERMINAL = {"completed", "failed", "expired", "cancelled"}
ENDPOINTS = ("/v1/chat/completions",)
MAX_LINES = 50_000
_VALIDATED, _PROCESSED = 0.2, 0.8  # shares of batch_seconds at which those phases end
_MAX_WAITS_429 = 200

Answer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Batch:
    data: dict[str, Any]
    order: int = field(default_factory=time.time_ns)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class _BadFile(Exception):
    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.error = {"code": code, "message": message, "param": None, "line": line}


def _parse_lines(data: bytes, endpoint: str) -> list[dict[str, Any]]:
    """The requests of an input file, checked as the Batch API checks them before it starts."""
    requests, seen = [], set()
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            raise _BadFile("invalid_json_line", f"Line {number} is not valid JSON.", number) from None
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str) or not line["custom_id"]:
            raise _BadFile("missing_custom_id", f"Line {number} has no 'custom_id'.", number)
        if line["custom_id"] in seen:
            raise _BadFile("duplicate_custom_id", f"The custom_id for line {number} isn't unique.", number)
        seen.add(line["custom_id"])
        if line.get("method") != "POST":
            raise _BadFile("invalid_method", f"Line {number}: 'method' must be 'POST'.", number)
        if line.get("url") != endpoint:
            raise _BadFile("mismatched_endpoint", f"Line {number}: 'url' must be the batch's endpoint {endpoint}.",
                           number)
        if not isinstance(line.get("body"), dict):
            raise _BadFile("invalid_body", f"Line {number}: 'body' must be an object.", number)
        requests.append(line)
    if not requests:
        raise _BadFile("empty_file", "The input file holds no requests.")
    if len(requests) > MAX_LINES:
        raise _BadFile("too_many_requests", f"A batch holds at most {MAX_LINES} requests, not {len(requests)}.")
    return requests


class BatchManager:
    """The batches of one server."""

    def __init__(self, options: OfflineOptions, files: FileStore, answer: Answer,
                 state: StateStore | None = None) -> None:
        self.options = options
        self.files = files
        self.answer = answer
        self._state = state
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}
        for record in state.batches() if state else ():
            batch = Batch(record["data"], order=record.get("order", 0))
            self._batches[batch.data["id"]] = batch
            if batch.data["status"] not in TERMINAL:
                self._start(batch)  # answers are deterministic: a restarted batch simply runs again

    # --- API ------------------------------------------------------------------------------------
    def create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        file_id = body.get("input_file_id")
        if not isinstance(file_id, str) or not file_id:
            raise ApiError(400, "Missing required parameter: 'input_file_id'.", param="input_file_id",
                           code="missing_required_parameter")
        try:
            info = self.files.get(file_id)
        except ApiError:
            raise ApiError(400, f"Invalid file ID: {file_id} does not exist.", param="input_file_id",
                           code="invalid_file_id") from None
        if info["purpose"] != "batch":
            raise ApiError(400, f"File {file_id} has purpose '{info['purpose']}'; a batch needs 'batch'.",
                           param="input_file_id")
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            raise ApiError(400, f"Invalid 'endpoint': the offline provider batches {', '.join(ENDPOINTS)} only.",
                           param="endpoint")
        if body.get("completion_window") != "24h":
            raise ApiError(400, "Invalid 'completion_window': expected '24h'.", param="completion_window")
        created = now()
        data = {
            "id": new_id("batch_", 32), "object": "batch", "endpoint": endpoint, "errors": None,
            "input_file_id": file_id, "completion_window": "24h", "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": created, "in_progress_at": None,
            "expires_at": created + 24 * 3600, "finalizing_at": None, "completed_at": None, "failed_at": None,
            "expired_at": None, "cancelling_at": None, "cancelled_at": None, "model": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "usage": None,
            "metadata": check_metadata(body.get("metadata")),
        }
        batch = Batch(data)
        with self._lock:
            self._batches[data["id"]] = batch
        self._persist(batch)
        self._start(batch)
        return self._public(batch)

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        return self._public(self._get(batch_id))

    def list(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        query_limit(query)  # a bad limit is a 400 before anything else
        with self._lock:
            batches = sorted(self._batches.values(), key=lambda b: b.order, reverse=True)
            items = [copy.deepcopy(b.data) for b in batches]
        return cursor_page(items, query)

    def cancel(self, batch_id: str) -> dict[str, Any]:
        batch = self._get(batch_id)
        with self._lock:
            status = batch.data["status"]
            if status in TERMINAL or status == "cancelling":
                raise ApiError(409, f"Cannot cancel a batch with status '{status}'.", code="batch_not_cancellable")
            batch.data.update(status="cancelling", cancelling_at=now())
        batch.stop.set()
        self._persist(batch)
        return self._public(batch)

    def shutdown(self) -> None:
        with self._lock:
            batches = list(self._batches.values())
        for batch in batches:
            batch.stop.set()
        for batch in batches:
            if batch.thread is not None:
                batch.thread.join(timeout=2)

    # --- internals ------------------------------------------------------------------------------
    def _get(self, batch_id: str) -> Batch:
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            raise ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id", code="not_found")
        return batch

    def _public(self, batch: Batch) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(batch.data)

    def _persist(self, batch: Batch) -> None:
        if self._state is not None:
            with self._lock:
                record = copy.deepcopy({"data": batch.data, "order": batch.order})
            self._state.save_batch(record)

    def _update(self, batch: Batch, **changes: Any) -> None:
        with self._lock:
            batch.data.update(changes)
        self._persist(batch)

    def _start(self, batch: Batch) -> None:
        batch.thread = threading.Thread(target=self._run, args=(batch,), name=f"offline-{batch.data['id']}",
                                        daemon=True)
        batch.thread.start()

    def _run(self, batch: Batch) -> None:
        try:
            self._work(batch)
        except Exception as exc:  # a bug here must fail the batch, not leave it in progress forever
            error = {"code": "internal_error", "message": f"The offline provider failed: {exc}", "param": None,
                     "line": None}
            self._update(batch, status="failed", failed_at=now(), errors={"object": "list", "data": [error]})

    def _work(self, batch: Batch) -> None:
        span = max(0.0, self.options.batch_seconds)
        start = time.monotonic()

        def wait_until(share: float) -> None:
            batch.stop.wait(max(0.0, start + span * share - time.monotonic()))

        wait_until(_VALIDATED)
        if self._shutting_down(batch):
            return
        try:
            lines = _parse_lines(self.files.content(batch.data["input_file_id"]), batch.data["endpoint"])
        except (_BadFile, ApiError) as problem:
            error = problem.error if isinstance(problem, _BadFile) else {
                "code": "invalid_file_id", "message": "The input file no longer exists.", "param": None, "line": None}
            self._update(batch, status="failed", failed_at=now(), errors={"object": "list", "data": [error]})
            return
        counts = {"total": len(lines), "completed": 0, "failed": 0}
        if self._status(batch) == "cancelling":
            self._update(batch, request_counts=counts)
        else:  # a batch resumed after a restart starts its lines again, so its counts do too
            self._update(batch, status="in_progress", in_progress_at=batch.data["in_progress_at"] or now(),
                         model=lines[0]["body"].get("model"), request_counts=counts)
        outputs: list[str] = []
        errors: list[str] = []
        usage = {"input_tokens": 0, "output_tokens": 0}
        for i, line in enumerate(lines):
            if batch.stop.is_set():
                break
            status, body = self._ask(batch, line["body"])
            if status is None:
                break
            out = {"id": new_id("batch_req_", 32), "custom_id": line["custom_id"],
                   "response": {"status_code": status, "request_id": new_id("req_", 32), "body": body},
                   "error": None}
            (outputs if status == 200 else errors).append(json.dumps(out, ensure_ascii=False))
            if status == 200:
                usage["input_tokens"] += body["usage"]["prompt_tokens"]
                usage["output_tokens"] += body["usage"]["completion_tokens"]
            with self._lock:
                counts = batch.data["request_counts"]
                counts["completed" if status == 200 else "failed"] += 1
            wait_until(_VALIDATED + (_PROCESSED - _VALIDATED) * (i + 1) / len(lines))
        if self._shutting_down(batch):
            return  # the batch runs again when the provider restarts on the same state folder
        cancelled = self._status(batch) == "cancelling"
        if not cancelled:
            self._update(batch, status="finalizing", finalizing_at=now())
            wait_until(1.0)
        files = {}
        for name, kept in (("output_file_id", outputs), ("error_file_id", errors)):
            if kept:
                suffix = "output" if name == "output_file_id" else "error"
                data = ("\n".join(kept) + "\n").encode("utf-8")
                files[name] = self.files.add(f"{batch.data['id']}_{suffix}.jsonl", "batch_output", data)["id"]
        total = usage["input_tokens"] + usage["output_tokens"]
        done = {"usage": {"input_tokens": usage["input_tokens"], "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens": usage["output_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
                          "total_tokens": total}, **files}
        if cancelled:
            self._update(batch, status="cancelled", cancelled_at=now(), **done)
        else:
            self._update(batch, status="completed", completed_at=now(), **done)

    def _status(self, batch: Batch) -> str:
        with self._lock:
            return batch.data["status"]

    def _shutting_down(self, batch: Batch) -> bool:
        """Stopped, but not by a cancel: the server is going away."""
        return batch.stop.is_set() and self._status(batch) != "cancelling"

    def _ask(self, batch: Batch, body: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
        """(status code, response body) of one line; (None, {}) when the batch must stop first."""
        for attempt in range(_MAX_WAITS_429):
            try:
                return 200, self.answer(body)
            except ApiError as error:
                if error.status != 429 or error.headers.get("x-should-retry") == "false":
                    return error.status, error.body()
                delay = _retry_after(error.headers)
            except Exception as exc:  # noqa: BLE001 - a line the chat code cannot answer is a 500 line
                return 500, ApiError(500, f"The server had an error while processing your request ({exc}).",
                                     type="server_error").body()
            if batch.stop.wait(min(delay, 1.0 + attempt * 0.1)):
                return None, {}
        return 429, ApiError(429, "Rate limit reached while processing the batch.", type="requests",
                             code="rate_limit_exceeded").body()


def _retry_after(headers: Mapping[str, str]) -> float:
    for key, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.01, float(headers[key]) * scale)
        except (KeyError, ValueError):
            continue
    return 0.1
