"""Uploaded files: multipart parsing and an in-memory store with OpenAI's FileObject shape."""

from __future__ import annotations

import threading
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Mapping

from distill_tui.offline.common import ApiError, cursor_page, new_id, now, query_value
from distill_tui.offline.state import StateStore

PURPOSES = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data body: name -> (filename or None, content)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "Expected a multipart/form-data body.")
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ApiError(400, "Could not parse the multipart body.")
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return parts


class FileStore:
    """Uploaded files, in memory (and in the state folder when there is one)."""

    def __init__(self, state: StateStore | None = None) -> None:
        self._lock = threading.Lock()
        self._state = state
        self._files: dict[str, dict[str, Any]] = {}
        self._content: dict[str, bytes] = {}
        for info, data in state.files() if state else ():
            self._files[info["id"]] = info
            self._content[info["id"]] = data

    def add(self, filename: str, purpose: str, data: bytes) -> dict[str, Any]:
        info = {"id": new_id("file-", 22), "object": "file", "bytes": len(data), "created_at": now(),
                "filename": filename, "purpose": purpose, "status": "processed", "expires_at": None,
                "status_details": None}
        if self._state:
            self._state.save_file(info, data)
        with self._lock:
            self._files[info["id"]] = info
            self._content[info["id"]] = data
        return info

    def upload(self, content_type: str, body: bytes) -> dict[str, Any]:
        """Handle POST /v1/files."""
        parts = parse_multipart(content_type, body)
        purpose = parts.get("purpose", (None, b""))[1].decode("utf-8", "replace").strip()
        if not purpose:
            raise ApiError(400, "Missing required parameter: 'purpose'.", param="purpose", code="missing_required_parameter")
        if purpose not in PURPOSES:
            raise ApiError(400, f"Invalid value for 'purpose': '{purpose}'. Expected one of "
                           f"{', '.join(sorted(PURPOSES))}.", param="purpose")
        if "file" not in parts:
            raise ApiError(400, "Missing required parameter: 'file'.", param="file", code="missing_required_parameter")
        filename, data = parts["file"]
        filename = filename or "upload"
        if purpose == "fine-tune" and not filename.endswith(".jsonl"):
            raise ApiError(400, f"Invalid file format for Fine-Tuning API. Must be .jsonl (got '{filename}').",
                           param="file")
        return self.add(filename, purpose, data)

    def get(self, file_id: str) -> dict[str, Any]:
        with self._lock:
            info = self._files.get(file_id)
        if info is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id", code="not_found")
        return info

    def content(self, file_id: str) -> bytes:
        self.get(file_id)
        with self._lock:
            return self._content[file_id]

    def list(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        purpose = query_value(query, "purpose")
        with self._lock:
            items = [f for f in self._files.values() if purpose is None or f["purpose"] == purpose]
        if (query_value(query, "order") or "desc") == "desc":
            items.reverse()
        return cursor_page(items, query)

    def delete(self, file_id: str) -> dict[str, Any]:
        self.get(file_id)
        with self._lock:
            self._files.pop(file_id, None)
            self._content.pop(file_id, None)
        if self._state:
            self._state.delete_file(file_id)
        return {"id": file_id, "object": "file", "deleted": True}
