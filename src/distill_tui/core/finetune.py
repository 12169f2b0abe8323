"""Fine-tuning jobs: the pluggable backend, the cost estimate, and creating a job.

The backend interface is what the screens and commands use; today one class implements it over the
OpenAI-compatible jobs API (OpenAI, Azure OpenAI through `AzureOpenAI`, the offline provider, any
compatible base_url). A local trainer can implement the same interface later.

Following a job (polling, events, checkpoints, reattaching) lives in `finetune_follow`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from distill_tui.core.errors import UserError, WorkFailed
from distill_tui.core.finetune_errors import (  # noqa: F401  (re-exported: the public API lives here)
    ALTERNATIVES,
    JobFailed,
    ModelUnavailable,
    Stranded,
    TrainingClosed,
)
from distill_tui.core.store import JobRecord

if TYPE_CHECKING:
    from distill_tui.core.pricing import PriceTable
    from distill_tui.core.workspace import Workspace

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

    def list_jobs(self, limit: int = 50) -> list[JobSnapshot]: ...


def _get(obj: Any, name: str, default: Any = None) -> Any:
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
    return dump(exclude_none=True) if dump else obj


def snapshot_from(job: Any) -> JobSnapshot:
    """A `JobSnapshot` from an SDK `FineTuningJob` (or the same data as a dict)."""
    error = _get(job, "error")
    hyper = _plain(_get(job, "hyperparameters"))
    method = _plain(_get(job, "method")) or {}
    if not hyper and isinstance(method, dict):
        hyper = ((method.get("supervised") or {}).get("hyperparameters")) or None
    return JobSnapshot(
        id=_get(job, "id"),
        status=_get(job, "status") or "unknown",
        model=_get(job, "model") or "",
        fine_tuned_model=_get(job, "fine_tuned_model"),
        training_file=_get(job, "training_file"),
        validation_file=_get(job, "validation_file"),
        trained_tokens=_get(job, "trained_tokens"),
        error=(_get(error, "message") or None) if error else None,
        error_code=_get(error, "code") if error else None,
        error_param=_get(error, "param") if error else None,
        created_at=_get(job, "created_at"),
        finished_at=_get(job, "finished_at"),
        estimated_finish=_get(job, "estimated_finish"),
        hyperparameters=hyper or None,
        suffix=_get(job, "user_provided_suffix") or _get(job, "suffix"),
        seed=_get(job, "seed"),
        metadata=_plain(_get(job, "metadata")) or None,
        result_files=list(_get(job, "result_files") or []),
    )


def _event_dict(event: Any) -> dict[str, Any]:
    return {
        "id": _get(event, "id"),
        "created_at": _get(event, "created_at") or 0,
        "level": _get(event, "level"),
        "type": _get(event, "type"),
        "message": _get(event, "message"),
        "data": _plain(_get(event, "data")),
    }


def _checkpoint_dict(ckpt: Any) -> dict[str, Any]:
    return {
        "id": _get(ckpt, "id"),
        "step": _get(ckpt, "step_number"),
        "model_name": _get(ckpt, "fine_tuned_model_checkpoint"),
        "metrics": _plain(_get(ckpt, "metrics")),
        "created_at": _get(ckpt, "created_at"),
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

    def list_jobs(self, limit: int = 50) -> list[JobSnapshot]:
        return [snapshot_from(j) for j in self.client.fine_tuning.jobs.list(limit=limit).data]


def backend_name(workspace: "Workspace") -> str:
    """"offline", "azure", "openai", or "compatible" (another OpenAI-compatible base_url)."""
    from distill_tui.core.provider import resolve_base_url

    if workspace.offline:
        return "offline"
    if workspace.spec.provider.kind == "azure":
        return "azure"
    url = workspace.base_url or workspace.spec.provider.base_url or ""
    if not url:
        url = resolve_base_url(workspace.spec, None) or ""
    return "openai" if not url or url.startswith("https://api.openai.com") else "compatible"


def backend_for(workspace: "Workspace") -> FineTuneBackend:
    """The backend of the workspace's provider (raises UserError when the key is missing)."""
    return OpenAIJobsBackend(workspace.client(), backend_name(workspace))


# --- the plan: what a job will cost, and what to warn about -------------------------------------


def newest_export(workspace: "Workspace") -> dict[str, Any]:
    """The newest export of the workspace whose files still exist.

    Raises:
        UserError: nothing exported yet, or the exported file was moved away.
    """
    exports = workspace.store.exports()
    if not exports:
        raise UserError(NO_EXPORT)
    newest = exports[0]
    for key in ("path", "validation_path"):
        if newest.get(key) and not Path(newest[key]).is_file():
            raise UserError(f"the exported file {newest[key]} is gone: export again (`distill-tui export SPEC -o FILE`)")
    return newest


