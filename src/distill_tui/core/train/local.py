"""The local trainer as a fine-tuning backend: each job is a folder (`core.common.job_folder`) and a
detached process (`python -m distill_tui.trainer FOLDER`, in its own session so it outlives the
terminal and the SSH link). Everything the screens show is read back from the folder's `events.jsonl`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill_tui.core.common.errors import UserError
from distill_tui.core.common.job_folder import (
    JOB_FILE,
    LOG_FILE,
    PAUSE_FILE,
    append_event,
    newest_checkpoint,
    read_events,
)
from distill_tui.core.train.backend import TERMINAL, JobRequest, JobSnapshot

if TYPE_CHECKING:
    from distill_tui.core.task.spec import FinetuneSpec
    from distill_tui.core.workspace.workspace import Workspace

TRAIN_EXTRAS = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")
INSTALL = "pip install 'distill-tui[train]'"
AUTO_EPOCHS, AUTO_BATCH_SIZE = 3, 8
"""What "auto" means for the local trainer (a practitioner's defaults for a small task)."""
CONTROL_WAIT_S = 10.0
"""How long cancel and pause wait for the trainer to stop at its next step before answering."""

_children: dict[int, subprocess.Popen] = {}
"""Trainer processes started by this process, so their exit is reaped (no zombie reads as alive)."""


def missing_extras() -> list[str]:
    """The training libraries not installed (found without importing them)."""
    import importlib.util

    return [name for name in TRAIN_EXTRAS if importlib.util.find_spec(name) is None]


def require_extras() -> None:
    """Raises UserError naming what to install when a training library is missing."""
    missing = missing_extras()
    if missing:
        raise UserError(f"local training needs {', '.join(missing)}, not installed here: {INSTALL}")


def local_hyperparameters(ft: "FinetuneSpec", request: JobRequest) -> dict[str, Any]:
    """The trainer's settings from the spec's [finetune] (epochs and batch size from the request)."""
    epochs = AUTO_EPOCHS if request.n_epochs == "auto" else int(request.n_epochs)
    batch = AUTO_BATCH_SIZE if request.batch_size == "auto" else int(request.batch_size)
    keys = ("method", "lora_r", "lora_alpha", "lora_dropout", "lora_targets", "max_seq_length", "packing",
            "learning_rate", "gradient_accumulation", "device", "num_gpus", "merge", "logging_steps", "save_steps",
            "accelerate_config")
    out = {key: getattr(ft, key) for key in keys}
    out.update(epochs=epochs, batch_size=batch)
    return out


def _model_problem(model: str) -> str | None:
    path = Path(model).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        return f"{path}: a folder, but not a model (no config.json): set [student] model to a folder written by " \
               "save_pretrained, or a Hugging Face model id"
    if path.exists() and not path.is_dir():
        return f"{path}: not a model folder: set [student] model to a model folder or a Hugging Face model id"
    return None


def _alive(pid: int | None, folder: Path) -> bool:
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process took the pid
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust the pid
    # A zombie has exited; a pid whose command line does not name this job was reused by another program.
    return state != b"Z" and folder.name.encode() in cmdline


def _metrics_message(event: dict[str, Any]) -> str:
    parts = [f"Step {event.get('step')}/{event.get('total_steps')}"]
    if "train_loss" in event:
        parts.append(f"training loss={event['train_loss']:.4f}")
    if "valid_loss" in event:
        parts.append(f"validation loss={event['valid_loss']:.4f}")
    return ": ".join(parts[:1]) + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "")


def _event_dict(job_id: str, number: int, event: dict[str, Any]) -> dict[str, Any]:
    """An events.jsonl line in the shape `Store.save_events` takes."""
    kind = event.get("type")
    out: dict[str, Any] = {"id": f"{job_id}-{number}", "created_at": float(event.get("time") or 0),
                           "level": "info", "type": "message", "message": None, "data": None}
    if kind == "metrics":
        data = {k: v for k, v in event.items() if k not in ("time", "type") and v is not None}
        out.update(type="metrics", message=_metrics_message(event), data=data)
    elif kind == "status":
        message = event.get("message") or ""
        out.update(message=f"{event.get('status')}: {message}" if message else str(event.get("status")),
                   level="error" if event.get("status") == "failed" else "info")
    elif kind == "error":
        out.update(level="error", message=event.get("message"))
    elif kind == "checkpoint":
        out.update(message=f"checkpoint at step {event.get('step')}: {event.get('path')}",
                   data={"step": event.get("step"), "path": event.get("path")})
    elif kind == "result":
        tokens = event.get("trained_tokens")
        out.update(message=f"adapter saved to {event.get('adapter')}"
                           + (f", merged model to {event['merged']}" if event.get("merged") else "")
                           + (f"; {tokens:,} trained tokens" if isinstance(tokens, int) else "")
                           + f"; {event.get('gpu_hours', 0)} GPU-hours",
                   data={k: v for k, v in event.items() if k not in ("time", "type")})
    else:
        out.update(message=json.dumps(event)[:500])
    return out


