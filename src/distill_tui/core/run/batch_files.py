"""Batch API files: the input lines of row requests, and the output and error lines read back.

A line's `custom_id` is `row-<row_id>-<prompt_hash>`: the same key the engine saves answers under,
so a result can only ever land on the row and prompt it was asked for. Output order is not
guaranteed, so results are joined on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Iterable, Iterator

if TYPE_CHECKING:
    from distill_tui.core.task.requests import RowRequest

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS = 50_000
MAX_BYTES = 190 * 1024 * 1024
"""Under the Batch API's 200 MB per input file, leaving room for however the provider counts."""


def custom_id(row_id: int, prompt_hash: str) -> str:
    """The `custom_id` of a row's request."""
    return f"row-{row_id}-{prompt_hash}"


def parse_custom_id(text: str) -> tuple[int, str] | None:
    """(row_id, prompt_hash) of a `custom_id` made by `custom_id`; None for any other."""
    prefix, _, rest = text.partition("-")
    row, _, digest = rest.partition("-")
    if prefix != "row" or not digest:
        return None
    try:
        return int(row), digest
    except ValueError:
        return None


def batch_line(req: "RowRequest") -> bytes:
    """One input line: exactly the body the threaded engine sends for this row."""
    line = {"custom_id": custom_id(req.row_id, req.prompt_hash), "method": "POST", "url": ENDPOINT, "body": req.body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Chunk:
    """The requests of one input file and the file's content."""

    reqs: list["RowRequest"] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)
    size: int = 0

    @property
    def content(self) -> bytes:
        return b"\n".join(self.lines) + b"\n"


def chunks(
    reqs: Iterable["RowRequest"], *, max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES
) -> Iterator[Chunk]:
    """Input files of at most `max_requests` lines and `max_bytes` bytes each, in row order."""
    chunk = Chunk()
    for req in reqs:
        line = batch_line(req)
        if chunk.lines and (len(chunk.lines) >= max_requests or chunk.size + len(line) + 1 > max_bytes):
            yield chunk
            chunk = Chunk()
        chunk.reqs.append(req)
        chunk.lines.append(line)
        chunk.size += len(line) + 1
    if chunk.lines:
        yield chunk


def _succeeded(line: dict[str, Any]) -> bool:
    response = line.get("response")
    return (isinstance(response, dict) and isinstance(response.get("body"), dict)
            and 200 <= int(response.get("status_code") or 0) < 300 and not line.get("error"))


def read_results(texts: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Output and error file lines by `custom_id`; a successful line wins over an error for the same id."""
    found: dict[str, dict[str, Any]] = {}
    for text in texts:
        for raw in text.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # not a result line: nothing can be joined on it
            if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
                continue
            key = line["custom_id"]
            if key not in found or (_succeeded(line) and not _succeeded(found[key])):
                found[key] = line
    return found


def line_error(line: dict[str, Any]) -> str | None:
    """One line saying why a result line failed; None when it holds an answer."""
    if _succeeded(line):
        return None
    response = line.get("response") if isinstance(line.get("response"), dict) else {}
    error = line.get("error") if isinstance(line.get("error"), dict) else None
    body = response.get("body") if isinstance(response.get("body"), dict) else {}
    error = error or (body.get("error") if isinstance(body.get("error"), dict) else {})
    status = response.get("status_code")
    code = error.get("code")
    message = " ".join(str(error.get("message") or "no answer").split())[:300]
    where = ", ".join(str(x) for x in (status, code) if x)
    return f"batch request failed{f' ({where})' if where else ''}: {message}"


def request_id(line: dict[str, Any]) -> str | None:
    response = line.get("response")
    return response.get("request_id") if isinstance(response, dict) else None


def completion_of(line: dict[str, Any]) -> Any:
    """The chat completion of a successful line, as the SDK would have returned it."""
    body = line["response"]["body"]
    try:
        from openai.types.chat import ChatCompletion

        return ChatCompletion.model_validate(body)
    except Exception:  # noqa: BLE001 - an OpenAI-compatible server may leave out fields: read what is there
        return _namespace(body)


def _namespace(value: Any) -> Any:
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_namespace(v) for v in value]
    return value


class Headers:
    """Stands in for the raw HTTP response `AnswerRecorder.save_ok` reads the request id from."""

    def __init__(self, request_id: str | None) -> None:
        self.headers = {"x-request-id": request_id} if request_id else {}
