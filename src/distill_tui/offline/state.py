"""Keeping the provider's state in a folder, so a restarted provider still knows its past.

Files, fine-tuning jobs (with their events and checkpoints), batches, fine-tuned models and stored
chat completions are written as they change and read back at start. Writes are atomic (temporary file
and rename), so a crash leaves the previous version. One provider at a time should use a folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator


class StateStore:
    """A folder holding the state of one offline provider.

    Layout: files/<id>.json + files/<id>.bin, jobs/<id>.json, batches/<id>.json,
    models/<sha1 of name>.json, completions.jsonl (a log of puts and deletes, replayed in order).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        for sub in ("files", "jobs", "models"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _write(self, path: Path, data: bytes) -> None:
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, path)

    def _write_json(self, path: Path, value: Any) -> None:
        self._write(path, json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

    @staticmethod
    def _read_json(path: Path) -> Any:
        try:
            return json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None  # a damaged entry is skipped rather than stopping the provider

    # --- files ----------------------------------------------------------------------------------
    def save_file(self, info: dict[str, Any], data: bytes) -> None:
        self._write(self.folder / "files" / f"{info['id']}.bin", data)
        self._write_json(self.folder / "files" / f"{info['id']}.json", info)

    def delete_file(self, file_id: str) -> None:
        for suffix in (".json", ".bin"):
            (self.folder / "files" / f"{file_id}{suffix}").unlink(missing_ok=True)

    def files(self) -> Iterator[tuple[dict[str, Any], bytes]]:
        """Stored files, oldest first."""
        found = []
        for path in (self.folder / "files").glob("*.json"):
            info = self._read_json(path)
            try:
                data = path.with_suffix(".bin").read_bytes()
            except OSError:
                continue
            if isinstance(info, dict) and "id" in info:
                found.append((info, data))
        yield from sorted(found, key=lambda item: (item[0].get("created_at", 0), item[0]["id"]))

    # --- jobs -----------------------------------------------------------------------------------
    def save_job(self, record: dict[str, Any]) -> None:
        self._write_json(self.folder / "jobs" / f"{record['data']['id']}.json", record)

    def jobs(self) -> list[dict[str, Any]]:
        """Stored job records ({"data", "hyper", "events", "checkpoints"}), oldest first."""
        records = [self._read_json(p) for p in (self.folder / "jobs").glob("*.json")]
        records = [r for r in records if isinstance(r, dict) and "data" in r]
        return sorted(records, key=lambda r: (r["data"].get("created_at", 0), r.get("order", 0)))

    # --- models ---------------------------------------------------------------------------------
    def _model_path(self, name: str) -> Path:
        return self.folder / "models" / f"{hashlib.sha1(name.encode()).hexdigest()}.json"

    def save_model(self, entry: dict[str, Any], learner_state: dict[str, Any]) -> None:
        self._write_json(self._model_path(entry["id"]), {"entry": entry, "learner": learner_state})

    def delete_model(self, name: str) -> None:
        self._model_path(name).unlink(missing_ok=True)

    def models(self) -> list[tuple[dict[str, Any], Path]]:
        """(entry, path) of stored models; the learner is read from `path` when first needed."""
        out = []
        for path in (self.folder / "models").glob("*.json"):
            record = self._read_json(path)
            if isinstance(record, dict) and isinstance(record.get("entry"), dict):
                out.append((record["entry"], path))
        return sorted(out, key=lambda item: (item[0].get("created", 0), item[0]["id"]))

    @staticmethod
    def model_learner(path: Path) -> dict[str, Any]:
        return json.loads(path.read_text("utf-8"))["learner"]

    # --- stored chat completions ----------------------------------------------------------------
    def log_completion(self, op: str, completion_id: str, record: dict[str, Any] | None = None) -> None:
        line = json.dumps({"op": op, "id": completion_id, "record": record}, ensure_ascii=False)
        with self._lock, open(self.folder / "completions.jsonl", "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def completions(self) -> dict[str, dict[str, Any]]:
        """Stored completions by id, in creation order, after replaying the log."""
        stored: dict[str, dict[str, Any]] = {}
        try:
            lines = (self.folder / "completions.jsonl").read_text("utf-8").splitlines()
        except OSError:
            return stored
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if entry.get("op") == "put" and isinstance(entry.get("record"), dict):
                stored[entry["id"]] = entry["record"]
            elif entry.get("op") == "delete":
                stored.pop(entry.get("id"), None)
        return stored

    # --- batches --------------------------------------------------------------------------------
    def save_batch(self, record: dict[str, Any]) -> None:
        folder = self.folder / "batches"
        folder.mkdir(exist_ok=True)
        self._write_json(folder / f"{record['data']['id']}.json", record)

    def batches(self) -> list[dict[str, Any]]:
        """Stored batch records ({"data", "order"}), oldest first."""
        records = [self._read_json(p) for p in (self.folder / "batches").glob("*.json")]
        records = [r for r in records if isinstance(r, dict) and isinstance(r.get("data"), dict)]
        return sorted(records, key=lambda r: (r.get("order", 0), r["data"].get("created_at", 0)))
