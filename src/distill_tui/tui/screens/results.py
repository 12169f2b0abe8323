"""The Results screen: teacher, base student and each distilled student on the held-out rows, with
honest statistics, per-class detail and exports."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from distill_tui.core.common.errors import UserError
from distill_tui.core.evaluate import report
from distill_tui.stop_signals import STOP_WAIT_S
from distill_tui.tui.screens.base import BaseScreen
from distill_tui.tui.screens.results_messages import (EvalFinished, EvalProgress, JudgeProgressed, ModelEvaluated,
                                                      TableFailed, TableReady)
from distill_tui.tui.widgets.results_detail import MODES, TABLE_HEADERS, ClassDetail, short_model, table_cells
from distill_tui.tui.widgets.results_modals import AddModelModal, ExportModal
from distill_tui.tui.widgets.results_scores import ScorePane
from distill_tui.tui.widgets.results_status import idle_status, progress_line, summary_text
from distill_tui.tui.widgets.table_fill import fill_table

class ResultsScreen(BaseScreen):
    """The comparison table of every model of interest on the eval rows."""

    TITLE = "Results"
    MODE = "results"
    AUTO_FOCUS = "#models"
    HELP = """
Every model of interest answers the **held-out eval rows** (never used for training) with the same
prompt and the same engine as generation: rate limits, retries, the budget, and resume. Answers
already saved are reused, so **r** after an interruption only asks for what is missing.

- **n**: rows the model answered. Failed requests are counted under *fail*, never as wrong answers;
  a model whose every request failed shows **FAILED**, not 0 %.
- **acc** and **95% CI**: accuracy over n with its Wilson interval.
- **p(base)**: exact McNemar test against the base student on the rows both answered
  (+/-base: rows only this model got right / only the base got right).
- **inval**: answers that are not one of the labels (counted as wrong). **agree**: same answer as the teacher.
- **$/1k**: 1,000 predictions at list price; **spent**: what the saved answers cost.

A model **r** cannot ask says why under the table: one with no known price while `budget_usd` is
set (add it to prices.toml or remove the budget), or a fine-tuned model trained on another provider
(evaluate it there with `--base-url`). A student trained on this machine is served here for the
evaluation (`[serve]` in the spec); the line under the table says by what and how its answers were
constrained.

**v** opens the per-row browser: every eval row with each model's answer, sortable by disagreement.

