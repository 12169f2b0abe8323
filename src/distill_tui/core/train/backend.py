"""Fine-tuning backends: the interface the screens and commands use, and its implementation over
the OpenAI-compatible jobs API (OpenAI, Azure OpenAI through `AzureOpenAI`, the offline provider, any
compatible base_url). The local trainer's implementation is `local.LocalBackend`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from distill_tui.core.provider.values import as_int, as_metrics, as_text, as_time

if TYPE_CHECKING:
    from distill_tui.core.workspace.workspace import Workspace

TERMINAL = ("succeeded", "failed", "cancelled")
STATUSES = ("validating_files", "queued", "running", *TERMINAL)
NO_EXPORT = "no exported training file: run `distill-tui export SPEC -o FILE` or press e on the Curate screen"


@dataclass
class JobRequest:
    """What to train: the base model, the local JSONL files and the supervised hyperparameters."""

    model: str
    training_path: Path
    validation_path: Path | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] | None = None
    n_epochs: int | str = "auto"
    batch_size: int | str = "auto"
    learning_rate_multiplier: float | str = "auto"
    settings: dict[str, Any] | None = None
    """The local trainer's settings (method, LoRA, learning rate, …; `local.local_hyperparameters`)."""

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
        }


@dataclass
class JobSnapshot:
    """A job as the provider describes it at one moment (times are unix seconds)."""

    id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    training_file: str | None = None
    validation_file: str | None = None
    trained_tokens: int | None = None
    error: str | None = None
    error_code: str | None = None
    error_param: str | None = None
    created_at: float | None = None
    finished_at: float | None = None
    estimated_finish: float | None = None
    hyperparameters: dict[str, Any] | None = None
    suffix: str | None = None
    seed: int | None = None
    metadata: dict[str, str] | None = None
    result_files: list[str] = field(default_factory=list)
    extra: dict[str, Any] | None = None
    """Backend facts kept in the job record's data (local: gpu_hours, cpu_hours, job_folder, log)."""

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


class FineTuneBackend(Protocol):
    """A place that trains models: the OpenAI-compatible jobs API now, a local trainer later.

    Events and checkpoints are plain dicts in the shapes `Store.save_events` and
    `Store.save_checkpoints` take.
    """

    name: str

    def upload(self, path: Path, purpose: str = "fine-tune") -> str: ...

    def create(
        self, request: JobRequest, training_file: str | None = None, validation_file: str | None = None
    ) -> JobSnapshot:
        """Create the job; files not uploaded yet (ids None) are uploaded from the request's paths."""
        ...

    def retrieve(self, job_id: str) -> JobSnapshot: ...

    def events(self, job_id: str, after: str | None = None) -> list[dict[str, Any]]: ...

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]: ...

    def cancel(self, job_id: str) -> JobSnapshot: ...

    def pause(self, job_id: str) -> JobSnapshot: ...

    def resume(self, job_id: str) -> JobSnapshot: ...

    def list_jobs(self, limit: int = 50) -> list[JobSnapshot]: ...


