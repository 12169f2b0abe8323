"""Export and import on the curation screen: thread workers and the dialogs around them.

`CurationTransfers` is mixed into `CurateScreen`; it relies on the screen's `workspace`, `cur`,
`status`, `_changed`, `_show_bar` and `load`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message

from distill_tui.tui.widgets.curation_dialogs import AskDialog, ExportDialog

if TYPE_CHECKING:
    from distill_tui.core.curate.export import ExportPlan, ExportResult
    from distill_tui.core.curate.importer import ImportResult


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


def shorten_path(path: str | Path, width: int) -> str:
    """`path` in at most `width` characters: the home folder as `~`, then an ellipsis in the middle,
    keeping as much of the file name as fits (it is what tells exports apart)."""
    text, home = str(path), str(Path.home())
    if text == home or text.startswith(home + os.sep):
        text = "~" + text[len(home):]
    if len(text) <= width:
        return text
    width = max(width, 5)
    tail = min(len(os.sep + Path(text).name), width - 2)
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail:]


def error_line(exc: Exception) -> str:
    """One line for a failure in a worker (user mistakes and API errors explained; never a traceback)."""
    from distill_tui.core.provider.api_errors import describe

    return describe(exc)[0]


class CurationTransfers:
    """Keys `e` (validate, show the report, write), `t` (fine-tune on the newest export) and `I`
    (import stored completions)."""

    # export -----------------------------------------------------------------------------------
    # The validation share starts at the spec's and the path at a new default name; both are kept
    # while the dialog asks for another plan (a changed share), until a file is written.
    _export_fraction: float | None = None
    _export_path: str | None = None

    def action_export(self) -> None:
        if self._export_fraction is None:
            self._export_fraction = self.workspace.spec.finetune.validation_fraction or 0.0
        self.status = "validating the selection…"
        self._show_bar()
        self.plan_export(self._export_fraction)

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate-export")
    def plan_export(self, fraction: float) -> None:
        from distill_tui.core.curate.export import plan_export

        try:
            self.post_message(ExportPlanned(plan_export(self.cur, validation_fraction=fraction)))
        except Exception as exc:
            self.post_message(ExportPlanned(None, error_line(exc)))

    def on_export_planned(self, message: ExportPlanned) -> None:
        from distill_tui.core.curate.export import default_path

        plan = message.plan
        if plan is None:
            self._changed(f"export failed: {message.error}")
            return
        self._changed("export: OK, choose where" if plan.ok else "export: would be rejected, nothing written")
        path = self._export_path or str(default_path(self.workspace.spec))

        def chosen(values: dict | None) -> None:
            if values is None:
                return
            self._export_path = values["path"] or None
            if values["replan"]:
                self._export_fraction = values["fraction"]
                self.action_export()
            else:
                self.write_export(plan, values["path"])

        self.app.push_screen(ExportDialog(plan.lines(), plan.ok, path, self._export_fraction or 0.0), chosen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate-export")
    def write_export(self, plan: "ExportPlan", path: str) -> None:
        from distill_tui.core.curate.export import validation_path_for, write_export

        validation = validation_path_for(path) if plan.validation_report is not None else None
        try:
            self.post_message(ExportWritten(write_export(plan, path, validation, store=self.workspace.store)))
        except Exception as exc:
            self.post_message(ExportWritten(None, error_line(exc)))

    def on_export_written(self, message: ExportWritten) -> None:
        result = message.result
        if result is None:
            self._changed(f"export failed: {message.error}")
            return
        self._export_path = None  # the next export gets a new name
        full = f"wrote {result.examples:,} examples to {result.path}"
        lead, tail = f"wrote {result.examples:,} examples to ", ""
        if result.validation_path:
            full += f" and {result.validation_examples:,} validation examples to {result.validation_path}"
            tail = f" (+{result.validation_examples:,} validation)"
        # The bar shows "filter: …" before the status; the path gets the rest of the line.
        room = self.query_one("#filterbar").content_size.width - len("filter: … │ ") - len(lead) - len(tail)
        self._changed(lead + shorten_path(result.path, max(room, 24)) + tail)
        self.notify(full, title="Exported", timeout=12)

    # import -----------------------------------------------------------------------------------
    async def action_finetune(self) -> None:
        """Create a fine-tuning job from the newest export: the Jobs screen's confirm dialog does it."""
        if not self.workspace.store.exports():
            self.notify("Export the selection first (e), then t fine-tunes on that file.", severity="warning")
            return
        await self.app.switch_mode("jobs")
        await self.app.screen.run_action("new_job")

    def action_import_stored(self) -> None:
        from distill_tui.core.curate.importer import model_filter

        spec = self.workspace.spec
        meta = ", ".join(f"{k}={v}" for k, v in spec.generation.metadata.items())
        teacher = spec.teacher.model

        def done(values: dict | None) -> None:
            if values is not None:
                self.status = "importing stored completions…"
                self._show_bar()
                self.import_stored(values["metadata"], model_filter(values["model"], teacher))

        self.app.push_screen(AskDialog(
            "Import stored completions", "Completions stored on the provider (store=true) with this metadata "
            "tag become answers to curate; their input messages are fetched one by one. This workspace's own "
            "answers and prompts held out for evaluation are skipped.",
            [("metadata", "metadata (key=value, …)", meta, "distillation=wine"),
             ("model", "model (any: every model)", teacher, f"{teacher} (any: every model)")]), done)

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate-import")
    def import_stored(self, metadata_text: str, model: str | None) -> None:
        from textual.worker import get_current_worker

        from distill_tui.core.curate.importer import import_stored, parse_metadata

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
        skipped = r.already + r.own + r.held_out + r.unusable
        self.status = f"imported {r.imported:,} completions, skipped {skipped:,} of {r.read:,} read"
        self.notify(r.summary(), title="Import", timeout=12)
        self.load()