class LocalBackend:
    """Fine-tuning on this machine: job folders under `locations.local_jobs_dir(spec)`."""

    name = "local"

    def __init__(self, workspace: "Workspace", root: Path | None = None) -> None:
        from distill_tui import locations

        self.workspace = workspace
        self.root = Path(root) if root else locations.local_jobs_dir(workspace.spec.source)

    # --- files ---------------------------------------------------------------------------------

    def upload(self, path: Path, purpose: str = "fine-tune") -> str:
        """Nothing to upload: the trainer reads the file where it is."""
        return str(Path(path).expanduser().resolve())

    def folder(self, job_id: str) -> Path:
        folder = self.root / job_id
        if "/" in job_id or job_id in ("", ".", "..") or not (folder / JOB_FILE).is_file():
            raise UserError(f"no local job {job_id} in {self.root} (see `distill-tui jobs SPEC`)")
        return folder

    def _job(self, folder: Path) -> dict[str, Any]:
        try:
            return json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{folder / JOB_FILE}: cannot read the local job ({exc})") from None

    def _write_job(self, folder: Path, job: dict[str, Any]) -> None:
        tmp = folder / f".{JOB_FILE}.tmp"
        tmp.write_text(json.dumps(job, indent=1), encoding="utf-8")
        tmp.replace(folder / JOB_FILE)

    # --- the process ---------------------------------------------------------------------------

    def _start(self, folder: Path) -> None:
        """Start the trainer detached: its own session, output to train.log, nothing read from us."""
        job = self._job(folder)
        keys = {"OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", self.workspace.spec.provider.api_key_env}
        env = {k: v for k, v in os.environ.items() if k not in keys}  # the trainer needs no API key
        env.update(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        with open(folder / LOG_FILE, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "distill_tui.trainer", str(folder)], cwd=folder, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        _children[process.pid] = process
        job.update(pid=process.pid, started_at=time.time())
        self._write_job(folder, job)

    def create(self, request: JobRequest, training_file: str | None = None,
               validation_file: str | None = None) -> JobSnapshot:
        require_extras()
        problem = _model_problem(request.model)
        if problem:
            raise UserError(problem)
        from distill_tui.locations import make_private_dir

        job_id = f"local-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        folder = make_private_dir(self.root / job_id)
        hyper = dict(request.settings or local_hyperparameters(self.workspace.spec.finetune, request))
        if hyper.get("accelerate_config"):
            path = Path(str(hyper["accelerate_config"])).expanduser()
            hyper["accelerate_config"] = str(path if path.is_absolute() else self.workspace.spec.source.parent / path)
        job = {
            "id": job_id, "model": request.model,
            "training_path": training_file or self.upload(request.training_path),
            "validation_path": validation_file or (self.upload(request.validation_path)
                                                   if request.validation_path else None),
            "seed": request.seed, "suffix": request.suffix, "hyperparameters": hyper, "created_at": time.time(),
        }
        self._write_job(folder, job)
        append_event(folder, "status", status="queued", message="starting the trainer")
        self._start(folder)
        return self.retrieve(job_id)

    # --- reading a job -------------------------------------------------------------------------

    def retrieve(self, job_id: str) -> JobSnapshot:
        folder = self.folder(job_id)
        job = self._job(folder)
        events = read_events(folder)
        statuses = [e for e in events if e.get("type") == "status"]
        status = statuses[-1].get("status", "queued") if statuses else "queued"
        errors = [e.get("message") for e in events if e.get("type") == "error"]
        error = errors[-1] if errors and status == "failed" else None
        finished_at = statuses[-1].get("time") if statuses and status in TERMINAL else None
        if status in ("queued", "running") and not _alive(job.get("pid"), folder):
            status, finished_at = "failed", None
            error = f"the trainer stopped: see {folder / LOG_FILE} (resume continues from the newest checkpoint)"
        results = [e for e in events if e.get("type") == "result"]
        result = results[-1] if results and status == "succeeded" else {}
        fine_tuned = result.get("merged") or result.get("adapter")
        extra = {"job_folder": str(folder), "log": str(folder / LOG_FILE)}
        for key in ("gpu_hours", "gpus", "device", "wall_hours"):
            if key in result:
                extra[key] = result[key]
        if result and not result.get("gpus"):
            extra["cpu_hours" if result.get("device") == "cpu" else "device_hours"] = result.get("wall_hours")
        return JobSnapshot(
            id=job_id, status=status, model=str(job.get("model") or ""), fine_tuned_model=fine_tuned,
            training_file=job.get("training_path"), validation_file=job.get("validation_path"),
            trained_tokens=result.get("trained_tokens"), error=error, created_at=job.get("created_at"),
            finished_at=finished_at, estimated_finish=_eta(events) if status == "running" else None,
            hyperparameters=job.get("hyperparameters"), suffix=job.get("suffix"), seed=job.get("seed"),
            extra=extra,
        )

    def events(self, job_id: str, after: str | None = None) -> list[dict[str, Any]]:
        """The job's events oldest first (after the event `after` when given)."""
        out = [_event_dict(job_id, n, e) for n, e in enumerate(read_events(self.folder(job_id)))]
        ids = [e["id"] for e in out]
        return out[ids.index(after) + 1:] if after in ids else out

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        """The checkpoints still on disk, with the training loss logged nearest before each."""
        events = read_events(self.folder(job_id))
        out, loss = {}, None
        for event in events:
            if event.get("type") == "metrics" and "train_loss" in event:
                loss = event["train_loss"]
            if event.get("type") == "checkpoint" and Path(str(event.get("path"))).is_dir():
                out[event.get("step")] = {
                    "id": f"{job_id}-checkpoint-{event.get('step')}", "step": event.get("step"),
                    "model_name": event.get("path"), "metrics": {"train_loss": loss} if loss is not None else None,
                    "created_at": event.get("time"),
                }
        return list(out.values())

    def list_jobs(self, limit: int = 50) -> list[JobSnapshot]:
        if not self.root.is_dir():
            return []
        ids = sorted((p.name for p in self.root.iterdir() if (p / JOB_FILE).is_file()), reverse=True)
        return [self.retrieve(job_id) for job_id in ids[:limit]]

    # --- control -------------------------------------------------------------------------------

    def _wait_for(self, job_id: str, statuses: tuple[str, ...]) -> JobSnapshot:
        deadline = time.monotonic() + CONTROL_WAIT_S
        while True:
            snapshot = self.retrieve(job_id)
            if snapshot.status in statuses or time.monotonic() > deadline:
                return snapshot
            time.sleep(0.2)

    def cancel(self, job_id: str) -> JobSnapshot:
        """SIGTERM to the trainer, which stops at its next step (status cancelled); a stopped job
        (paused, or its process gone) is marked cancelled at once."""
        snapshot = self.retrieve(job_id)
        if snapshot.status in TERMINAL and snapshot.status != "failed":
            raise UserError(f"job {job_id} already {snapshot.status}: nothing to cancel")
        folder = self.folder(job_id)
        pid, was = self._job(folder).get("pid"), snapshot.status
        if was in ("queued", "running") and _alive(pid, folder):
            os.kill(pid, signal.SIGTERM)
            snapshot = self._wait_for(job_id, ("cancelled", *TERMINAL))
            if snapshot.status != "failed" or _alive(pid, folder):
                return snapshot
            # Killed by the signal before its handler was set (still starting): cancelled all the same.
        append_event(folder, "status", status="cancelled", message=f"cancelled while {was}")
        return self.retrieve(job_id)

    def pause(self, job_id: str) -> JobSnapshot:
        """Ask the trainer to save a checkpoint at its next step and stop (status paused)."""
        snapshot = self.retrieve(job_id)
        if snapshot.status not in ("queued", "running"):
            raise UserError(f"job {job_id} is {snapshot.status}, not running: nothing to pause")
        folder = self.folder(job_id)
        (folder / PAUSE_FILE).touch()
        return self._wait_for(job_id, ("paused", *TERMINAL))

    def resume(self, job_id: str) -> JobSnapshot:
        """Start the trainer again; it continues from the newest checkpoint (after a pause, a crash or
        kill -9)."""
        snapshot = self.retrieve(job_id)
        if snapshot.status not in ("paused", "failed"):
            raise UserError(f"job {job_id} is {snapshot.status}: only a paused or stopped job resumes")
        require_extras()
        student = self.workspace.spec.student.model
        if student != snapshot.model:
            raise UserError(f"job {job_id} trains {snapshot.model}, but [student] model is now {student}: set it "
                            "back to resume, or start a new job")
        folder = self.folder(job_id)
        (folder / PAUSE_FILE).unlink(missing_ok=True)
        checkpoint = newest_checkpoint(folder)
        append_event(folder, "status", status="queued",
                     message=f"resuming from {checkpoint.name}" if checkpoint else "restarting (no checkpoint yet)")
        self._start(folder)
        return self.retrieve(job_id)


def _eta(events: list[dict[str, Any]]) -> float | None:
    """When the running job should end, from the steps of its current run so far."""
    start = max((i for i, e in enumerate(events) if e.get("type") == "status" and e.get("status") == "queued"),
                default=-1)
    points = [(e["time"], e["step"], e.get("total_steps")) for e in events[start + 1:]
              if e.get("type") == "metrics" and "train_loss" in e and isinstance(e.get("step"), int)]
    if len(points) < 2:
        return None
    (t0, s0, _), (t1, s1, total) = points[0], points[-1]
    if not isinstance(total, int) or s1 <= s0 or t1 <= t0:
        return None
    return t1 + (total - s1) * (t1 - t0) / (s1 - s0)