def field_of(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a provider object (an SDK model, its extra fields, or a plain dict), else `default`."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    value = getattr(obj, name, default)
    if value is default and getattr(obj, "model_extra", None):
        value = obj.model_extra.get(name, default)
    return value


def _plain(obj: Any) -> Any:
    if obj is None or isinstance(obj, (str, int, float, bool, list, dict)):
        return obj
    dump = getattr(obj, "model_dump", None)
    # warnings=False: a provider's text where the SDK's model expects a number is read, not warned about
    return dump(exclude_none=True, warnings=False) if dump else obj


def snapshot_from(job: Any) -> JobSnapshot:
    """A `JobSnapshot` from an SDK `FineTuningJob` (or the same data as a dict).

    Whatever the provider sent, each field comes out in its type or None (`core.provider.values`): text
    where a number belongs never reaches a format string, and provider text is one line.
    """
    error = field_of(job, "error")
    hyper = _plain(field_of(job, "hyperparameters"))
    method = _plain(field_of(job, "method")) or {}
    if not hyper and isinstance(method, dict):
        supervised = method.get("supervised")
        hyper = (supervised.get("hyperparameters") if isinstance(supervised, dict) else None) or None
    metadata = _plain(field_of(job, "metadata"))
    files = field_of(job, "result_files")
    return JobSnapshot(
        id=str(field_of(job, "id")),
        status=as_text(field_of(job, "status"), 40) or "unknown",
        model=as_text(field_of(job, "model"), 200) or "",
        fine_tuned_model=as_text(field_of(job, "fine_tuned_model"), 200),
        training_file=as_text(field_of(job, "training_file"), 200),
        validation_file=as_text(field_of(job, "validation_file"), 200),
        trained_tokens=as_int(field_of(job, "trained_tokens")),
        error=as_text(field_of(error, "message") if error else None) or (as_text(error) if isinstance(error, str) else None),
        error_code=as_text(field_of(error, "code"), 100) if isinstance(error, dict) or hasattr(error, "code") else None,
        error_param=as_text(field_of(error, "param"), 100) if isinstance(error, dict) or hasattr(error, "param") else None,
        created_at=as_time(field_of(job, "created_at")),
        finished_at=as_time(field_of(job, "finished_at")),
        estimated_finish=as_time(field_of(job, "estimated_finish")),
        hyperparameters=hyper if isinstance(hyper, dict) and hyper else None,
        suffix=as_text(field_of(job, "user_provided_suffix") or field_of(job, "suffix"), 100),
        seed=as_int(field_of(job, "seed")),
        metadata=metadata if isinstance(metadata, dict) and metadata else None,
        result_files=[str(f) for f in files] if isinstance(files, list) else [],
    )


def _event_dict(event: Any) -> dict[str, Any]:
    kind = as_text(field_of(event, "type"), 40)
    data = _plain(field_of(event, "data"))
    return {
        "id": str(field_of(event, "id")),
        "created_at": as_time(field_of(event, "created_at")) or 0,
        "level": as_text(field_of(event, "level"), 20),
        "type": kind,
        "message": as_text(field_of(event, "message")),
        "data": as_metrics(data) if kind == "metrics" else (data if isinstance(data, dict) else None),
    }


def _checkpoint_dict(ckpt: Any) -> dict[str, Any]:
    return {
        "id": str(field_of(ckpt, "id")),
        "step": as_int(field_of(ckpt, "step_number")),
        "model_name": as_text(field_of(ckpt, "fine_tuned_model_checkpoint"), 300),
        "metrics": as_metrics(_plain(field_of(ckpt, "metrics"))),
        "created_at": as_time(field_of(ckpt, "created_at")),
    }


class OpenAIJobsBackend:
    """The fine-tuning jobs API through the `openai` SDK (OpenAI, Azure OpenAI, offline, compatible)."""

    def __init__(self, client: Any, name: str = "openai") -> None:
        self.client = client
        self.name = name

    def upload(self, path: Path, purpose: str = "fine-tune") -> str:
        with open(path, "rb") as handle:
            return self.client.files.create(file=(Path(path).name, handle), purpose=purpose).id

    def create(
        self, request: JobRequest, training_file: str | None = None, validation_file: str | None = None
    ) -> JobSnapshot:
        if training_file is None:
            training_file = self.upload(Path(request.training_path))
        if validation_file is None and request.validation_path:
            validation_file = self.upload(Path(request.validation_path))
        kwargs: dict[str, Any] = {
            "model": request.model,
            "training_file": training_file,
            "method": {"type": "supervised", "supervised": {"hyperparameters": request.hyperparameters()}},
        }
        for key, value in (("validation_file", validation_file), ("suffix", request.suffix),
                           ("seed", request.seed), ("metadata", request.metadata)):
            if value is not None:
                kwargs[key] = value
        return snapshot_from(self.client.fine_tuning.jobs.create(**kwargs))

    def retrieve(self, job_id: str) -> JobSnapshot:
        return snapshot_from(self.client.fine_tuning.jobs.retrieve(job_id))

    def events(self, job_id: str, after: str | None = None) -> list[dict[str, Any]]:
        """Events newer than the event `after` (all when None), oldest first."""
        jobs = self.client.fine_tuning.jobs
        page = jobs.list_events(job_id, limit=100)
        items = [_event_dict(e) for e in page.data]
        times = [e["created_at"] for e in items]
        if len(set(times)) > 1 and times == sorted(times):
            # Oldest first (not OpenAI's order): `after` is then a cursor that gives what is newer.
            if after is not None:
                page = jobs.list_events(job_id, after=after, limit=100)
                items = [_event_dict(e) for e in page.data]
            out = list(items)
            while page.has_next_page():
                page = page.get_next_page()
                out += [_event_dict(e) for e in page.data]
            return [e for e in out if e["id"] != after]
        # Newest first (OpenAI): page back until the last event already seen.
        out = []
        while True:
            ids = [e["id"] for e in items]
            if after in ids:
                out += items[: ids.index(after)]
                break
            out += items
            if not page.has_next_page():
                break
            page = page.get_next_page()
            items = [_event_dict(e) for e in page.data]
        out.reverse()  # the provider's order, not a sort: many events share one second
        return out

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        return [_checkpoint_dict(c) for c in self.client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)]

    def cancel(self, job_id: str) -> JobSnapshot:
        return snapshot_from(self.client.fine_tuning.jobs.cancel(job_id))

    def pause(self, job_id: str) -> JobSnapshot:
        return snapshot_from(self.client.fine_tuning.jobs.pause(job_id))

    def resume(self, job_id: str) -> JobSnapshot:
        return snapshot_from(self.client.fine_tuning.jobs.resume(job_id))

    def list_jobs(self, limit: int = 50) -> list[JobSnapshot]:
        return [snapshot_from(j) for j in self.client.fine_tuning.jobs.list(limit=limit).data]


def backend_name(workspace: "Workspace") -> str:
    """"local", "offline", "azure", "openai", or "compatible" (another OpenAI-compatible base_url)."""
    from distill_tui.core.provider.clients import is_openai, resolve_base_url

    if workspace.spec.finetune.backend == "local":
        return "local"
    if workspace.offline:
        return "offline"
    if workspace.spec.provider.kind == "azure":
        return "azure"
    url = workspace.base_url or workspace.spec.provider.base_url or ""
    if not url:
        url = resolve_base_url(workspace.spec, None) or ""
    return "openai" if is_openai(url) else "compatible"


def backend_label(workspace: "Workspace") -> str:
    """Where a job of this workspace trains, in words ("OpenAI", "the offline provider", …)."""
    name = backend_name(workspace)
    if name == "compatible":
        from distill_tui.core.workspace.workspace import provider_url

        return f"the OpenAI-compatible endpoint {provider_url(workspace)}"
    return {"local": "this machine (the local trainer)", "offline": "the offline provider", "azure": "Azure OpenAI",
            "openai": "OpenAI"}[name]