def request_for(workspace: "Workspace") -> JobRequest:
    """A job request from the spec's [student] and [finetune] and the newest export."""
    export = newest_export(workspace)
    spec = workspace.spec
    ft = spec.finetune
    return JobRequest(
        model=spec.student.model,
        training_path=Path(export["path"]),
        validation_path=Path(export["validation_path"]) if export.get("validation_path") else None,
        suffix=ft.suffix,
        seed=ft.seed,
        metadata={"app": "distill-tui", "workspace": workspace.store.path.stem[:500]},
        n_epochs=ft.n_epochs,
        batch_size=ft.batch_size,
        learning_rate_multiplier=ft.learning_rate_multiplier,
    )


def read_examples(path: Path) -> list[list[dict[str, Any]]]:
    """The message lists of a chat-format JSONL file.

    Raises:
        UserError: the file is missing or a line is not a `{"messages": [...]}` object.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the training file ({exc.strerror or exc})") from None
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{path}:{number}: not a chat-format line ({{\"messages\": [...]}})") from None
        out.append(messages)
    return out


def estimate_training_cost(
    workspace: "Workspace", training_path: Path, *, model: str | None = None, n_epochs: int | str | None = None
) -> tuple[int, float | None, int]:
    """Trained tokens, their cost (None when the price is unknown) and the epochs a job will run.

    Tokens per example are counted exactly (the way estimate.py counts a training line), capped at the
    model's training context; epochs follow OpenAI's "auto" rule unless given.
    """
    from distill_tui.core import tokens
    from distill_tui.core.pricing import auto_epochs

    model = model or workspace.spec.student.model
    examples = read_examples(training_path)
    price = workspace.prices.price(model)
    cap = (price.training_example_max_tokens if price else None) or 65_536
    per_epoch = sum(min(cap, tokens.count_chat(m, model) - tokens.REPLY_PRIMING) for m in examples)
    value = workspace.spec.finetune.n_epochs if n_epochs is None else n_epochs
    epochs = auto_epochs(len(examples)) if value == "auto" else int(value)
    trained = per_epoch * epochs
    unit = workspace.prices.training_price(model)
    return trained, (None if unit is None else trained * unit / 1_000_000), epochs


@dataclass
class JobPlan:
    """What the confirm dialog shows before a job is created."""

    request: JobRequest
    backend: str
    examples: int
    validation_examples: int
    trained_tokens: int
    cost_usd: float | None
    epochs: int
    warnings: list[str] = field(default_factory=list)


def live_shutdown_date(workspace: "Workspace", model: str) -> str | None:
    """The provider's `shutdown_date` for a model from `models.list()`; None when unknown or unreachable."""
    try:
        for item in workspace.client().models.list():
            if _get(item, "id") == model:
                return _get(item, "shutdown_date")
    except Exception:  # the warning is a courtesy: no answer is not an error
        return None
    return None


def plan_job(workspace: "Workspace", request: JobRequest | None = None, *, live: bool = True) -> JobPlan:
    """The request (from the spec and newest export unless given), its cost and its warnings."""
    from distill_tui.core.pricing import shutdown_warning

    request = request or request_for(workspace)
    trained, cost, epochs = estimate_training_cost(
        workspace, request.training_path, model=request.model, n_epochs=request.n_epochs
    )
    examples = len(read_examples(request.training_path))
    validation = len(read_examples(request.validation_path)) if request.validation_path else 0
    warnings = []
    date = workspace.prices.shutdown_date(request.model) or (live_shutdown_date(workspace, request.model) if live else None)
    warning = shutdown_warning(request.model, date)
    if warning:
        warnings.append(f"{warning}; a model fine-tuned from it goes with it")
    if cost is None:
        warnings.append(f"no training price known for {request.model}: the cost is not estimated")
    if examples < 10:
        warnings.append(f"the training file has {examples} examples; the API needs at least 10")
    return JobPlan(request, backend_name(workspace), examples, validation, trained, cost, epochs, warnings)


# --- creating a job -------------------------------------------------------------------------------


def training_cost(prices: "PriceTable", base_model: str, trained_tokens: int | None) -> float | None:
    """The actual cost of a finished job: trained tokens × the base model's training price."""
    unit = prices.training_price(base_model)
    return None if unit is None or trained_tokens is None else trained_tokens * unit / 1_000_000


