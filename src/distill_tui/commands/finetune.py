"""`distill-tui finetune SPEC [--follow] [--json] [--yes] [--job ID [--pause|--resume|--cancel]]`:
create (or reattach to) a fine-tuning job from the newest export, pause, resume or cancel it, and
optionally follow it to the end.

Human lines go to stderr (stdout carries the job id, or the JSON object with `--json`).
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from typing import TYPE_CHECKING, Any

from distill_tui.core.common.errors import UserError, WorkFailed
from distill_tui.core.cost.pricing import format_usd

if TYPE_CHECKING:
    from distill_tui.core.store.jobs import JobRecord
    from distill_tui.core.train.follow import JobUpdate
    from distill_tui.core.train.plan import JobPlan


def money(value: float | None) -> str:
    return format_usd(value, unknown="price unknown")


def _err(line: str = "") -> None:
    print(line, file=sys.stderr, flush=True)


def local_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The local trainer's settings worth a look before starting (the rest are in the spec)."""
    keys = ["method", "epochs", "batch_size", "learning_rate", "max_seq_length", "device"]
    if settings.get("method") in ("lora", "qlora"):
        keys[1:1] = ["lora_r", "lora_alpha"]
    return {key: settings.get(key) for key in keys} | ({"merge": True} if settings.get("merge") else {})


def describe_plan(plan: "JobPlan") -> list[str]:
    """The lines shown before asking to create a job."""
    req = plan.request
    lines = [
        f"training file: {req.training_path} ({plan.examples:,} examples)",
    ]
    if req.validation_path:
        lines.append(f"validation file: {req.validation_path} ({plan.validation_examples:,} examples)")
    hyper = ", ".join(f"{k}={v}" for k, v in (local_settings(req.settings) if req.settings
                                                 else req.hyperparameters()).items())
    lines += [
        f"base model: {req.model} on {plan.where or plan.backend}" + (f", suffix {req.suffix}" if req.suffix else ""),
        f"hyperparameters: {hyper}",
        f"estimated training: {plan.epochs} epochs, {plan.trained_tokens:,} trained tokens, {money(plan.cost_usd)}",
    ]
    lines += [f"warning: {w}" for w in plan.warnings]
    return lines


def _confirm(args: Namespace, question: str = "Create this fine-tuning job?", doing: str = "create the job") -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise UserError(f"stdin is not a terminal: pass --yes to {doing} without confirmation")
    try:
        print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def metrics_line(data: dict[str, Any]) -> str:
    parts = [f"step {data.get('step')}"]
    for key, label in (("train_loss", "train loss"), ("train_mean_token_accuracy", "train acc"),
                       ("valid_loss", "valid loss"), ("valid_mean_token_accuracy", "valid acc")):
        value = data.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {value:.4f}")
    return ", ".join(parts)


class UpdatePrinter:
    """Progress on stderr: status changes, event messages, and metrics lines at most one per
    `every_s` seconds (a job reports every step: hundreds of lines would flood an SSH terminal).
    The newest held-back metrics line is printed before a status change, so the last step shows."""

    def __init__(self, every_s: float = 5.0, clock: Any = None) -> None:
        import time

        self.every_s = every_s
        self.clock = clock or time.monotonic
        self._last_at: float | None = None
        self._held: str | None = None

    def __call__(self, update: "JobUpdate") -> None:
        for event in update.new_events:
            if event.get("type") == "metrics" and isinstance(event.get("data"), dict):
                self._metrics(f"  {metrics_line(event['data'])}")
            elif event.get("message"):
                _err(f"  {event.get('level') or 'info'}: {event['message']}")
        if update.status_changed:  # after its events: the status is where they led
            self.flush()
            _err(f"status: {update.record.status}")
        if update.note:
            _err(f"note: {update.note}")

    def _metrics(self, line: str) -> None:
        now = self.clock()
        if self._last_at is None or now - self._last_at >= self.every_s:
            _err(line)
            self._last_at, self._held = now, None
        else:
            self._held = line

    def flush(self) -> None:
        if self._held is not None:
            _err(self._held)
            self._held = None


