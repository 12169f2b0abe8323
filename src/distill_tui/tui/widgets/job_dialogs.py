"""Dialogs of the Jobs screen: confirm a new job (with its estimated cost), confirm a cancel, and
attach a job id."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from distill_tui.core.finetune import JobPlan, JobRequest
from distill_tui.core.pricing import PriceTable, auto_epochs, shutdown_warning
from distill_tui.tui.widgets.job_details import money

DIALOG_CSS = """
{cls} {{ align: center middle; }}
{cls} > Vertical {{ width: 76; max-width: 100%; height: auto; max-height: 100%; border: round $accent;
    background: $surface; padding: 0 1; }}
{cls} .title {{ text-style: bold; color: $accent; }}
{cls} .buttons {{ height: 3; align-horizontal: right; }}
{cls} .buttons Button {{ margin-left: 1; min-width: 10; }}
{cls} .field {{ height: 1; margin-top: 1; }}
{cls} .field Label {{ width: 9; color: $text-muted; }}
{cls} .field Input {{ border: none; height: 1; padding: 0; width: 1fr; background: $boost; }}
{cls} .field Input:focus {{ background: $accent 30%; }}
"""


def _parse_epochs(raw: str) -> int | str | None:
    raw = raw.strip() or "auto"
    if raw == "auto":
        return raw
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 50 else None


class NewJobDialog(ModalScreen["JobRequest | None"]):
    """Shows the training file, the estimated training cost and any shutdown warning; returns the
    request to create (with the model, epochs and suffix as edited) or None."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="NewJobDialog")
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "create", "Create")]

    def __init__(self, plan: JobPlan, prices: PriceTable) -> None:
        super().__init__()
        self.plan = plan
        self.prices = prices

    def compose(self) -> ComposeResult:
        req = self.plan.request
        with Vertical():
            yield Static(f"New fine-tuning job on {self.plan.backend}", classes="title")
            files = f"{req.training_path} ({self.plan.examples:,} examples)"
            if req.validation_path:
                files += f"\nvalidation {req.validation_path} ({self.plan.validation_examples:,})"
            yield Static(Text(files, overflow="fold"), id="files")
            with Horizontal(classes="field"):
                yield Label("Model")
                yield Input(req.model, id="f-model")
            with Horizontal(classes="field"):
                yield Label("Epochs")
                yield Input(str(req.n_epochs), id="f-epochs")
            with Horizontal(classes="field"):
                yield Label("Suffix")
                yield Input(req.suffix or "", id="f-suffix", placeholder="optional, up to 64 characters")
            yield Static("", id="estimate")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create job", id="create", variant="primary")

    def on_mount(self) -> None:
        self._update()
        self.query_one("#create", Button).focus()

    def _request(self) -> JobRequest | None:
        model = self.query_one("#f-model", Input).value.strip()
        epochs = _parse_epochs(self.query_one("#f-epochs", Input).value)
        suffix = self.query_one("#f-suffix", Input).value.strip() or None
        if not model or epochs is None or (suffix and len(suffix) > 64):
            return None
        return replace(self.plan.request, model=model, n_epochs=epochs, suffix=suffix)

    def _update(self) -> None:
        text = Text()
        request = self._request()
        if request is None:
            text.append("Model is required; epochs must be \"auto\" or 1 to 50; suffix at most 64 characters.",
                        style="bold red")
            self.query_one("#estimate", Static).update(text)
            return
        plan = self.plan
        per_epoch = plan.trained_tokens // plan.epochs if plan.epochs else 0
        epochs = auto_epochs(plan.examples) if request.n_epochs == "auto" else int(request.n_epochs)
        unit = self.prices.training_price(request.model)
        cost = None if unit is None else per_epoch * epochs * unit / 1_000_000
        text.append(f"Estimated training: {epochs} epochs × {per_epoch:,} tokens = {per_epoch * epochs:,} tokens, ")
        text.append(money(cost), style="bold")
        text.append("\n")
        if request.model == plan.request.model:
            warnings = list(plan.warnings)
        else:  # another model: warn from the price table (the live check ran for the planned model only)
            warnings = [w for w in plan.warnings if "examples" in w]
            warning = shutdown_warning(request.model, self.prices.shutdown_date(request.model))
            if warning:
                warnings.insert(0, f"{warning}; a model fine-tuned from it goes with it")
            if unit is None:
                warnings.append(f"no training price known for {request.model}: the cost is not estimated")
        for warning in warnings:
            text.append(f"⚠ {warning}\n", style="bold yellow")
        self.query_one("#estimate", Static).update(text)

    @on(Input.Changed)
    def _changed(self) -> None:
        self._update()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_create()

    @on(Button.Pressed, "#create")
    def action_create(self) -> None:
        request = self._request()
        if request is not None:
            self.dismiss(request)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question (y / n / Esc)."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="ConfirmDialog")
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, title: str, body: str, yes: str = "Yes") -> None:
        super().__init__()
        self._title, self._body, self._yes = title, body, yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, classes="title")
            yield Static(Text(self._body))
            with Horizontal(classes="buttons"):
                yield Button("No", id="no")
                yield Button(self._yes, id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


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
