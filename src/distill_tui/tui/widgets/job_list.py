"""The list of jobs on the Jobs screen: a header line over one option per job.

An OptionList rather than a DataTable: a handful of rows, updated in place while a job is followed,
and it redraws deterministically (snapshots at 80x24).
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from distill_tui.core.finetune_follow import job_cost
from distill_tui.core.store import JobRecord

# Fits 80 columns with the 2-cell gaps and a 1-cell scrollbar.
COLUMNS = (("id", 13), ("status", 12), ("model", 11), ("fine-tuned", 14), ("created", 11), ("cost", 6))
# A glyph as well as a colour, so statuses read the same with NO_COLOR.
STATUS_LOOK = {
    "validating_files": ("⋯ validating", "bold"), "queued": ("⋯ queued", "bold"), "running": ("▶ running", "bold"),
    "paused": ("‖ paused", "bold yellow"),
    "succeeded": ("✓ succeeded", "green"), "failed": ("✗ failed", "bold red"), "cancelled": ("■ cancelled", "yellow"),
}


def _cell(value: str, width: int, style: str = "") -> Text:
    text = Text(value, style=style, no_wrap=True, overflow="ellipsis")
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


def header_text() -> Text:
    return Text("  ").join(_cell(name, width) for name, width in COLUMNS)


def row_text(job: JobRecord, remote: bool = False) -> Text:
    """One job as a line; `remote` marks a job only the provider knows (`*`)."""
    label, style = STATUS_LOOK.get(job.status, (job.status, "bold"))
    cost = job_cost(job)
    # The "ftjob-" prefix is the same on every row; the summary beside shows the whole id.
    short_id = job.id.removeprefix("ftjob-")
    cells = (
        (short_id + ("*" if remote else ""), ""), (label, style), (job.base_model, ""), (job.fine_tuned_model or "-", ""),
        (time.strftime("%m-%d %H:%M", time.localtime(job.created_at)) if job.created_at else "-", ""),
        ("-" if cost is None else f"${cost:,.2f}", ""),
    )
    return Text("  ").join(_cell(value, width, style) for (value, style), (_, width) in zip(cells, COLUMNS))


class JobList(Vertical):
    """Header plus options (id = job id); the OptionList inside has the given id."""

    DEFAULT_CSS = """
    JobList { height: auto; }
    JobList > #job-list-header { height: 1; background: $panel; text-style: bold; }
    JobList > OptionList { height: auto; max-height: 5; border: none; padding: 0; scrollbar-size-vertical: 1; }
    JobList > OptionList:focus { border: none; }
    """

    def __init__(self, *, list_id: str) -> None:
        super().__init__()
        self._list_id = list_id

    def compose(self) -> ComposeResult:
        yield Static(header_text(), id="job-list-header")
        yield OptionList(id=self._list_id)

    @property
    def options(self) -> OptionList:
        return self.query_one(f"#{self._list_id}", OptionList)

    def ids(self) -> list[str]:
        return [o.id for o in self.options.options if o.id]

    def show(self, records: list[tuple[JobRecord, bool]]) -> None:
        """Show these jobs in this order; unchanged rows are left alone."""
        options = self.options
        if self.ids() == [job.id for job, _ in records]:
            for job, remote in records:
                self.update(job, remote)
            return
        highlighted = options.highlighted_option.id if options.highlighted_option else None
        options.clear_options()
        options.add_options(Option(row_text(job, remote), id=job.id) for job, remote in records)
        if highlighted in self.ids():
            options.highlighted = options.get_option_index(highlighted)

    def update(self, job: JobRecord, remote: bool = False) -> None:
        options = self.options
        prompt = row_text(job, remote)
        if job.id in self.ids() and str(options.get_option(job.id).prompt) != str(prompt):
            options.replace_option_prompt(job.id, prompt)

    def highlight(self, job_id: str) -> None:
        options = self.options
        index = options.get_option_index(job_id)
        if options.highlighted != index:
            options.highlighted = index
