"""Fine-tuning jobs: validating_files → queued → running (⇄ paused) → succeeded/failed/cancelled, in
real time.

Each job runs in a daemon thread. Phases take shares of `job_seconds`; training itself is real
(see `training.py`), its steps paced over the running phase; time spent paused does not count.
"""

from __future__ import annotations

import base64
import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from distill_tui.offline import odd_jobs
from distill_tui.offline.common import (
    ApiError,
    OfflineOptions,
    cursor_page,
    new_id,
    now,
    query_metadata,
)
from distill_tui.offline.files import FileStore
from distill_tui.offline.job_request import job_request
from distill_tui.offline.models import ModelRegistry, root_model
from distill_tui.offline.state import StateStore
from distill_tui.offline.training import (
    FileProblem,
    TrainingData,
    auto_batch_size,
    auto_epochs,
    read_examples,
    train_steps,
)

TERMINAL = {"succeeded", "failed", "cancelled"}
_AUTO_LEARNING_RATE = 1.0
_KEPT_CHECKPOINTS = 3  # OpenAI keeps the checkpoints of the last 3 epochs
# Shares of job_seconds at which each phase ends.
_VALIDATED, _STARTED, _TRAINED = 0.15, 0.3, 0.9


@dataclass
class Job:
    data: dict[str, Any]
    hyper: dict[str, Any]
    events: list[dict] = field(default_factory=list)
    checkpoints: list[dict] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    order: int = field(default_factory=time.time_ns)
    resume_step: int = 0  # steps already reported before a restart
    saved_at: float = 0.0
    running: threading.Event = field(default_factory=threading.Event)  # clear while paused
    remaining_s: float | None = None  # time left when paused, to estimate the finish on resume

    def __post_init__(self) -> None:
        if self.data.get("status") != "paused":
            self.running.set()