def record_from(snapshot: JobSnapshot, backend: str, base: JobRecord | None = None, **data: Any) -> JobRecord:
    """A store record updated from a snapshot; `data` keys are merged into `record.data`.

    The status timeline (`data["timeline"]`, [status, unix time] pairs) grows when the status changes.
    """
    now = time.time()
    merged = dict(base.data or {}) if base else {}
    merged.update({k: v for k, v in data.items() if v is not None})
    timeline = list(merged.get("timeline") or [])
    if not timeline or timeline[-1][0] != snapshot.status:
        when = snapshot.finished_at if snapshot.status in TERMINAL and snapshot.finished_at else now
        if not timeline and snapshot.created_at and snapshot.status == "validating_files":
            when = snapshot.created_at
        timeline.append([snapshot.status, when])
    merged["timeline"] = timeline
    for key in ("estimated_finish", "hyperparameters", "suffix", "seed", "metadata", "error_code", "error_param"):
        value = getattr(snapshot, key)
        if value is not None or key == "estimated_finish":
            merged[key] = value
    if snapshot.result_files:
        merged["result_files"] = snapshot.result_files
    return JobRecord(
        id=snapshot.id,
        backend=base.backend if base else backend,
        base_model=snapshot.model or (base.base_model if base else ""),
        status=snapshot.status,
        fine_tuned_model=snapshot.fine_tuned_model or (base.fine_tuned_model if base else None),
        training_file=snapshot.training_file or (base.training_file if base else None),
        validation_file=snapshot.validation_file or (base.validation_file if base else None),
        local_training_path=base.local_training_path if base else None,
        local_validation_path=base.local_validation_path if base else None,
        trained_tokens=snapshot.trained_tokens if snapshot.trained_tokens is not None else (base.trained_tokens if base else None),
        error=snapshot.error or (base.error if base else None),
        created_at=float(snapshot.created_at or (base.created_at if base else 0) or now),
        finished_at=snapshot.finished_at or (base.finished_at if base else None),
        data=merged,
    )


def _create_error(exc: Exception, request: JobRequest) -> Exception:
    """The error to raise for a refused `jobs.create`."""
    import openai

    from distill_tui.core.apierrors import _body_error, error_code, explain

    paths = [str(request.training_path), str(request.validation_path) if request.validation_path else None]
    inner = _body_error(exc)
    detail = " ".join(str(inner.get("message") or getattr(exc, "message", "") or exc).split())[:300]
    code = error_code(exc)
    if code == "training_not_available" or (isinstance(exc, openai.PermissionDeniedError) and "fine-tun" in detail.lower()):
        return TrainingClosed(detail, paths, code=code or "training_not_available")
    if isinstance(exc, openai.NotFoundError) or (
        isinstance(exc, openai.BadRequestError) and (inner.get("param") == "model" or code == "model_not_found")
    ):
        return ModelUnavailable(request.model, detail, paths)
    explained = explain(exc)
    if explained is None:
        return exc
    line, exit_code = explained
    return UserError(line) if exit_code == 2 else WorkFailed(line)


def create_job(
    workspace: "Workspace", request: JobRequest, *, on_status: Callable[[str], None] | None = None,
    estimate: JobPlan | None = None,
) -> JobRecord:
    """Upload the files, create the job and save it in the store at once.

    Args:
        workspace: The workspace whose store records the job.
        request: What to train.
        on_status: Called with a short line at each step ("uploading …", "creating …").
        estimate: The plan shown to the user; its estimate is kept with the job.

    Raises:
        TrainingClosed: 403 `training_not_available` (exit 1).
        ModelUnavailable: the base model is unknown here (exit 2).
        UserError / WorkFailed: any other refusal, as one line.
    """
    say = on_status or (lambda line: None)
    for path in (request.training_path, request.validation_path):
        if path is not None and not Path(path).is_file():
            raise UserError(f"{path}: training file not found")
    backend = backend_for(workspace)
    try:
        say(f"uploading {Path(request.training_path).name}")
        training_file = backend.upload(Path(request.training_path))
        validation_file = None
        if request.validation_path:
            say(f"uploading {Path(request.validation_path).name}")
            validation_file = backend.upload(Path(request.validation_path))
        say(f"creating a fine-tuning job on {request.model} ({backend.name})")
        snapshot = backend.create(request, training_file, validation_file)
    except Exception as exc:  # SDK errors become one of ours; anything else propagates unchanged
        error = _create_error(exc, request)
        if error is exc:
            raise
        raise error from None
    base = JobRecord(
        id=snapshot.id, backend=backend.name, base_model=request.model, status=snapshot.status,
        local_training_path=str(request.training_path),
        local_validation_path=str(request.validation_path) if request.validation_path else None,
    )
    extra: dict[str, Any] = {"source": "created", "request": _request_json(request)}
    if estimate is not None:
        extra.update(estimated_tokens=estimate.trained_tokens, estimated_cost_usd=estimate.cost_usd,
                     estimated_epochs=estimate.epochs)
    record = record_from(snapshot, backend.name, base, **extra)
    workspace.store.save_job(record)
    say(f"job {record.id} created ({record.status})")
    return record


def _request_json(request: JobRequest) -> dict[str, Any]:
    data = asdict(request)
    data["training_path"] = str(request.training_path)
    data["validation_path"] = str(request.validation_path) if request.validation_path else None
    return data
