"""Fine-tuning jobs: creating one on the workspace's backend, and what it costs.

The rest of training lives beside it: the backend interface and its OpenAI-compatible implementation
(`backend`), the plan and cost estimate (`plan`), the checks before an upload and the uploads remembered
for a retry (`checks`), the errors that leave a training file without a job (`errors`), and following,
reattaching and cancelling jobs (`follow`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.common.errors import UserError, WorkFailed
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.train.backend import (
    TERMINAL,
    FineTuneBackend,
    JobRequest,
    JobSnapshot,
)
from distill_tui.core.train.backends import backend_for
from distill_tui.core.train.checks import check_files
from distill_tui.core.train.errors import (
    ModelUnavailable,
    TrainingClosed,
)
from distill_tui.core.train.plan import (
    JobPlan,
)
from distill_tui.core.workspace.workspace import provider_url

if TYPE_CHECKING:
    from distill_tui.core.cost.pricing import PriceTable
    from distill_tui.core.workspace.workspace import Workspace


def training_cost(prices: "PriceTable", base_model: str, trained_tokens: int | None) -> float | None:
    """The actual cost of a finished job: trained tokens × the base model's training price."""
    unit = prices.training_price(base_model)
    return None if unit is None or trained_tokens is None else trained_tokens * unit / 1_000_000


GPU_PRICE_KEYS = "[finetune] gpu_hour_usd in the spec (or gpu_hour_usd under [self_hosted] in your prices.toml)"


def local_cost(facts: dict[str, Any], price: float | None, source: str | None) -> dict[str, Any]:
    """A finished local job's cost, as keys of its record's data: its GPU-hours × the price of a
    GPU-hour (`price`, read from `source`), and `cost_note` saying how it was reached. A run on the
    CPU (or Apple MPS) has no GPU cost; an unknown price names the key that sets it. {} before the
    trainer's result (no hours yet)."""
    hours = facts.get("gpu_hours")
    if not isinstance(hours, (int, float)):
        return {}
    if not facts.get("gpus"):
        device = str(facts.get("device") or "cpu")
        return {"cost_note": f"ran on the {'CPU' if device == 'cpu' else device}: no GPU cost"}
    if price is None:
        return {"cost_note": f"GPU cost unknown: set {GPU_PRICE_KEYS}"}
    return {"training_cost_usd": hours * price, "gpu_hour_usd": price,
            "cost_note": f"{hours:.3g} GPU-hours × ${price:,.2f}/GPU-hour ({source})"}


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
    if snapshot.extra:
        merged.update(snapshot.extra)
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

    from distill_tui.core.provider.api_errors import error_body, error_code, explain

    paths = [str(request.training_path), str(request.validation_path) if request.validation_path else None]
    inner = error_body(exc)
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


def _file_refused(exc: Exception) -> bool:
    """True when `jobs.create` refused an uploaded file id (deleted, or uploaded to another provider)."""
    import openai

    from distill_tui.core.provider.api_errors import error_body, error_code

    param = error_body(exc).get("param")
    if param in ("training_file", "validation_file") or error_code(exc) == "invalid_file_id":
        return True
    return isinstance(exc, openai.NotFoundError) and "file" in str(exc).lower()


def _create(workspace: "Workspace", backend: FineTuneBackend, request: JobRequest, say: Callable[[str], None]) -> JobSnapshot:
    """Upload the files (or reuse this file version's earlier upload) and create the job."""
    from distill_tui.core.train import checks

    if backend.name == "local":  # nothing to upload: the trainer reads the files where they are
        say(f"starting the local trainer on {request.model}")
        return backend.create(request)
    store, scope = workspace.store, checks.upload_scope(workspace, backend)
    reused: list[Path] = []

    def upload(path: Path) -> str:
        file_id = checks.remembered_upload(store, scope, path)
        if file_id:
            say(f"{path.name} was uploaded before as {file_id}: not uploading it again")
            reused.append(path)
            return file_id
        say(f"uploading {path.name}")
        file_id = backend.upload(path)
        checks.remember_upload(store, scope, path, file_id)  # at once: a refused create must not cost a re-upload
        return file_id

    def files() -> tuple[str, str | None]:
        training = upload(Path(request.training_path))
        return training, (upload(Path(request.validation_path)) if request.validation_path else None)

    training_file, validation_file = files()
    say(f"creating a fine-tuning job on {request.model} ({backend.name})")
    try:
        return backend.create(request, training_file, validation_file)
    except Exception as exc:
        if not reused or not _file_refused(exc):
            raise
    checks.forget_uploads(store, scope, reused)
    reused.clear()
    training_file, validation_file = files()
    return backend.create(request, training_file, validation_file)


def create_job(
    workspace: "Workspace", request: JobRequest, *, on_status: Callable[[str], None] | None = None,
    estimate: JobPlan | None = None,
) -> JobRecord:
    """Check the files, upload them (once per file version), create the job and save it at once.

    The files are checked (`checks.check_files`) unless `estimate` already checked these
    very files for this model.

    Args:
        workspace: The workspace whose store records the job.
        request: What to train.
        on_status: Called with a short line at each step ("uploading …", "creating …", warnings).
        estimate: The plan shown to the user; its estimate is kept with the job.

    Raises:
        UserError: a file is missing, holds rows held out for evaluation today, or would be rejected.
        TrainingClosed: 403 `training_not_available` (exit 1).
        ModelUnavailable: the base model is unknown here (exit 2).
        UserError / WorkFailed: any other refusal, as one line.
    """
    from distill_tui.core.train.checks import fingerprint

    say = on_status or (lambda line: None)
    if estimate is None or not estimate.fingerprint or estimate.fingerprint != fingerprint(request):
        for warning in check_files(workspace, request).warnings:
            say(f"warning: {warning}")
    backend = backend_for(workspace)
    try:
        snapshot = _create(workspace, backend, request, say)
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
    extra: dict[str, Any] = {"source": "created", "request": _request_json(request), "base_url": provider_url(workspace)}
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