class JobManager:
    """The fine-tuning jobs of one server."""

    def __init__(self, options: OfflineOptions, files: FileStore, registry: ModelRegistry,
                 state: StateStore | None = None) -> None:
        self.options = options
        self.files = files
        self.registry = registry
        self._state = state
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        for record in state.jobs() if state else ():
            job = Job(record["data"], record["hyper"], record.get("events", []), record.get("checkpoints", []),
                      order=record.get("order", 0))
            job.resume_step = max((e["data"].get("step", 0) for e in job.events if e.get("type") == "metrics"),
                                  default=0)
            self._jobs[job.data["id"]] = job
            if job.data["status"] not in TERMINAL:
                self._start(job)

    # --- API ------------------------------------------------------------------------------------
    def create(self, body: Any) -> dict[str, Any]:
        data, hyper = job_request(body, self.options, self.files, self.registry)
        job = Job(data, hyper)
        with self._lock:
            self._jobs[data["id"]] = job
        training_file, validation_file = data["training_file"], data["validation_file"]
        self._event(job, f"Validating training file: {training_file}"
                    + (f" and validation file: {validation_file}" if validation_file else ""))
        self._persist(job)
        self._start(job)
        return self._public(job)

    def _start(self, job: Job) -> None:
        job.thread = threading.Thread(target=self._run, args=(job,), name=f"offline-{job.data['id']}", daemon=True)
        job.thread.start()

    def retrieve(self, job_id: str) -> dict[str, Any]:
        return self._public(self._get(job_id))

    def list(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        wanted = query_metadata(query)
        with self._lock:
            jobs = list(self._jobs.values())
        items = [self._public(j) for j in reversed(jobs)
                 if all((j.data["metadata"] or {}).get(k) == v for k, v in wanted.items())]
        return cursor_page(items, query)

    def events(self, job_id: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
        job = self._get(job_id)
        with self._lock:
            items = copy.deepcopy(list(reversed(job.events)))
        return cursor_page([odd_jobs.event(e) for e in items] if self.options.odd_jobs else items, query)

    def checkpoints(self, job_id: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
        job = self._get(job_id)
        with self._lock:
            items = copy.deepcopy(list(reversed(job.checkpoints)))
        return cursor_page([odd_jobs.checkpoint(c) for c in items] if self.options.odd_jobs else items, query)

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self._get(job_id)
        with self._lock:
            status = job.data["status"]
            if status in TERMINAL:
                raise ApiError(400, f"Job {job_id} has already {'been ' if status == 'cancelled' else ''}{status}; "
                               "it cannot be cancelled.")
            job.data.update(status="cancelled", finished_at=now(), estimated_finish=None)
        job.stop.set()
        self._event(job, "Fine-tuning job cancelled")
        self._persist(job)
        return self._public(job)

    def pause(self, job_id: str) -> dict[str, Any]:
        job = self._get(job_id)
        with self._lock:
            status = job.data["status"]
            if status != "running":
                raise ApiError(400, f"Job {job_id} is {status}; only a running job can be paused.")
            finish = job.data.get("estimated_finish")
            job.remaining_s = max(0.0, finish - time.time()) if finish else None
            job.running.clear()
            job.data.update(status="paused", estimated_finish=None)
        self._event(job, "Fine-tuning job paused")
        self._persist(job)
        return self._public(job)

    def resume(self, job_id: str) -> dict[str, Any]:
        job = self._get(job_id)
        with self._lock:
            status = job.data["status"]
            if status != "paused":
                raise ApiError(400, f"Job {job_id} is {status}; only a paused job can be resumed.")
            remaining = job.remaining_s
            if remaining is None:  # paused before a restart of the server
                remaining = self.options.job_seconds * (1 - _STARTED)
            job.data.update(status="running", estimated_finish=int(time.time() + remaining))
            job.running.set()
        self._event(job, "Fine-tuning job resumed")
        self._persist(job)
        return self._public(job)

    def shutdown(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.stop.set()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout=2)
            if job.data["status"] not in TERMINAL:
                self._persist(job)  # what it reported so far, so a restart resumes right there

    # --- internals ------------------------------------------------------------------------------
    def _get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"Could not find fine-tune: {job_id}", param="fine_tune_id", code="fine_tune_not_found")
        return job

    def _public(self, job: Job) -> dict[str, Any]:
        with self._lock:
            data = copy.deepcopy(job.data)
        return odd_jobs.job(data) if self.options.odd_jobs else data

    def _event(self, job: Job, message: str, *, level: str = "info", kind: str = "message",
               data: dict | None = None, once: bool = False) -> None:
        event = {"id": new_id("ftevent-", 24), "object": "fine_tuning.job.event", "created_at": now(),
                 "level": level, "message": message, "data": data or {}, "type": kind}
        with self._lock:
            # A job resumed after a restart passes its earlier milestones again: report them once.
            if not (once and any(e["message"] == message for e in job.events)):
                job.events.append(event)

    def _persist(self, job: Job, *, every: float = 0.0) -> None:
        """Write the job to the state folder (at most once per `every` seconds)."""
        if self._state is None or time.monotonic() - job.saved_at < every:
            return
        job.saved_at = time.monotonic()
        with self._lock:
            record = copy.deepcopy({"data": job.data, "hyper": job.hyper, "events": job.events,
                                    "checkpoints": job.checkpoints, "order": job.order})
        self._state.save_job(record)

    def _set(self, job: Job, **changes: Any) -> bool:
        """Update a job unless it was cancelled meanwhile; False when it was."""
        with self._lock:
            if job.data["status"] == "cancelled":
                return False
            job.data.update(changes)
        self._persist(job)
        return True

    def _fail(self, job: Job, code: str, message: str, param: str | None) -> None:
        if self._set(job, status="failed", finished_at=now(), estimated_finish=None,
                     error={"code": code, "message": message, "param": param}):
            self._event(job, message, level="error")
            self._persist(job)

    def _run(self, job: Job) -> None:
        try:
            self._work(job)
        except Exception as exc:  # a bug here must fail the job, not leave it running forever
            self._fail(job, "internal_error", f"The offline provider failed while training: {exc}", None)

    def _work(self, job: Job) -> None:
        span = max(0.0, self.options.job_seconds)
        # A resumed job does not wait again for the phases it had already passed.
        passed = {"queued": _VALIDATED, "running": _STARTED, "paused": _STARTED}.get(job.data["status"], 0.0)
        start = time.monotonic() - span * passed

        def wait_until(share: float) -> bool:
            return not job.stop.wait(max(0.0, start + span * share - time.monotonic()))

        def hold() -> float | None:
            """Wait while the job is paused: the seconds waited, None when it was cancelled meanwhile."""
            began = time.monotonic()
            while not job.running.wait(0.1):
                if job.stop.is_set():
                    return None
            return time.monotonic() - began

        model_name = job.data["model"]
        try:
            train = self._read(job.data["training_file"], model_name, "Training")
        except FileProblem as problem:
            if wait_until(_VALIDATED):
                self._fail(job, "invalid_training_file", str(problem), "training_file")
            return
        valid = None
        if job.data["validation_file"]:
            try:
                valid = self._read(job.data["validation_file"], model_name, "Validation")
            except FileProblem as problem:
                if wait_until(_VALIDATED):
                    self._fail(job, "invalid_validation_file", str(problem), "validation_file")
                return
        if not wait_until(_VALIDATED):
            return
        if job.data["status"] == "validating_files" and not self._set(job, status="queued"):
            return
        self._event(job, "Files validated, moving job to queued state", once=True)
        n = len(train.examples)
        hyper = job.hyper
        epochs = auto_epochs(n) if hyper["n_epochs"] == "auto" else hyper["n_epochs"]
        batch = auto_batch_size(n) if hyper["batch_size"] == "auto" else hyper["batch_size"]
        rate = _AUTO_LEARNING_RATE if hyper["learning_rate_multiplier"] == "auto" else hyper["learning_rate_multiplier"]
        resolved = {"n_epochs": epochs, "batch_size": batch, "learning_rate_multiplier": rate}
        if not wait_until(_STARTED):
            return
        if hold() is None:  # a job paused before a server restart stays paused
            return
        if not self._set(job, status="running", hyperparameters=dict(resolved),
                         method={"type": "supervised", "supervised": {"hyperparameters": dict(resolved)}},
                         estimated_finish=int(time.time() + span * (1 - _STARTED))):
            return
        self._event(job, "Fine-tuning job started", once=True)
        base = self.registry.entry(model_name)
        if base is None:
            self._fail(job, "model_not_available", f"The base model {model_name} no longer exists.", "model")
            return
        model = base.get().copy()
        suffix = job.data["user_provided_suffix"] or "distill"
        name = f"ft:{root_model(model_name)}:offline:{suffix}:{job.data['id'][-8:]}"
        run_span = span * (_TRAINED - _STARTED)
        begin = time.monotonic()
        history = []
        for step in train_steps(model, train, valid, n_epochs=epochs, batch_size=batch, learning_rate=rate,
                                seed=job.data["seed"]):
            held = hold()
            if held is None or job.stop.is_set():
                return
            begin += held
            start += held
            history.append(step.metrics)
            if step.step <= job.resume_step:  # reported before a restart; training is seeded, so it repeats
                begin = time.monotonic() - run_span * step.step / step.total
                continue
            data = dict(step.metrics)
            message = f"Step {step.step}/{step.total}: training loss={data['train_loss']:.4f}"
            if "valid_loss" in data:
                message += f", validation loss={data['valid_loss']:.4f}"
            self._event(job, message, kind="metrics", data=data)
            if step.epoch_end and step.epoch > epochs - _KEPT_CHECKPOINTS:
                self._checkpoint(job, name, step.step, data, model)
            self._persist(job, every=1.0)
            job.stop.wait(max(0.0, begin + run_span * step.step / step.total - time.monotonic()))
        held = hold()
        if held is None:
            return
        start += held
        if not wait_until(_TRAINED):
            return
        if self.options.odd_jobs and job.data["user_provided_suffix"] == odd_jobs.FAILING_SUFFIX:
            self._set(job, trained_tokens=train.tokens_per_epoch * epochs)
            self._fail(job, "training_failed", odd_jobs.MULTILINE_ERROR, None)
            return
        self.registry.add_trained(name, model)
        results = self.files.add("step_metrics.csv", "fine-tune-results", _results_file(history))
        self._event(job, f"New fine-tuned model created: {name}", once=True)
        if self._set(job, status="succeeded", fine_tuned_model=name, finished_at=now(), estimated_finish=None,
                     trained_tokens=train.tokens_per_epoch * epochs, result_files=[results["id"]]):
            self._event(job, "The job has successfully completed")
            self._persist(job)

    def _read(self, file_id: str, model: str, what: str) -> TrainingData:
        try:
            data = self.files.content(file_id)
        except ApiError:
            raise FileProblem(f"{what} file {file_id} no longer exists.") from None
        return read_examples(data, model, what)

    def _checkpoint(self, job: Job, name: str, step: int, metrics: dict, model) -> None:
        checkpoint_name = f"{name}:ckpt-step-{step}"
        self.registry.add_trained(checkpoint_name, model.copy(), listed=False)
        keys = ("step", "train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy",
                "full_valid_loss", "full_valid_mean_token_accuracy")
        checkpoint = {"id": new_id("ftckpt_", 24), "object": "fine_tuning.job.checkpoint", "created_at": now(),
                      "fine_tuned_model_checkpoint": checkpoint_name, "fine_tuning_job_id": job.data["id"],
                      "metrics": {k: metrics.get(k) for k in keys}, "step_number": step}
        with self._lock:
            job.checkpoints.append(checkpoint)
        self._event(job, f"Checkpoint created at step {step}")
        self._persist(job)


def _results_file(history: list[dict]) -> bytes:
    """The step metrics CSV, base64-encoded as OpenAI serves it."""
    lines = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
    for m in history:
        cells = [m["step"], m["train_loss"], m["train_mean_token_accuracy"], m.get("valid_loss", ""),
                 m.get("valid_mean_token_accuracy", "")]
        lines.append(",".join(str(c) for c in cells))
    return base64.b64encode(("\n".join(lines) + "\n").encode())
