"""Dialogs of the Jobs screen: a new job (its settings, estimated cost and warnings) and attach a
job id (a cancel is confirmed with `confirm_dialog.ConfirmDialog`)."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from distill_tui.core.cost.pricing import PriceTable, auto_epochs
from distill_tui.core.train.backend import JobRequest
from distill_tui.core.train.plan import JobPlan, model_warnings
from distill_tui.tui.widgets.confirm_dialog import DIALOG_CSS
from distill_tui.tui.widgets.job_details import money

# Fields two to a row, one line each, so the dialog with its warnings fits 80x24.
NEW_JOB_CSS = DIALOG_CSS.format(cls="NewJobDialog") + """
NewJobDialog .field { margin-top: 0; }
NewJobDialog #fields { height: auto; margin: 1 0 0 0; }
NewJobDialog .field .right { margin-left: 2; }
NewJobDialog #metadata { color: $text-muted; }
NewJobDialog #estimate-box { height: auto; max-height: 8; margin-top: 1; }
"""
FIELDS = (  # id, label, placeholder
    (("f-model", "Model", ""), ("f-suffix", "Suffix", "optional, ≤ 64 chars")),
    (("f-epochs", "Epochs", "auto or 1-50"), ("f-batch", "Batch", "auto or 1-256")),
    (("f-lr", "LR mult", "auto or > 0"), ("f-seed", "Seed", "optional integer")),
)


def _parse_int(raw: str, low: int, high: int) -> int | str | None:
    """ "auto" (also for an empty field), or a whole number in [low, high]; None when invalid."""
    raw = raw.strip() or "auto"
    if raw == "auto":
        return raw
    return int(raw) if raw.isdigit() and low <= int(raw) <= high else None


def _parse_multiplier(raw: str) -> float | str | None:
    raw = raw.strip() or "auto"
    if raw == "auto":
        return raw
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0 < value <= 1000 else None


def _parse_rate(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if 0 < value < 1 else None


def edited_request(base: JobRequest, values: dict[str, str]) -> tuple[JobRequest | None, str]:
    """The request with the dialog's field values, or None and what is wrong.

    Args:
        base: The planned request (files and metadata stay as they are).
        values: Field id (`f-model`, `f-suffix`, `f-epochs`, `f-batch`, `f-lr`, `f-seed`) → text.
    """
    model = values["f-model"].strip()
    suffix = values["f-suffix"].strip() or None
    epochs = _parse_int(values["f-epochs"], 1, 50)
    batch = _parse_int(values["f-batch"], 1, 256)
    local = base.settings is not None  # the local trainer: a learning rate, not the jobs API's multiplier
    multiplier = base.learning_rate_multiplier if local else _parse_multiplier(values["f-lr"])
    rate = _parse_rate(values["f-lr"]) if local else None
    seed_text = values["f-seed"].strip()
    seed = int(seed_text) if seed_text.isdigit() and int(seed_text) < 2**31 else None
    problems = [
        (not model, "a model is required"),
        (suffix is not None and (len(suffix) > 64 or ":" in suffix), "the suffix takes at most 64 characters, no \":\""),
        (epochs is None, "epochs must be \"auto\" or 1 to 50"),
        (batch is None, "batch size must be \"auto\" or 1 to 256"),
        (multiplier is None, "the LR multiplier must be \"auto\" or a number above 0 (at most 1000)"),
        (local and rate is None, "the learning rate must be a number above 0 and below 1"),
        (bool(seed_text) and seed is None, "the seed must be a whole number from 0 to 2147483647"),
    ]
    wrong = [line for bad, line in problems if bad]
    if wrong:
        return None, "; ".join(wrong)
    settings = base.settings
    if local:  # what the trainer reads: the fields as edited, "auto" as the trainer means it
        from distill_tui.core.train.local import AUTO_BATCH_SIZE, AUTO_EPOCHS

        settings = {**(base.settings or {}), "learning_rate": rate,
                    "epochs": AUTO_EPOCHS if epochs == "auto" else epochs,
                    "batch_size": AUTO_BATCH_SIZE if batch == "auto" else batch}
    return replace(base, model=model, suffix=suffix, n_epochs=epochs, batch_size=batch,  # type: ignore[arg-type]
                   learning_rate_multiplier=multiplier, seed=seed, settings=settings), ""  # type: ignore[arg-type]


class NewJobDialog(ModalScreen["JobPlan | None"]):
    """Shows the files, the editable job settings, the estimated training cost and the warnings
    (a base model's shutdown date is checked again whenever the model is edited); returns the plan
    to create (its request as edited) or None."""

    DEFAULT_CSS = NEW_JOB_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "create", "Create")]

    def __init__(self, plan: JobPlan, prices: PriceTable) -> None:
        super().__init__()
        self.plan = plan
        self.prices = prices

    def _initial(self) -> dict[str, str]:
        req = self.plan.request
        return {"f-model": req.model, "f-suffix": req.suffix or "", "f-epochs": str(req.n_epochs),
                "f-batch": str(req.batch_size),
                "f-lr": str(req.settings["learning_rate"] if req.settings else req.learning_rate_multiplier),
                "f-seed": "" if req.seed is None else str(req.seed)}

    def compose(self) -> ComposeResult:
        req = self.plan.request
        initial = self._initial()
        with Vertical():
            yield Static(f"New fine-tuning job on {self.plan.where or self.plan.backend}", classes="title")
            files = f"{req.training_path} ({self.plan.examples:,} examples)"
            if req.validation_path:
                files += f"\nvalidation {req.validation_path} ({self.plan.validation_examples:,})"
            yield Static(Text(files, overflow="fold"), id="files")
            with Vertical(id="fields"):
                for row in FIELDS:
                    with Horizontal(classes="field"):
                        for index, (field_id, label, placeholder) in enumerate(row):
                            if field_id == "f-lr" and req.settings is not None:  # the local trainer's own
                                label, placeholder = "LR", "> 0 and < 1"
                            yield Label(label, classes="right" if index else "")
                            yield Input(initial[field_id], id=field_id, placeholder=placeholder)
            meta = ", ".join(f"{k}={v}" for k, v in (req.metadata or {}).items()) or "none"
            yield Static(Text(f"metadata {meta}", no_wrap=True, overflow="ellipsis"), id="metadata")
            with VerticalScroll(id="estimate-box"):
                yield Static("", id="estimate")
            with Horizontal(classes="buttons"):
                yield Static("enter or ctrl+s: create   escape: cancel", classes="keys")
                yield Button("Cancel", id="cancel")
                yield Button("Create job", id="create", variant="primary")

    def on_mount(self) -> None:
        self._update()
        self.query_one("#create", Button).focus()

    def _request(self) -> tuple[JobRequest | None, str]:
        values = {field_id: self.query_one(f"#{field_id}", Input).value for row in FIELDS for field_id, _, _ in row}
        return edited_request(self.plan.request, values)

    def edited_plan(self) -> JobPlan | None:
        """The plan for the fields as they are (None when one is invalid): epochs, tokens, cost, warnings."""
        request, _ = self._request()
        if request is None:
            return None
        plan = self.plan
        per_epoch = plan.trained_tokens // plan.epochs if plan.epochs else 0
        if request.settings is not None:  # trained here: the trainer's epochs, priced by the GPU-hour once it ran
            epochs, cost, warnings = int(request.settings["epochs"]), None, list(plan.file_warnings)
            return replace(plan, request=request, epochs=epochs, trained_tokens=per_epoch * epochs, cost_usd=cost,
                           warnings=warnings)
        epochs = auto_epochs(plan.examples) if request.n_epochs == "auto" else int(request.n_epochs)
        unit = self.prices.training_price(request.model)
        cost = None if unit is None else per_epoch * epochs * unit / 1_000_000
        # A model edit is checked against the price table and the provider's model list the plan fetched.
        warnings = model_warnings(self.prices, request.model, plan.shutdown_dates) + list(plan.file_warnings)
        return replace(plan, request=request, epochs=epochs, trained_tokens=per_epoch * epochs, cost_usd=cost,
                       warnings=warnings)

    def _update(self) -> None:
        text = Text()
        request, problem = self._request()
        edited = self.edited_plan() if request is not None else None
        if edited is None:
            text.append(problem[:1].upper() + problem[1:] + ".", style="bold red")
            self.query_one("#estimate", Static).update(text)
            return
        per_epoch = edited.trained_tokens // edited.epochs if edited.epochs else 0
        text.append(f"Estimated training: {edited.epochs} epochs × {per_epoch:,} tokens = "
                    f"{edited.trained_tokens:,} tokens")
        if edited.request.settings is not None:
            text.append(" on this machine, priced by the GPU-hour once it ran (2 Estimate: the expected GPU time)",
                        style="dim")
        else:
            text.append(", ")
            text.append(money(edited.cost_usd), style="bold")
        for warning in edited.warnings:
            text.append(f"\n⚠ {warning}", style="bold yellow")
        self.query_one("#estimate", Static).update(text)

    @on(Input.Changed)
    def _changed(self) -> None:
        self._update()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_create()

    @on(Button.Pressed, "#create")
    def action_create(self) -> None:
        plan = self.edited_plan()
        if plan is not None:
            self.dismiss(plan)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class AttachDialog(ModalScreen["str | None"]):
    """Asks for a job id (`ftjob-…`) to attach to."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="AttachDialog")
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Attach a fine-tuning job", classes="title")
            yield Static("A job created elsewhere (another machine, the dashboard, a script): its history is "
                         "fetched and kept in this workspace.")
            with Horizontal(classes="field"):
                yield Label("Job id")
                yield Input(placeholder="ftjob-…", id="f-job")
            with Horizontal(classes="buttons"):
                yield Static("enter: attach   escape: cancel", classes="keys")
                yield Button("Cancel", id="cancel")
                yield Button("Attach", id="attach", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#f-job", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#attach")
    def _submit(self, _event: object = None) -> None:
        value = self.query_one("#f-job", Input).value.strip()
        if value:
            self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
