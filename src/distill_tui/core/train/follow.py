"""Following fine-tuning jobs: polling with backoff, saving what arrives, reattaching, cancelling,
and the numbers the screens and commands show (metrics series, cost, estimated finish).

Everything that arrives is saved to the store before anyone is told, so a dropped SSH link or a
restart loses nothing: the next `follow_job` starts from the saved history.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.common.errors import UserError, WorkFailed
from distill_tui.core.provider.values import as_int, as_time
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.train.backend import TERMINAL, FineTuneBackend, JobSnapshot
from distill_tui.core.train.backends import backend_for
from distill_tui.core.train.jobs import local_cost, record_from, training_cost

if TYPE_CHECKING:
    from distill_tui.core.cost.pricing import PriceTable
    from distill_tui.core.store.database import Store
    from distill_tui.core.workspace.workspace import Workspace

METRICS = (
    "train_loss", "valid_loss", "train_mean_token_accuracy", "valid_mean_token_accuracy",
    "full_valid_loss", "full_valid_mean_token_accuracy",
)


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask: fast while things change, slower (×factor, up to maximum) while they don't."""

    initial: float = 1.0
    factor: float = 1.5
    maximum: float = 30.0

    def next_delay(self, delay: float | None, changed: bool, status_changed: bool | None = None) -> float:
        """The wait before the next poll, given the last wait and what that poll saw.

        A status change (or, when `status_changed` is not given, any change) brings polling back to
        `initial`; new events alone hold the current pace, so a running job that logs a metric
        every few seconds is not polled several times a second.
        """
        if status_changed is None:
            status_changed = changed
        if delay is None or status_changed:
            return self.initial
        if changed:
            return delay
        return min(self.maximum, delay * self.factor)


@dataclass
class JobUpdate:
    """What one poll brought (already saved in the store)."""

    record: JobRecord
    new_events: list[dict[str, Any]] = field(default_factory=list)
    status_changed: bool = False
    checkpoints_changed: bool = False
    note: str | None = None
    next_poll_s: float | None = None

    @property
    def changed(self) -> bool:
        return bool(self.new_events or self.status_changed or self.checkpoints_changed)


def _sleep_until(delay: float, should_stop: Callable[[], bool]) -> bool:
    """Sleep `delay` seconds in short slices; True when asked to stop meanwhile."""
    end = time.monotonic() + delay
    while True:
        if should_stop():
            return True
        left = end - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.1, left))


def _is_transient(exc: Exception) -> bool:
    from distill_tui.core.provider.api_errors import is_retryable

    try:
        return is_retryable(exc)
    except ImportError:  # pragma: no cover
        return False


def _raise_for(exc: Exception, job_id: str) -> None:
    import openai

    from distill_tui.core.provider.api_errors import explain

    if isinstance(exc, openai.NotFoundError):
        raise UserError(f"no fine-tuning job {job_id} on this provider") from None
    explained = explain(exc)
    if explained is None:
        raise exc
    line, code = explained
    raise (UserError(line) if code == 2 else WorkFailed(line)) from None


def job_events(store: "Store", job_id: str) -> list[dict[str, Any]]:
    """A job's saved events in arrival order.

    `Store.events` sorts ties within a second by event id, which for random ids is not the order
    they happened in; rowid is (events are saved oldest first).
    """
    import json

    rows = store.execute(
        "SELECT * FROM job_events WHERE job_id=? ORDER BY created_at, rowid", (job_id,)
    )
    return [{**dict(r), "data": json.loads(r["data"]) if r["data"] else None} for r in rows]


def _sync(workspace: "Workspace", backend: FineTuneBackend, job_id: str, base: JobRecord | None) -> JobUpdate:
    """One poll: the job, its new events, its checkpoints when something moved; all saved."""
    store = workspace.store
    snapshot: JobSnapshot = backend.retrieve(job_id)
    known = job_events(store, job_id)
    last = known[-1]["event_id"] if known else None
    fetched = backend.events(job_id, after=last)
    known_ids = {e["event_id"] for e in known}
    new_events = [e for e in fetched if e["id"] not in known_ids]
    if new_events:
        store.save_events(job_id, new_events)
    status_changed = base is None or base.status != snapshot.status
    checkpoints_changed = False
    if new_events or status_changed or snapshot.status in TERMINAL:
        checkpoints = backend.checkpoints(job_id)
        before = {c["checkpoint_id"] for c in store.checkpoints(job_id)}
        if checkpoints:
            store.save_checkpoints(job_id, checkpoints)
        checkpoints_changed = bool({c["id"] for c in checkpoints} - before)
    from distill_tui.core.workspace.workspace import provider_url

    # The provider the job was just read from: a job attached with another --base-url says so.
    extra: dict[str, Any] = {"base_url": provider_url(workspace)}
    if backend.name == "local":  # priced by the GPU-hour, not by the token
        from distill_tui.core.cost.selfhosted import gpu_hour_price

        extra.update(local_cost(snapshot.extra or {}, *gpu_hour_price(workspace.spec, workspace.prices)))
    elif snapshot.trained_tokens is not None:
        extra["training_cost_usd"] = training_cost(workspace.prices, snapshot.model, snapshot.trained_tokens)
    record = record_from(snapshot, backend.name, base, **extra)
    if base is None:
        record.data = {**(record.data or {}), "source": "attached"}
    if status_changed or new_events or checkpoints_changed or _differs(base, record):
        store.save_job(record)
    return JobUpdate(record, new_events, status_changed, checkpoints_changed)


