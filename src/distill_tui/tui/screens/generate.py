"""Screen 3: teacher generation with live progress.

The run happens in a thread worker that calls `core.generate.run_teacher`; its progress snapshots
arrive as `GenerationProgress` messages that coalesce (only the newest waiting one is handled), so
the UI stays responsive however fast answers land. While another process runs the teacher in this
workspace, the plan is recounted from the store every few seconds instead.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, Static

from distill_tui.stop_signals import STOP_WAIT_S
from distill_tui.tui.screens.base import BaseScreen
from distill_tui.tui.screens.generate_batch import BatchActions
from distill_tui.tui.screens.generate_confirm import ASK_ABOVE_SHARE, SpendConfirm
from distill_tui.tui.screens.generate_messages import (
    GenerationFinished,
    GenerationProgress,
    PlanReady,
    pilot_line,
)
from distill_tui.tui.screens.generate_text import (
    holder_text,
    live_text,
    next_hint,
    plan_text,
)
from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
from distill_tui.tui.widgets.progress_feed import AnswerFeed, ErrorFeed
from distill_tui.tui.widgets.progress_stats import ProgressStats

if TYPE_CHECKING:
    from textual.timer import Timer

    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.run.generate import Progress, RunResult
    from distill_tui.core.run.plan import Plan
    from distill_tui.core.run.plan import RunHolder

SMOKE_ROWS = 20
POLL_S = 2.0
"""Seconds between recounts while another process runs the teacher (longer if recounting is slow)."""


class GenerateScreen(SpendConfirm, BatchActions, BaseScreen):
    """Run or resume the teacher on the train rows, and watch it."""

    TITLE = "Generate"
    MODE = "generate"
    BINDINGS = [
        Binding("s", "start", "Start"),
        Binding("p", "pause", "Pause/resume"),
        Binding("x", "cancel", "Cancel"),
        Binding("r", "retry_failed", "Retry failed"),
        Binding("f", "smoke", f"{SMOKE_ROWS} rows first"),
        Binding("b", "batch", "Batch"),
        Binding("c", "curate", "Curate"),
    ]
    HELP = f"""
Asks the **teacher** model every **train** row and saves each answer the moment it arrives, so
nothing paid for is lost: quit, crash or lose the connection, then press **s** again to resume.
Rows already answered are never asked again; rows that failed are asked again.

- **s** starts (or resumes) the run; **f** asks only {SMOKE_ROWS} rows first, to check prompts and cost.
  **s** and **r** ask first, showing the estimate, when no `budget_usd` is set, the run would take
  more than {ASK_ABOVE_SHARE:.0%} of the budget left, or the provider would refuse every request.
- **p** pauses: no new requests go out, those in flight finish. **p** again resumes.
- **x** cancels after a confirmation; requests in flight finish and are saved.
- **r** asks again only the rows that failed.
- **b** sends the rows left to the **Batch API** instead: half the price, answers within 24 h. The
  batch id is saved the moment it exists and its rows are never asked twice; press **b** again (now
  or after a restart) to check on it and collect its answers when it has ended.
- **c** opens curation.

In **last errors**, ↻ marks a row that is asked again, ✓ (dimmed) one a retry answered, and ✗ a
row that failed (asked again by **r** or the next run).

