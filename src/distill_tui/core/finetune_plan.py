"""The plan of a fine-tuning job before it is created: the request from the spec and the newest
export, the trained tokens and cost it will take, and what to warn about."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill_tui.core.errors import UserError
from distill_tui.core.finetune_backend import NO_EXPORT, JobRequest, _get, backend_name

if TYPE_CHECKING:
    from distill_tui.core.workspace import Workspace


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
    per_epoch = sum(min(cap, tokens.count_training_line(m, model)) for m in examples)
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