def _differs(old: JobRecord | None, new: JobRecord) -> bool:
    if old is None:
        return True
    keys = ("status", "fine_tuned_model", "trained_tokens", "error", "finished_at")
    old_data, new_data = old.data or {}, new.data or {}
    return any(getattr(old, k) != getattr(new, k) for k in keys) or any(
        old_data.get(k) != new_data.get(k) for k in ("estimated_finish", "base_url", "training_cost_usd", "cost_note")
    )


def attach_job(workspace: "Workspace", job_id: str, backend: FineTuneBackend | None = None) -> JobRecord:
    """Fetch a job (made here or elsewhere) with its events and checkpoints and save it in the store.

    Raises:
        UserError: no such job on the provider.
    """
    backend = backend or backend_for(workspace)
    try:
        return _sync(workspace, backend, job_id, workspace.store.job(job_id)).record
    except (UserError, WorkFailed):
        raise
    except Exception as exc:
        _raise_for(exc, job_id)
        raise  # pragma: no cover - _raise_for always raises


def follow_job(
    workspace: "Workspace",
    job_id: str,
    *,
    on_update: Callable[[JobUpdate], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    poll: PollPolicy | None = None,
    backend: FineTuneBackend | None = None,
    wait: Callable[[float, Callable[[], bool]], bool] | None = None,
) -> JobRecord:
    """Poll a job until it ends (or `should_stop` says so), saving everything as it arrives.

    Args:
        workspace: The workspace whose store keeps the job.
        job_id: The job; one unknown to the store is attached first.
        on_update: Called after each poll with what it brought (from this thread).
        should_stop: Checked between polls and while waiting; True ends the loop early.
        poll: The backoff policy (default: from 1 s on the offline provider, from 5 s elsewhere).
        backend: Defaults to the workspace's.
        wait: `wait(seconds, should_stop) -> stopped`; tests pass a fake clock.

    Returns:
        The job as last saved.

    Raises:
        UserError / WorkFailed: the provider refused (not found, auth…); transient errors
            (timeouts, 5xx, 429) are retried with the same backoff.
    """
    backend = backend or backend_for(workspace)
    poll = poll or PollPolicy(initial=1.0 if workspace.offline or backend.name == "local" else 5.0,
                              maximum=5.0 if backend.name == "local" else 30.0)
    stop = should_stop or (lambda: False)
    wait = wait or _sleep_until
    record = workspace.store.job(job_id)
    delay: float | None = None
    while True:
        try:
            update = _sync(workspace, backend, job_id, record)
        except Exception as exc:
            if not _is_transient(exc):
                if isinstance(exc, (UserError, WorkFailed)):
                    raise
                _raise_for(exc, job_id)
            delay = poll.next_delay(delay or poll.initial, False)
            from distill_tui.core.provider.api_errors import explain

            line = (explain(exc) or (str(exc), 1))[0]
            if record is not None and on_update:
                on_update(JobUpdate(record, note=f"{line}; retrying in {delay:.0f} s", next_poll_s=delay))
            if wait(delay, stop):
                return workspace.store.job(job_id) or record  # type: ignore[return-value]
            continue
        record = update.record
        done = record.status in TERMINAL
        delay = None if done else poll.next_delay(delay, update.changed, update.status_changed)
        update.next_poll_s = delay
        if on_update:
            on_update(update)
        if done or stop():
            return record
        if wait(delay, stop):  # type: ignore[arg-type]
            return record


JOB_ACTIONS = ("cancel", "pause", "resume")


def control_job(workspace: "Workspace", job_id: str, action: str, backend: FineTuneBackend | None = None) -> JobRecord:
    """Ask the provider to cancel, pause or resume a job and save what it answers.

    Raises:
        UserError: no such job, or the job cannot take `action` now (e.g. resuming a running job).
        WorkFailed: the provider failed.
    """
    if action not in JOB_ACTIONS:
        raise ValueError(f"unknown job action {action!r}")
    backend = backend or backend_for(workspace)
    try:
        snapshot = getattr(backend, action)(job_id)
    except Exception as exc:
        _raise_for(exc, job_id)
        raise  # pragma: no cover
    record = record_from(snapshot, backend.name, workspace.store.job(job_id))
    workspace.store.save_job(record)
    return record


# --- what the screens and commands show ------------------------------------------------------


def metrics_series(events: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Each metric's (step, value) points from the metrics events, sorted by step.

    Keys are the names in `METRICS` (train_loss, valid_loss, train_mean_token_accuracy,
    valid_mean_token_accuracy, full_valid_*); validation ones only have points at eval steps.
    """
    by_step: dict[str, dict[int, float]] = {name: {} for name in METRICS}
    for event in events:
        data = event.get("data")
        step = as_int(data.get("step")) if isinstance(data, dict) else None
        if event.get("type") != "metrics" or step is None:
            continue
        for name in METRICS:
            value = data.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                by_step[name][step] = float(value)
    return {name: sorted(points.items()) for name, points in by_step.items()}


_STEP = re.compile(r"Step (\d+)\s*/\s*(\d+)")


def estimated_finish(record: JobRecord, events: list[dict[str, Any]], now: float | None = None) -> float | None:
    """When a running job should end: the provider's estimate, else extrapolated from "Step n/N" events."""
    if record.status in TERMINAL:
        return None
    given = as_time((record.data or {}).get("estimated_finish"))
    if given:
        return given
    steps = [(e["created_at"], int(m.group(1)), int(m.group(2)))
             for e in events if (m := _STEP.search(e.get("message") or ""))]
    if len(steps) < 2:
        return None
    (t0, s0, _), (t1, s1, total) = steps[0], steps[-1]
    if s1 <= s0 or t1 <= t0:
        return None
    return t1 + (total - s1) * (t1 - t0) / (s1 - s0)


def job_cost(record: JobRecord) -> float | None:
    return (record.data or {}).get("training_cost_usd")


def without_gpu(record: JobRecord) -> str | None:
    """Where a finished local job ran when it had no GPU ("CPU", "mps"): it has no GPU cost; else None."""
    data = record.data or {}
    if record.backend != "local" or data.get("gpu_hours") is None or data.get("gpus"):
        return None
    device = str(data.get("device") or "cpu")
    return "CPU" if device == "cpu" else device


def job_json(record: JobRecord, **extra: Any) -> dict[str, Any]:
    """The job object `finetune --json` and `jobs --json` print."""
    data = record.data or {}
    return {
        "id": record.id,
        "status": record.status,
        "model": record.base_model,
        "fine_tuned_model": record.fine_tuned_model,
        "trained_tokens": record.trained_tokens,
        "training_cost_usd": None if job_cost(record) is None else round(job_cost(record), 6),
        "estimated_cost_usd": None if data.get("estimated_cost_usd") is None else round(data["estimated_cost_usd"], 6),
        "error": record.error,
        "backend": record.backend,
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "training_file": record.training_file,
        "local_training_path": record.local_training_path,
        "base_url": data.get("base_url"),
        **({key: data.get(key) for key in ("gpu_hours", "cpu_hours", "device", "gpu_hour_usd", "cost_note", "job_folder")}
           if record.backend == "local" else {}),
        **extra,
    }


def merge_listing(
    store: "Store", prices: "PriceTable", remote: list[JobSnapshot], backend: str
) -> tuple[list[JobRecord], list[JobRecord]]:
    """Bring the store's jobs up to date from the provider's job list.

    Returns:
        (jobs of this store, newest first, with any status change saved;
         provider jobs the store does not know, as unsaved records — attach one to keep it).
    """
    local = {j.id: j for j in store.jobs()}
    others = []
    for snap in remote:
        base = local.get(snap.id)
        cost = training_cost(prices, snap.model, snap.trained_tokens)
        if backend == "local" and not (base and (base.data or {}).get("training_cost_usd") is not None):
            # Listed without its spec (`jobs` of every workspace): the price of prices.toml, if any.
            own = prices.self_hosted.get("gpu_hour_usd")
            costs = local_cost(snap.extra or {}, None if own is None else float(own), "your prices.toml")
            snap = replace(snap, extra={**(snap.extra or {}), **costs})
            cost = costs.get("training_cost_usd")
        if base is None:
            others.append(record_from(snap, backend, None, source="provider", training_cost_usd=cost))
            continue
        updated = record_from(snap, backend, base, training_cost_usd=cost)
        if _differs(base, updated):
            if not getattr(store, "read_only", False):  # a read-only workspace still lists today's status
                store.save_job(updated)
            local[snap.id] = updated
    return sorted(local.values(), key=lambda j: j.created_at, reverse=True), others