def _finish(record: "JobRecord", as_json: bool, followed: bool) -> int:
    """Print the outcome (and the JSON object); the exit code of the job's status."""
    from distill_tui.core.train.errors import JobFailed
    from distill_tui.core.train.follow import job_cost, job_json

    if as_json:
        print(json.dumps(job_json(record)), flush=True)
    if record.status in ("failed", "cancelled"):
        failed = JobFailed.from_record(record)
        _stranded(failed)
        return failed.exit_code
    if record.status == "succeeded":
        tokens = "unknown" if record.trained_tokens is None else f"{record.trained_tokens:,}"
        note = (record.data or {}).get("cost_note") if record.backend == "local" else None
        _err(f"succeeded: {record.fine_tuned_model}; trained tokens {tokens}, "
             + (f"cost {money(job_cost(record))}" if job_cost(record) is not None or not note else note))
    elif followed:
        _err(f"job {record.id} is {record.status}")
    return 0


def _stranded(exc: Any, as_json: bool = False, request: Any = None) -> int:
    """Print a refused job's one line, where the file is, and what else can train from it."""
    _err(f"distill-tui: error: {exc}")
    for line in exc.details():
        _err(f"  {line}")
    if as_json:
        print(json.dumps({
            "id": None, "status": "not_created", "model": getattr(request, "model", None),
            "fine_tuned_model": None, "trained_tokens": None, "training_cost_usd": None, "error": str(exc),
            "exit_code": exc.exit_code, "error_code": getattr(exc, "code", None),
            "local_training_path": exc.paths[0] if exc.paths else None,
        }), flush=True)
    return exc.exit_code


def _control(workspace: Any, record: "JobRecord", action: str, args: Namespace) -> int:
    """Pause, resume or cancel an attached job; then follow it when asked."""
    from distill_tui.core.train.follow import control_job, follow_job, job_json

    cost = ("its checkpoints stay on disk" if record.backend == "local"
            else "tokens trained so far are billed")
    if action == "cancel" and not _confirm(args, f"Cancel {record.id}? Training stops for good and {cost}.",
                                           "cancel the job"):
        raise WorkFailed(f"not cancelled: job {record.id} goes on")
    record = control_job(workspace, record.id, action)
    _err(f"job {record.id}: {record.status}")
    if args.follow and record.status not in ("succeeded", "failed", "cancelled", "paused"):
        record = follow_job(workspace, record.id, on_update=UpdatePrinter())
        return _finish(record, args.json, True)
    if args.json:
        print(json.dumps(job_json(record)), flush=True)
    return 0


def run(args: Namespace) -> int:
    from distill_tui.core.train.errors import ModelUnavailable, TrainingClosed
    from distill_tui.core.train.follow import attach_job, follow_job
    from distill_tui.core.train.jobs import create_job
    from distill_tui.core.train.plan import plan_job
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.stop_signals import HeldSignals

    action = next((name for name in ("pause", "resume", "cancel") if getattr(args, name, False)), None)
    if action and not args.job:
        raise UserError(f"--{action} needs the job: --job ID (see `distill-tui jobs`)")
    workspace = Workspace.open(args.spec, base_url=args.base_url)
    request = None
    try:
        if args.job:
            record = attach_job(workspace, args.job)
            _err(f"job {record.id}: {record.status} ({record.base_model})")
            if action:
                return _control(workspace, record, action, args)
        else:
            plan = plan_job(workspace)
            request = plan.request
            for line in describe_plan(plan):
                _err(line)
            if not _confirm(args):
                raise WorkFailed("not created: the job was not confirmed")
            # A signal between the job's creation and its record would leave a paid job unknown here.
            with HeldSignals(_err, "creating the job") as held:
                record = create_job(workspace, plan.request, estimate=plan, on_status=lambda s: _err(s))
            if held.received is not None:
                raise WorkFailed(f"stopped after creating job {record.id}, which goes on. Follow it: "
                                 f"distill-tui finetune {args.spec} --job {record.id} --follow")
            if not args.json:
                print(record.id, flush=True)
        if args.follow and record.status not in ("succeeded", "failed", "cancelled"):
            try:
                record = follow_job(workspace, record.id, on_update=UpdatePrinter())
            except KeyboardInterrupt:
                raise WorkFailed(f"stopped following; job {record.id} goes on. Reattach: distill-tui finetune "
                                 f"{args.spec} --job {record.id} --follow") from None
        return _finish(record, args.json, args.follow)
    except (TrainingClosed, ModelUnavailable) as exc:
        return _stranded(exc, args.json, request)
    finally:
        workspace.close()
