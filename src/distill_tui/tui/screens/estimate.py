"""The Estimate screen: what each stage of the run will cost before anything is spent, with the
teacher, student and epochs editable in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Static

from distill_tui.core.common.errors import UserError
from distill_tui.tui.screens.base import BaseScreen

MODEL_WIDTH = 13
STAGE_COLUMNS = (("stage", 15), ("model", MODEL_WIDTH), ("req", 6), ("input tok", 9), ("output", 7), ("cost", 8),
                 ("batch", 8))
# The stage table's width with the model column at MODEL_WIDTH (80): each column plus 2 cells of padding.
TABLE_WIDTH_AT_80 = sum(width + 2 for _, width in STAGE_COLUMNS)
WIDTHS = dict(STAGE_COLUMNS)

SHORT_NAMES = {
    "teacher: train rows": "teacher train",
    "teacher: eval rows": "teacher eval",
    "base student: eval rows": "student eval",
    "fine-tune training": "fine-tune",
    "distilled student: eval rows": "distilled eval",
}


def short_name(stage: str) -> str:
    """A stage's name for the 15-cell column: 'judge NAME: eval answers' is 'judge NAME' (the estimate
    prices judges on eval answers only)."""
    return SHORT_NAMES.get(stage, stage.removesuffix(": eval answers"))


def money(value: float | None) -> str:
    """Dollars with enough digits to tell small costs apart; "unknown" when there is no price."""
    if value is None:
        return "unknown"
    if value < 0.01:
        return f"${value:.4f}"
    if value < 100:
        return f"${value:,.2f}"
    return f"${value:,.0f}"


def fit_count(value: int, width: int) -> str:
    """A count whole when it fits its column, else in thousands (or millions, billions): a cell cut
    at its width would read `28,872,20` for 28,872,200 tokens, ten times too few."""
    whole = f"{value:,}"
    if len(whole) <= width:
        return whole
    for divisor, unit in ((1_000, "k"), (1_000_000, "M"), (1_000_000_000, "B")):
        short = f"{round(value / divisor):,}{unit}"
        if len(short) <= width:
            return short
    return short


@dataclass
class EstimateReady(Message):
    estimate: Any
    extras: tuple = ()  # the reasoning range and the estimate from pilot (core.cost.pilot), when there are


@dataclass
class EstimateFailed(Message):
    error: str


class EstimateScreen(BaseScreen):
    """The cost plan of the whole run."""

    TITLE = "Estimate"
    MODE = "estimate"
    AUTO_FOCUS = "#stages"
    HELP = """