Scroll right for the rest of the columns. The pane below shows the highlighted model's per-class
accuracy and largest confusions, its confusion matrix, or every model's **grader scores** as
`distill-tui eval` prints them: mean (95 % interval), pass rate, n, and the paired difference with the
base student, "not significant" when it is not; each grader then says how well it agrees with the rows
a person graded in **v** (kappa for pass/fail, Spearman for 1-5, with n; a warning when it is low or
n is under 30). **c** switches, and hides it; other kinds than classification start on the scores.
"""
    # Short descriptions: with the app's "? Help" and "1-6 Screens" the footer must fit 80 columns.
    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("x", "cancel", "Cancel"),
        Binding("c", "cycle_detail", "Detail"),
        Binding("m", "add_model", "Add"),
        Binding("d", "remove_model", "Remove model", show=False),
        Binding("k", "toggle_checkpoints", "Ckpts"),
        Binding("e", "export", "Export"),
        Binding("v", "rows", "Rows"),
    ]
    DEFAULT_CSS = """
    ResultsScreen #summary { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    ResultsScreen #summary.warning { color: $warning; text-style: bold; }
    ResultsScreen #summary.error { color: $error; }
    ResultsScreen #models { height: auto; max-height: 9; }
    ResultsScreen #status { height: auto; max-height: 4; padding: 0 1; }
    ResultsScreen #status.blocked { color: $warning; }
    ResultsScreen ClassDetail, ResultsScreen ScorePane { border-top: solid $panel-lighten-2; }
    """

    def compose_body(self) -> ComposeResult:
        yield Static("Loading…", id="summary")
        yield DataTable(id="models", cursor_type="row", fixed_columns=1)
        yield Static("", id="status")
        yield ClassDetail()
        yield ScorePane()

    def __init__(self) -> None:
        super().__init__()
        self._table: Any = None
        self._models: list[Any] = []
        self._selected: str | None = None
        self._detail_mode = MODES[0]
        self._table_seen = False  # a table was shown (the first picks the detail pane's mode)
        self._controls: Any = None
        self._note: str | None = None
        self._serving_started = False  # this run's status said the students' server starts
        self._failures: dict[str, str] = {}  # model → the error that stopped its last run
        self._reasons: dict[str, str] = {}  # model → why the last run did not ask it (EvalRun.reasons)
        self._fingerprint: Any = None  # what the shown table was built from
        self.last_export: Path | None = None
        self._ended = threading.Event()  # set while no evaluation worker runs
        self._ended.set()

    def on_screen_resume(self) -> None:
        # A visit (or a closed dialog) rebuilds the table only when what it is built from changed, e.g.
        # a job finished meanwhile. During a run the table follows the run's messages instead.
        from distill_tui.core.evaluate.run import table_fingerprint

        if not self.running and (self._fingerprint is None or table_fingerprint(self.workspace) != self._fingerprint):
            self.load_table()
        elif self.query_one(ScorePane).stale(self.workspace):  # grades given in the per-row browser
            self.query_one(ScorePane).load_agreement(self.workspace)

    def on_unmount(self) -> None:
        if self._controls is not None:
            self._controls.cancel()
            self._ended.wait(STOP_WAIT_S)  # let in-flight answers be saved before the store closes

    @property
    def running(self) -> bool:
        return self._controls is not None

    # the table ---------------------------------------------------------------------------------
    def _models_of_interest(self) -> list[Any]:
        from distill_tui.core.evaluate.run import CHECKPOINTS_SETTING, models_of_interest, saved_extras

        ws = self.workspace
        return models_of_interest(ws, saved_extras(ws), checkpoints=bool(ws.store.setting(CHECKPOINTS_SETTING, False)))

    def load_table(self) -> None:
        """Rebuild the table from the saved answers (in a worker)."""
        self._build_table(dict(self._failures), dict(self._reasons))

    @work(thread=True, exclusive=True, exit_on_error=False, group="results-table")
    def _build_table(self, failures: dict[str, str], reasons: dict[str, str]) -> None:
        from distill_tui.core.evaluate.comparison import build_table
        from distill_tui.core.evaluate.run import table_fingerprint

        try:
            # Taken first: a change while the table is built shows as a change on the next visit.
            fingerprint = table_fingerprint(self.workspace)
            models = self._models_of_interest()
            table = build_table(self.workspace, models, failures, reasons)
            self.post_message(TableReady(table, models, fingerprint))
        except UserError as exc:
            self.post_message(TableFailed(str(exc)))

    @on(TableReady)
    def show_table(self, message: TableReady) -> None:
        self._table, self._models, self._fingerprint = message.table, message.models, message.fingerprint
        if self._detail_mode == MODES[0] and message.table.kind != "classification" and not self._table_seen:
            self._detail_mode = "scores"  # per-class accuracy is classification's; scores are every kind's
        self._table_seen = True
        self.query_one(ScorePane).load_agreement(self.workspace)
        widget = self.query_one("#models", DataTable)
        keep = self._selected
        fill_table(widget, TABLE_HEADERS, [(row.model, table_cells(row)) for row in message.table.rows])
        names = [r.model for r in message.table.rows]
        if keep not in names:
            keep = report.default_selected(message.table)
        if keep in names:
            widget.move_cursor(row=names.index(keep), animate=False)
        self._selected = keep
        self._show_summary()
        self._show_detail()
        if not self.running:
            self._show_idle_status()

    @on(TableFailed)
    def show_failure(self, message: TableFailed) -> None:
        self._fingerprint = None  # try again on the next visit
        summary = self.query_one("#summary", Static)
        summary.update(Text(message.error))
        summary.set_class(True, "error")

    def _show_summary(self) -> None:
        summary = self.query_one("#summary", Static)
        summary.set_class(False, "error")
        text, warning = summary_text(self._table)
        summary.set_class(warning, "warning")
        summary.update(text)

    def _show_idle_status(self, note: str | None = None) -> None:
        """The status when nothing runs: the last outcome (kept across reloads), else what to do, then
        why a model is not asked and how the students served here answer (`idle_status`)."""
        status = self.query_one("#status", Static)
        self._note = note or self._note
        text, blocked = idle_status(self._table, self._note)
        status.set_class(blocked, "blocked")
        status.update(text)

    def _show_detail(self) -> None:
        pane, scores = self.query_one(ClassDetail), self.query_one(ScorePane)
        pane.display = self._detail_mode in ("classes", "matrix")
        scores.display = self._detail_mode == "scores"
        if self._table is None or self._detail_mode == "hidden":
            return
        if scores.display:
            scores.show(self._table)
            return
        row = self._table.row(self._selected or "")
        failure = (row.last_error or "every request failed") if row is not None and row.status == "failed" else None
        reason = row.reason if row is not None else None
        pane.show(self._table.details.get(self._selected or ""), self._detail_mode, failure, reason)

    @on(DataTable.RowHighlighted, "#models")
    def model_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value != self._selected:
            self._selected = event.row_key.value
            self._show_detail()

    def action_cycle_detail(self) -> None:
        self._detail_mode = MODES[(MODES.index(self._detail_mode) + 1) % len(MODES)]
        self._show_detail()

    # running -----------------------------------------------------------------------------------
    def action_run(self) -> None:
        if self.running:
            self.notify("An evaluation is already running (x cancels it).")
            return
        self.go_with_edits("evaluating", self._start_eval)

    def _start_eval(self) -> None:
        if self.running:
            return
        from distill_tui.core.run.engine_parts import Controls

        self._controls = Controls()
        self._note = None
        self._serving_started = False
        self._ended.clear()
        self.distill.track_run(self._controls, self._ended)
        self.query_one("#status", Static).update(Text("Starting the evaluation…"))
        self.run_eval(self._controls)

    @work(thread=True, exclusive=True, exit_on_error=False, group="results-eval")
    def run_eval(self, controls: Any) -> None:
        """Evaluate every model of interest; progress and results arrive as messages."""
        from distill_tui.core.evaluate.run import run_evaluation
        from distill_tui.core.provider.api_errors import describe

        try:
            run = run_evaluation(
                self.workspace, self._models_of_interest(), controls=controls,
                on_progress=lambda i, n, p: self.post_message(EvalProgress(i, n, p)),
                on_model_done=lambda m, r: self.post_message(ModelEvaluated(m, r)),
                on_judge_progress=lambda p: self.post_message(JudgeProgressed(p)),
            )
        except Exception as exc:  # a user's mistake or an API error the engine let through: one line
            self.post_message(EvalFinished(error=describe(exc)[0]))
        else:
            self.post_message(EvalFinished(run))
        finally:
            self._ended.set()

    @on(EvalProgress)
    def show_progress(self, message: EvalProgress) -> None:
        self.query_one("#status", Static).update(progress_line(message.index, message.count, message.progress))

    @on(JudgeProgressed)
    def show_judge_progress(self, message: JudgeProgressed) -> None:
        self.query_one("#status", Static).update(Text(message.progress.line()))

    @on(ModelEvaluated)
    def model_evaluated(self, message: ModelEvaluated) -> None:
        result = message.result
        if result.stopped == "fatal":
            self._failures[result.model] = result.fatal_error or result.message
            self.notify(f"{message.model.name}: {self._failures[result.model]}", severity="error", timeout=8)
        else:
            self._failures.pop(result.model, None)
        if result.stopped == "budget":
            self.notify(f"{message.model.name}: {result.message}", severity="warning", timeout=8)
        self._say_if_serving_starts(message.model.name)
        self.load_table()

    def _say_if_serving_starts(self, done: str) -> None:
        """The next model is a student served here with rows to ask: its server starts first, which
        sends no progress for a while (vLLM loads a model for minutes), so the status says so."""
        models = [m for m in self._models if not m.skip]
        names = [m.name for m in models]
        index = names.index(done) + 1 if done in names else len(names)
        if index >= len(models) or not models[index].served or self._serving_started or self.workspace.spec.serve.url:
            return  # a server at [serve] url is the user's: nothing starts
        row = self._table.row(models[index].name) if self._table is not None else None
        if row is None or row.status != "ok":
            self._serving_started = True
            engine = models[index].served.split(",")[0]
            self.query_one("#status", Static).update(Text(
                f"[{index + 1}/{len(models)}] {short_model(models[index].name, 30)}: starting the students' "
                f"server ({engine}); loading the model can take minutes…"))

    @on(EvalFinished)
    def eval_finished(self, message: EvalFinished) -> None:
        self._controls = None
        if message.error:
            self._show_idle_status(f"Evaluation stopped: {message.error}")
            self.notify(message.error, severity="error")
            return
        run = message.run
        self._reasons = dict(run.reasons)
        what = {"cancelled": "cancelled", "budget": "stopped at the budget"}.get(run.stopped or "", "finished")
        self._show_idle_status(f"Evaluation {what}: {run.requests} requests, ${run.cost_usd:.4f} this run")
        self.load_table()

    def action_cancel(self) -> None:
        if self._controls is None:
            self.notify("Nothing is running.")
            return
        self._controls.cancel()
        self.query_one("#status", Static).update(Text("Cancelling: waiting for the requests in flight…"))

    # models ------------------------------------------------------------------------------------
    def action_add_model(self) -> None:
        from distill_tui.core.evaluate.run import save_extras, saved_extras

        def added(name: str | None) -> None:
            if not name:
                return
            if any(m.name == name for m in self._models):
                self.notify(f"{name} is already in the table.")
                return
            save_extras(self.workspace, [*saved_extras(self.workspace), name])
            self.notify(f"{name} added: press r to evaluate it.")
            self.load_table()

        self.app.push_screen(AddModelModal(), added)

    def action_remove_model(self) -> None:
        from distill_tui.core.evaluate.run import save_extras, saved_extras

        extras = saved_extras(self.workspace)
        if self._selected not in extras:
            self.notify("Only models added with m can be removed.")
            return
        save_extras(self.workspace, [n for n in extras if n != self._selected])
        self.load_table()

    def action_toggle_checkpoints(self) -> None:
        from distill_tui.core.evaluate.run import CHECKPOINTS_SETTING

        store = self.workspace.store
        on_now = not bool(store.setting(CHECKPOINTS_SETTING, False))
        store.set_setting(CHECKPOINTS_SETTING, on_now)
        self.notify("Checkpoints are in the table." if on_now else "Checkpoints are left out.")
        self.load_table()

    def action_rows(self) -> None:
        from distill_tui.tui.widgets.results_rows import RowBrowser

        if self._table is None:
            self.notify("Nothing to show yet.")
            return
        self.app.push_screen(RowBrowser(self.workspace, self._models))

    # export ------------------------------------------------------------------------------------
    def action_export(self) -> None:
        import time

        from distill_tui import locations

        if self._table is None:
            self.notify("Nothing to export yet.")
            return
        folder = locations.exports_dir(self.workspace.spec.source)
        stem = f"comparison-{time.strftime('%Y%m%d-%H%M%S')}"
        self.app.push_screen(ExportModal(folder, stem), self._export_to)

    def _export_to(self, choice: tuple[str, Path] | None) -> None:
        if choice is None or self._table is None:
            return
        from distill_tui.core.evaluate import calibration

        fmt, path = choice
        try:  # the graders' agreement with the person's grades goes with the scores, as eval exports it
            written = report.export(self._table, path, fmt, selected=self._selected,
                                    agreements=calibration.calibrate(self.workspace))
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self.last_export = written
        self._show_idle_status(f"Exported to {written}")
        self.notify(f"Exported to {written}")
