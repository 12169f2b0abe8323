"""The Generate screen's `b` key: the rows left through the Batch API (half price, within 24 h).

A mixin of `GenerateScreen`, which supplies `running`, `plan`, `_begin`, `_set_status`,
`provider_ready`, `go_with_edits`, `refresh_plan` and the `_ended` event its worker sets; the work
itself is `core.run.batch_api.run_teacher_batch`, the same step as `distill-tui generate SPEC --batch`.
"""

from __future__ import annotations

from rich.markup import escape
from textual import work
from textual.widgets import Label

from distill_tui.core.run import progress_text as fmt
from distill_tui.tui.screens.generate_messages import BatchDone, BatchNews
from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog


class BatchActions:
    """Submit the rows left as a batch, or check on the batch in flight and collect it."""

    def action_batch(self) -> None:
        """Submit the rows left as a batch (after a confirmation), or check and collect the one in flight."""
        from distill_tui.core.run.batch_api import in_flight_note

        if self.running:
            return
        if in_flight_note(self.workspace, self.workspace.spec.teacher.model) is not None:
            self._run_batch()
            return
        plan = self.plan
        if plan is not None and not plan.to_ask:
            self.notify("Every train row is answered: nothing to send to the Batch API.")
            return
        if not self.provider_ready():
            self._run_batch()  # says "no API key…" at once, not after agreeing to send the rows
            return
        self.go_with_edits("submitting the batch", self._ask_batch)

    def _ask_batch(self) -> None:
        """Asked after the unsaved-edits question: the batch is built from the edited spec."""
        if self.running:
            return
        plan = self.plan
        rows = f"{plan.to_ask:,} rows" if plan else "the rows left"
        cost = f" (about {fmt.money(plan.cost_usd / 2)} instead of {fmt.money(plan.cost_usd)})" if (
            plan and plan.cost_usd is not None) else ""
        refused = "".join(f"\n\n⚠ {line}" for line in plan.refused) if plan else ""

        def answered(yes: bool | None) -> None:
            if yes and not self.running:
                self._run_batch()

        self.app.push_screen(ConfirmDialog(
            f"Send {rows} to the Batch API?",
            f"Half the standard price{cost}; the answers come within 24 hours. The batch id is saved at once "
            "and these rows are never asked twice: press b again (now or after a restart) to check on it and "
            f"collect its answers.{refused}", yes="Submit batch"), answered)

    def _run_batch(self) -> None:
        self._begin("batch", "Batch API: asking the provider…")
        self.batch_step()

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate-run")
    def batch_step(self) -> None:
        """One `generate --batch` step: submit the rows left, or poll and collect the batch in flight."""
        from distill_tui.core.run.batch_api import run_teacher_batch

        try:
            summary = run_teacher_batch(self.workspace, on_status=lambda line: self.post_message(BatchNews(line)))
        except Exception as exc:  # noqa: BLE001 - shown on screen as one line, never a traceback
            from distill_tui.core.run.engine_parts import explain_line

            self.post_message(BatchDone(explain_line(exc)[0], error=True))
        else:
            self.post_message(BatchDone(summary.message, error=summary.fatal is not None))
        finally:
            self._ended.set()

    def on_batch_news(self, message: "BatchNews") -> None:
        self._set_status(escape(message.line))

    def on_batch_done(self, message: "BatchDone") -> None:
        self.running = False
        self.batch_line = message.line
        self.last_error = message.line if message.error else None  # an error stays shown over the stored state
        self.query_one("#state", Label).update("batch")
        self._set_status(("[b]Batch:[/b] " if message.error else "") + escape(message.line), error=message.error)
        self.refresh_bindings()
        self.refresh_plan()