The run keeps to the rate limits in the spec (`rpm`, `tpm`) or learns them from the provider's
`x-ratelimit-*` headers; a 429 slows the whole pool down. It stops before the spend would pass
`budget_usd` (counting earlier runs), and at once on a bad key, an unknown model or no quota.
The same run without a terminal: `distill-tui generate SPEC`.
"""
    DEFAULT_CSS = """
    GenerateScreen #plan { height: auto; padding: 0 1; }
    GenerateScreen #bar-row { height: 1; padding: 0 1; }
    GenerateScreen #bar-row ProgressBar { width: 1fr; }
    GenerateScreen #bar-row Bar { width: 1fr; }
    GenerateScreen #state { width: auto; padding: 0 0 0 1; }
    GenerateScreen #status { height: auto; max-height: 3; padding: 0 1; }
    GenerateScreen #feeds { height: 1fr; min-height: 5; }
    GenerateScreen AnswerFeed { width: 46; height: 1fr; border: round $primary; padding: 0 1; }
    GenerateScreen ErrorFeed { width: 1fr; height: 1fr; border: round $error; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.controls: Controls | None = None
        self.running = False
        self.plan: Plan | None = None
        self.last_progress: Progress | None = None
        self.last_result: RunResult | None = None
        self.last_error: str | None = None
        self.holder: RunHolder | None = None
        self.batch_note: str | None = None  # a Batch API batch of these rows not collected yet
        self.batch_line: str | None = None  # what the last Batch API step said
        self._poll: Timer | None = None
        self._ended = threading.Event()
        self._ended.set()

    def compose_body(self) -> ComposeResult:
        yield Static("Counting rows and estimating cost…", id="plan")
        with Horizontal(id="bar-row"):
            yield ProgressBar(total=None, show_eta=False, id="bar")
            yield Label("idle", id="state")
        yield Static("", id="status")
        yield ProgressStats(id="stats")
        with Horizontal(id="feeds"):
            answers = AnswerFeed(self.workspace.spec, id="answers")
            answers.border_title = "last answers"
            yield answers
            errors = ErrorFeed(id="errors")
            errors.border_title = "last errors"
            yield errors

    def on_mount(self) -> None:
        self.query_one(ProgressStats).show(None, None)
        self.refresh_plan()

    def on_screen_resume(self) -> None:
        if not self.running and self.plan is not None:
            self.refresh_plan()

    def on_unmount(self) -> None:
        if self.controls is not None and self.running:
            self.controls.cancel()
            self._ended.wait(STOP_WAIT_S)  # let in-flight answers be saved before the store closes

    # plan -------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="generate-plan")
    def refresh_plan(self) -> None:
        from distill_tui.core.common.errors import UserError
        from distill_tui.core.run.batch_api import in_flight_note
        from distill_tui.core.run.plan import teacher_plan
        from distill_tui.core.run.plan import recent_answers, run_holder

        started = time.monotonic()
        store, model = self.workspace.store, self.workspace.spec.teacher.model
        holder = run_holder(store, model)
        answers = recent_answers(store, model, "train", AnswerFeed.SIZE) if holder else None
        try:
            plan = teacher_plan(self.workspace)
        except UserError as exc:
            self.post_message(PlanReady(None, str(exc), holder=holder))
            return
        note = in_flight_note(self.workspace, plan.model, collect="b checks and collects it")
        self.post_message(PlanReady(plan, batch_note=note, holder=holder, answers=answers,
                                    took_s=time.monotonic() - started, pilot=pilot_line(self.workspace, plan)))

    def on_plan_ready(self, message: PlanReady) -> None:
        plan_widget = self.query_one("#plan", Static)
        if message.plan is None:
            plan_widget.update(f"[b]Cannot plan the run:[/b] {escape(message.error or '')}")
            return
        self.plan = plan = message.plan
        self.show_workspace_notes()
        note = f"\n{escape(message.batch_note)}" if message.batch_note else ""
        warnings = "".join(f"\n[b]⚠[/b] {escape(line)}" for line in plan.warnings)
        pilot = f"\n{escape(message.pilot)}" if message.pilot else ""
        plan_widget.update(plan_text(plan) + pilot + warnings + note)
        held_before, self.holder = self.holder, None if self.running else message.holder
        if self.holder is not None:
            self.last_progress = None  # a run of ours that ended before this one is history now
            self.query_one(AnswerFeed).show(message.answers)
            self.query_one(ErrorFeed).show([])
            self._stop_polling()
            self._poll = self.set_timer(max(POLL_S, 2 * message.took_s), self.refresh_plan)
        if self.last_progress is None:
            self.query_one(ProgressStats).show(None, plan)
            bar = self.query_one(ProgressBar)
            bar.update(total=max(1, plan.total), progress=plan.done)
        self.batch_note = message.batch_note
        fresh = self.last_result is None and not self.last_error
        if not self.running and (self.holder != held_before or fresh):
            self._show_stored_state(plan)
        self.refresh_bindings()

    def _show_stored_state(self, plan: "Plan") -> None:
        """The state and hint when nothing runs here: from the store, so a restart shows them too."""
        state = self.query_one("#state", Label)
        if self.holder is not None:
            state.update("running elsewhere")
            self._set_status(escape(holder_text(self.holder, plan.model)))
            return
        if self.batch_note:
            state.update("batch")
            self._set_status(escape(self.batch_line or "A Batch API batch holds rows of this run: b checks on it "
                                    "and collects its answers once it has ended."))
            return
        if plan.total and not plan.to_ask:
            state.update("done")
            self._set_status(f"all {plan.total:,} rows answered · c to curate")
            return
        state.update("idle")
        if not plan.done and not plan.failed:
            self._set_status(f"Press s to start, f to try {SMOKE_ROWS} rows first, b for the Batch API (half price).")
            return
        failed = f", {plan.failed:,} failed; r asks them again" if plan.failed else ""
        more = f" · s resumes, f tries {SMOKE_ROWS} rows first" if plan.left else ""
        self._set_status(f"{plan.done:,} of {plan.total:,} rows answered{failed}{more}")

    def _stop_polling(self) -> None:
        if self._poll is not None:
            self._poll.stop()
            self._poll = None

    # running ----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("start", "smoke", "batch"):
            return not self.running
        if action == "retry_failed":
            return not self.running and bool(self.plan and self.plan.failed)
        if action in ("pause", "cancel"):
            return self.running
        return True

    def action_smoke(self) -> None:
        self._start(limit=SMOKE_ROWS)

    def _launch(self, options: dict) -> None:
        if self.running:
            return
        from distill_tui.core.run.engine_parts import Controls

        self.controls = Controls()
        self.last_error = None
        self._begin("running", "Starting…")
        self.distill.track_run(self.controls, self._ended)
        self.run_generation(self.controls, options)

    def _begin(self, state: str, status: str) -> None:
        """Mark the screen busy (a run or a Batch API step) before its worker starts."""
        self.running = True
        self._stop_polling()
        self._ended.clear()
        self._set_status(status)
        self.query_one("#state", Label).update(state)
        self.refresh_bindings()

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate-run")
    def run_generation(self, controls: "Controls", options: dict) -> None:
        from distill_tui.core.common.errors import UserError
        from distill_tui.core.run.generate import run_teacher

        try:
            result = run_teacher(self.workspace, controls=controls, on_progress=self._post_progress, **options)
        except UserError as exc:
            from distill_tui.core.run.plan import run_holder

            model = self.workspace.spec.teacher.model
            holder = run_holder(self.workspace.store, model)
            # The lock's own refusal is too long for the status lines; say the same in fewer words.
            line = holder_text(holder, model, starting=True) if holder else str(exc)
            self.post_message(GenerationFinished(None, line))
        except Exception as exc:  # noqa: BLE001 - shown on screen as one line, never a traceback
            from distill_tui.core.run.engine_parts import explain_line

            self.post_message(GenerationFinished(None, explain_line(exc)[0]))
        else:
            self.post_message(GenerationFinished(result))
        finally:
            self._ended.set()

    def _post_progress(self, progress: "Progress") -> None:
        self.post_message(GenerationProgress(progress))

    def on_generation_progress(self, message: GenerationProgress) -> None:
        self.show_progress(message.progress)

    def show_progress(self, p: "Progress") -> None:
        """Paint one snapshot (also used by tests to show a fixed one)."""
        self.last_progress = p
        if p.state in ("running", "paused", "stopping"):
            # After the run, the plan is recounted from the store (refresh_plan) and shown instead.
            self.query_one("#plan", Static).update(live_text(p))
        bar = self.query_one(ProgressBar)
        bar.update(total=None if p.planning else max(1, p.total), progress=p.done + p.failed)
        self.query_one("#state", Label).update(p.state)
        self.query_one(ProgressStats).show(p)
        self.query_one(AnswerFeed).show(p.last_answers)
        self.query_one(ErrorFeed).show(p.last_errors)
        if p.state == "paused":
            self._set_status("Paused: requests in flight finish; press p to resume.")
        elif p.state == "stopping":
            self._set_status("Stopping: waiting for the requests in flight…")
        elif p.state == "running":
            self._set_status("Running. p pause · x cancel")

    def on_generation_finished(self, message: GenerationFinished) -> None:
        self.running = False
        self.last_result = message.result
        self.last_error = message.error
        state = self.query_one("#state", Label)
        if message.result is None:
            state.update("not started")
            self._set_status(f"[b]Cannot start:[/b] {escape(message.error or '')}", error=True)
        else:
            result = message.result
            state.update({None: "done", "fatal": "failed"}.get(result.stopped, result.stopped or "done"))
            bad = result.stopped == "fatal" or (result.failed and result.stopped is None)
            prefix = "[b]Stopped:[/b] " if result.stopped == "fatal" else ""
            hint = "" if result.stopped == "fatal" else next_hint(result)
            self._set_status(prefix + escape(result.message) + hint, error=bool(bad))
        self.refresh_bindings()
        self.refresh_plan()

    def _set_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.set_class(error, "error")
        status.update(text)

    def action_pause(self) -> None:
        if not self.running or self.controls is None:
            return
        if self.controls.paused:
            self.controls.resume()
            self._set_status("Resumed.")
        else:
            self.controls.pause()
            self._set_status("Pausing: requests in flight finish; press p to resume.")

    def action_cancel(self) -> None:
        if not self.running or self.controls is None:
            return
        controls = self.controls

        def confirmed(answer: bool | None) -> None:
            if answer and self.running:
                controls.cancel()
                self._set_status("Cancelling: waiting for the requests in flight…")

        self.app.push_screen(ConfirmDialog(
            "Cancel the run?", "Requests in flight finish and are saved; the rest can be resumed later with s.",
            yes="Cancel run"), confirmed)

    def action_curate(self) -> None:
        try:
            self.app.switch_mode("curate")
        except Exception as exc:  # noqa: BLE001 - a missing screen must not crash the app
            self.notify(f"Cannot open curation: {exc}", severity="error")