The cost of every stage, counted exactly with the models' tokenizers over the prepared rows:
the teacher on the train rows, the teacher and the base student on the eval rows, fine-tune training
(train tokens × epochs; "auto" follows OpenAI's rule: 3 epochs, raised so at least 100 examples are
seen, lowered so at most 25,000 are), and the distilled student on the eval rows.
**Batch** is the Batch API price (50 %, results within 24 h). Structured answers are sized by the
longest label. A model without a known price shows its tokens and "unknown", never a guess.
Edit the teacher, the student or the epochs on top and press Enter; Ctrl+S saves them to the spec.
Prices are data with a date: put your own in the config folder's `prices.toml` to override them.
Warnings say what the provider would refuse: a label enum over its structured-output limits, or rows
whose prompt plus max_tokens exceed a model's context window (left out of its stages and of runs).
Those limits are dated data too: override or add them in the config folder's `models.toml`.
A reasoning model's reasoning tokens (billed as output) make the total a range; after a smoke run
(f on the Generate screen, or `generate --limit N`) the estimate from pilot uses what its answers used.
"""
    BINDINGS = [
        Binding("m", "focus_field('teacher')", "Models"),
        Binding("E", "focus_field('epochs')", "Epochs"),
        Binding("r", "refresh", "Recount"),
        Binding("ctrl+s", "save_spec", "Save spec"),
        Binding("escape", "focus_table", "Back to table", show=False),
    ]
    DEFAULT_CSS = """
    EstimateScreen #fields { height: 1; }
    EstimateScreen #fields Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    EstimateScreen #fields Input { border: none; height: 1; padding: 0; background: $boost; margin-right: 1; }
    EstimateScreen #fields Input:focus { background: $accent 30%; }
    EstimateScreen #f-teacher, EstimateScreen #f-student { width: 1fr; }
    EstimateScreen #f-epochs { width: 6; }
    EstimateScreen #stages { height: auto; max-height: 9; margin-top: 1; }
    EstimateScreen #summary { height: 1fr; }
    EstimateScreen #status { height: auto; max-height: 2; color: $text-muted; }
    EstimateScreen #status.error { color: $error; }
    """

    def compose_body(self) -> ComposeResult:
        spec = self.workspace.spec
        with Horizontal(id="fields"):
            yield Label("Teacher")
            yield Input(spec.teacher.model, id="f-teacher")
            yield Label("Student")
            yield Input(spec.student.model, id="f-student")
            yield Label("Epochs")
            yield Input(str(spec.finetune.n_epochs), id="f-epochs")
        yield Static("Counting tokens…", id="status")
        table = DataTable(id="stages", cursor_type="row", zebra_stripes=True)
        yield table
        with VerticalScroll(id="summary"):
            yield Static("", id="summary-text")

    _plan: Any = None
    _model_width = 0

    def on_mount(self) -> None:
        self._set_columns()
        self.action_refresh()

    def _set_columns(self) -> bool:
        """(Re)create the columns (and refill the rows) when the model column's width changes: it takes
        the room beyond 80 columns, up to the longest model name. True when it did."""
        table = self.query_one("#stages", DataTable)
        longest = max((len(stage.model) for stage in self._plan.stages), default=0) if self._plan else 0
        spare = max(0, self.size.width - TABLE_WIDTH_AT_80)
        width = max(MODEL_WIDTH, min(MODEL_WIDTH + spare, longest))
        if width == self._model_width:
            return False
        self._model_width = width
        table.clear(columns=True)
        for name, cells in STAGE_COLUMNS:
            table.add_column(name, width=width if name == "model" else cells, key=name)
        if self._plan is not None:
            self._fill(self._plan)
        return True

    def on_resize(self) -> None:
        self._set_columns()

    def on_screen_resume(self) -> None:
        # Another screen may have edited the spec while this one was hidden.
        if getattr(self, "_computed_for", None) is not self.workspace.spec:
            self.action_refresh()

    def action_refresh(self) -> None:
        self._computed_for = self.workspace.spec
        self.query_one("#status", Static).update("Counting tokens…")
        self.compute()

    @work(thread=True, exclusive=True, exit_on_error=False, group="estimate")
    def compute(self) -> None:
        from distill_tui.core.cost.estimate import build_estimate

        from distill_tui.core.cost import pilot
        from distill_tui.core.cost.capabilities import load_models

        ws = self.workspace
        try:
            plan = build_estimate(ws.spec, ws.data, ws.prices)
            spread = pilot.reasoning_range(plan, ws.spec, load_models(), ws.prices)
        except UserError as exc:
            self.post_message(EstimateFailed(str(exc)))
            return
        answers = [a for m in {ws.spec.teacher.model, ws.spec.student.model} for a in ws.store.answers(model=m)]
        extras = tuple(x for x in (spread, pilot.from_pilot(plan, answers, ws.prices)) if x is not None)
        self.post_message(EstimateReady(plan, extras))

    @on(EstimateFailed)
    def show_failure(self, message: EstimateFailed) -> None:
        status = self.query_one("#status", Static)
        status.update(Text(message.error))
        status.add_class("error")

    @on(EstimateReady)
    def show_estimate(self, message: EstimateReady) -> None:
        self._plan = plan = message.estimate
        self._show_status()
        if not self._set_columns():  # the columns fit the new plan already: only the rows change
            self._fill(plan)
        self.query_one("#summary-text", Static).update(self._summary(plan, message.extras))

    def _show_status(self) -> None:
        plan = self._plan
        status = self.query_one("#status", Static)
        status.remove_class("error")
        status.update(
            f"{plan.rows:,} rows · {plan.train_rows:,} train · {plan.eval_rows:,} eval · prices as of {plan.prices_as_of}"
            + (" · unsaved edits (Ctrl+S)" if self.spec_unsaved() else "")
        )

    def _fill(self, plan: Any) -> None:
        table = self.query_one("#stages", DataTable)
        table.clear()
        for stage in plan.stages:
            table.add_row(
                Text(short_name(stage.name), overflow="ellipsis"), Text(stage.model, overflow="ellipsis"),
                fit_count(stage.requests, WIDTHS["req"]), fit_count(stage.input_tokens, WIDTHS["input tok"]),
                fit_count(stage.output_tokens, WIDTHS["output"]), money(stage.cost_usd), money(stage.batch_cost_usd),
            )
        table.add_row(Text("total", style="bold"), "", "", "", "", Text(money(plan.total_cost_usd), style="bold"),
                      Text(money(plan.total_batch_cost_usd), style="bold"))

    def _summary(self, plan: Any, extras: tuple = ()) -> Text:
        text = Text()
        for extra in extras:  # "with reasoning: $a–$b …", "estimate from pilot: N answers …"
            text.append(extra.line()[0].upper() + extra.line()[1:] + "\n", style="bold")
        epochs = f"{plan.n_epochs} epochs{' (auto)' if plan.epochs_auto else ''}"
        text.append(f"Fine-tuning: {epochs} × {plan.training_tokens_per_epoch:,} tokens per epoch\n")
        text.append("Per 1k predictions: teacher ")
        text.append(money(plan.teacher_cost_per_1k), style="bold")
        text.append(" · distilled student ")
        text.append(money(plan.distilled_cost_per_1k), style="bold")
        text.append("\n")
        cached = sum(stage.cached_input_tokens for stage in plan.stages)
        if cached:
            text.append(f"Prompt cache: {cached:,} input tokens at the cached price (see the note)\n")
        if plan.self_hosted is not None:  # [finetune] backend = "local": GPU time and where each figure is from
            text.append("\n".join(plan.self_hosted.lines()) + "\n")
        if plan.break_even_predictions:
            text.append(f"Distilling pays for itself after {plan.break_even_predictions:,} predictions "
                        "(training + teacher answers, against calling the teacher)\n")
        for warning in plan.warnings:
            text.append(f"⚠ {warning}\n", style="bold yellow")
        for note in plan.notes:
            text.append(f"· {note}\n", style="dim")
        text.append(f"Prices: {plan.prices_source}", style="dim")
        return text

    # editing -----------------------------------------------------------------------------------
    @on(Input.Submitted)
    def apply_field(self, event: Input.Submitted) -> None:
        from distill_tui.core.task.spec import parse_spec

        key = (event.input.id or "").removeprefix("f-")
        raw = event.value.strip()
        spec = self.workspace.spec
        data = spec.to_toml_dict()
        if key in ("teacher", "student"):
            data[key] = {"model": raw}
        else:
            data["finetune"]["n_epochs"] = raw if raw == "auto" else (int(raw) if raw.isdigit() else raw)
        try:
            new_spec = parse_spec(data, spec.source)
        except UserError as exc:
            self.show_failure(EstimateFailed(str(exc)))
            return
        self.workspace.set_spec(new_spec)
        self.action_refresh()
        self.action_focus_table()

    def action_save_spec(self) -> None:
        if self.save_spec() and self._plan is not None:
            self._show_status()

    def action_focus_field(self, name: str) -> None:
        self.query_one(f"#f-{name}", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#stages", DataTable).focus()
