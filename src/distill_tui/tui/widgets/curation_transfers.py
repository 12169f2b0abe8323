"""Export and import on the curation screen: thread workers and the dialogs around them.

`CurationTransfers` is mixed into `CurateScreen`; it relies on the screen's `workspace`, `cur`,
`status`, `_changed`, `_show_bar` and `load`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.message import Message

from distill_tui.tui.widgets.curation_dialogs import AskDialog, ExportDialog

if TYPE_CHECKING:
    from distill_tui.core.export import ExportPlan, ExportResult
    from distill_tui.core.importer import ImportResult


class ExportPlanned(Message):
    """The export was planned and validated (or could not be)."""

    def __init__(self, plan: "ExportPlan | None", error: str | None = None) -> None:
        super().__init__()
        self.plan, self.error = plan, error


class ExportWritten(Message):
    """The export was written (or could not be)."""

    def __init__(self, result: "ExportResult | None", error: str | None = None) -> None:
        super().__init__()
        self.result, self.error = result, error


class ImportDone(Message):
    """The import finished (or failed)."""

    def __init__(self, result: "ImportResult | None", error: str | None = None) -> None:
        super().__init__()
        self.result, self.error = result, error


def error_line(exc: Exception) -> str:
    """One line for a failure in a worker (user mistakes and API errors explained; never a traceback)."""
    from distill_tui.core.apierrors import explain
    from distill_tui.core.errors import UserError, WorkFailed

    if isinstance(exc, (UserError, WorkFailed)):
        return str(exc)
    explained = explain(exc)
    return explained[0] if explained else f"{type(exc).__name__}: {exc}"


class CurationTransfers:
    """Keys `e` (validate, show the report, write), `t` (fine-tune on the newest export) and `I`
    (import stored completions)."""

    # export -----------------------------------------------------------------------------------
    def action_export(self) -> None:
        self.status = "validating the selection…"
        self._show_bar()
        self.plan_export()

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate-export")
    def plan_export(self) -> None:
        from distill_tui.core.export import plan_export

        try:
            fraction = self.workspace.spec.finetune.validation_fraction
            self.post_message(ExportPlanned(plan_export(self.cur, validation_fraction=fraction)))
        except Exception as exc:
            self.post_message(ExportPlanned(None, error_line(exc)))

    def on_export_planned(self, message: ExportPlanned) -> None:
        from distill_tui.core.export import default_path

        plan = message.plan
        if plan is None:
            self._changed(f"export failed: {message.error}")
            return
        self._changed("export: OK, choose where" if plan.ok else "export: would be rejected, nothing written")

        def chosen(path: str | None) -> None:
            if path:
                self.write_export(plan, path)

        self.app.push_screen(ExportDialog(plan.lines(), plan.ok, str(default_path(self.workspace.spec))), chosen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate-export")
    def write_export(self, plan: "ExportPlan", path: str) -> None:
        from pathlib import Path

        from distill_tui.core.export import write_export

        validation = None
        if plan.validation_report is not None:
            p = Path(path)
            validation = p.with_name(p.stem + "-validation.jsonl")
        try:
            self.post_message(ExportWritten(write_export(plan, path, validation, store=self.workspace.store)))
        except Exception as exc:
            self.post_message(ExportWritten(None, error_line(exc)))

    def on_export_written(self, message: ExportWritten) -> None:
        result = message.result
        if result is None:
            self._changed(f"export failed: {message.error}")
            return
        line = f"wrote {result.examples:,} examples to {result.path}"
        if result.validation_path:
            line += f" (+{result.validation_examples:,} to {result.validation_path.name})"
        self._changed(line)
        self.notify(line, title="Exported", timeout=8)

    # import -----------------------------------------------------------------------------------
    async def action_finetune(self) -> None:
        """Create a fine-tuning job from the newest export: the Jobs screen's confirm dialog does it."""
        if not self.workspace.store.exports():
            self.notify("Export the selection first (e), then t fine-tunes on that file.", severity="warning")
            return
        await self.app.switch_mode("jobs")
        await self.app.screen.run_action("new_job")

    def action_import_stored(self) -> None:
        meta = ", ".join(f"{k}={v}" for k, v in self.workspace.spec.generation.metadata.items())

        def done(values: dict | None) -> None:
            if values is not None:
                self.status = "importing stored completions…"
                self._show_bar()
                self.import_stored(values["metadata"], values["model"].strip() or None)

        self.app.push_screen(AskDialog(
            "Import stored completions", "Completions stored on the provider (store=true) with this metadata "
            "tag become answers to curate; their input messages are fetched one by one.",
            [("metadata", "metadata (key=value, …)", meta, "distillation=wine"),
             ("model", "model (optional)", "", "any model")]), done)

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate-import")
    def import_stored(self, metadata_text: str, model: str | None) -> None:
        from textual.worker import get_current_worker

        from distill_tui.core.importer import import_stored, parse_metadata

        worker = get_current_worker()
        try:
            result = import_stored(self.workspace, parse_metadata(metadata_text), model,
                                   should_stop=lambda: worker.is_cancelled)
            self.post_message(ImportDone(result))
        except Exception as exc:
            self.post_message(ImportDone(None, error_line(exc)))

    def on_import_done(self, message: ImportDone) -> None:
        r = message.result
        if r is None:
            self.status = f"import failed: {message.error}"
            self._show_bar()
            return
        self.status = (f"imported {r.imported:,} completions ({r.with_gold:,} with a gold label, "
                       f"{r.already:,} already here, {r.unusable:,} unusable)")
        self.load()
