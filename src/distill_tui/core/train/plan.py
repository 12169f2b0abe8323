"""The plan of a fine-tuning job before it is created: the request from the spec and the newest
export, its files checked (`checks`), the trained tokens and cost it will take, and what to
warn about."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill_tui.core.common.errors import UserError
from distill_tui.core.train.backend import NO_EXPORT, JobRequest, backend_label, backend_name, field_of

if TYPE_CHECKING:
    from distill_tui.core.cost.pricing import PriceTable
    from distill_tui.core.workspace.workspace import Workspace


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
    request = JobRequest(
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
    if ft.backend == "local":
        from distill_tui.core.train.local import local_hyperparameters

        request.settings = local_hyperparameters(ft, request)
    return request


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
    from distill_tui.core.cost import tokens
    from distill_tui.core.cost.pricing import auto_epochs

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
    """What the confirm dialog shows before a job is created.

    Attributes:
        fingerprint: The model and file versions the checks passed for (`checks.fingerprint`):
            `create_job` checks again only when the request differs.
        shutdown_dates: The provider's model id → shutdown date (None when it was not asked), so a
            model edited in the dialog is checked without asking again.
        file_warnings: The warnings about the files (part of `warnings`), which a model edit keeps.
    """

    request: JobRequest
    backend: str
    examples: int
    validation_examples: int
    trained_tokens: int
    cost_usd: float | None
    epochs: int
    warnings: list[str] = field(default_factory=list)
    fingerprint: tuple = ()
    shutdown_dates: dict[str, str | None] | None = None
    file_warnings: list[str] = field(default_factory=list)
    where: str = ""
    """`backend` in words, for people (see `backend_label`)."""


def provider_shutdown_dates(workspace: "Workspace") -> dict[str, str | None] | None:
    """The provider's `shutdown_date` of every model `models.list()` names; None when unreachable."""
    try:
        return {field_of(item, "id"): field_of(item, "shutdown_date") for item in workspace.client().models.list()}
    except Exception:  # the warning is a courtesy: no answer is not an error
        return None


def live_shutdown_date(workspace: "Workspace", model: str) -> str | None:
    """The provider's `shutdown_date` for a model from `models.list()`; None when unknown or unreachable."""
    return (provider_shutdown_dates(workspace) or {}).get(model)


def model_warnings(prices: "PriceTable", model: str, shutdown_dates: dict[str, str | None] | None) -> list[str]:
    """A base model's shutdown date (price table, else the provider's list) and a missing price."""
    from distill_tui.core.cost.pricing import shutdown_warning

    out = []
    warning = shutdown_warning(model, prices.shutdown_date(model) or (shutdown_dates or {}).get(model))
    if warning:
        out.append(f"{warning}; a model fine-tuned from it goes with it")
    if prices.training_price(model) is None:
        out.append(f"no training price known for {model}: the cost is not estimated")
    return out


def plan_job(workspace: "Workspace", request: JobRequest | None = None, *, live: bool = True) -> JobPlan:
    """The request (from the spec and newest export unless given), its cost and its warnings.

    Raises:
        UserError: no export, or its files fail `checks.check_files` (rows held out for
            evaluation today, a file the provider would reject).
    """
    from distill_tui.core.cost.pricing import auto_epochs
    from distill_tui.core.train.checks import check_files

    if backend_name(workspace) == "local":
        from distill_tui.core.train.local import require_extras

        require_extras()  # before the files are counted: the first thing to fix is the install
    request = request or request_for(workspace)
    check = check_files(workspace, request)
    examples = check.report.examples
    validation = check.validation_report.examples if check.validation_report else 0
    epochs = auto_epochs(examples) if request.n_epochs == "auto" else int(request.n_epochs)
    if request.settings:  # the local trainer's own "auto"
        epochs = int(request.settings["epochs"])
    trained = check.report.billed_tokens * epochs
    unit = workspace.prices.training_price(request.model)
    cost = None if unit is None else trained * unit / 1_000_000
    dates = provider_shutdown_dates(workspace) if live and backend_name(workspace) != "local" else None
    # A model trained here has no token price nor shutdown date: it is priced by the GPU-hour.
    local = backend_name(workspace) == "local"
    warnings = ([] if local else model_warnings(workspace.prices, request.model, dates)) + check.warnings
    return JobPlan(request, backend_name(workspace), examples, validation, trained, cost, epochs, warnings,
                   check.fingerprint, dates, check.warnings, backend_label(workspace))
