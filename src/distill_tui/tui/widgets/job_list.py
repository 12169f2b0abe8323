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

from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.train.follow import job_cost, without_gpu

# Fits 80 columns with the 2-cell gaps and a 1-cell scrollbar.
COLUMNS = (("id", 13), ("status", 12), ("model", 11), ("fine-tuned", 14), ("created", 11), ("cost", 6))
# The columns that take the room a wider terminal gives, as far as their values need it.
GROWING = ("id", "model", "fine-tuned")
Columns = tuple[tuple[str, int], ...]
# A glyph as well as a colour, so statuses read the same with NO_COLOR.
STATUS_LOOK = {
    "validating_files": ("⋯ validating", "bold"), "queued": ("⋯ queued", "bold"), "running": ("▶ running", "bold"),
    "paused": ("‖ paused", "bold yellow"),
    "succeeded": ("✓ succeeded", "green"), "failed": ("✗ failed", "bold red"), "cancelled": ("■ cancelled", "yellow"),
}


def tail_cut(value: str, width: int) -> str:
    """A path (a local model, adapter or checkpoint folder) or a local job id too long for `width`, cut
    at the start: their ends tell them apart ("…38e2/adapter"), their starts are the same on every row."""
    if len(value) > width > 1 and value.startswith(("/", "~", "local-")):
        return "…" + value[len(value) - width + 1:]
    return value


def _cell(value: str, width: int, style: str = "") -> Text:
    text = Text(tail_cut(value, width), style=style, no_wrap=True, overflow="ellipsis")
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


def header_text(columns: Columns = COLUMNS) -> Text:
    return Text("  ").join(_cell(name, width) for name, width in columns)


def _cells(job: JobRecord, remote: bool) -> tuple[tuple[str, str], ...]:
    label, style = STATUS_LOOK.get(job.status, (job.status, "bold"))
    cost = job_cost(job)
    # The "ftjob-" prefix is the same on every row; the summary beside shows the whole id.
    short_id = job.id.removeprefix("ftjob-")
    return (
        (short_id + ("*" if remote else ""), ""), (label, style), (job.base_model, ""), (job.fine_tuned_model or "-", ""),
        (time.strftime("%m-%d %H:%M", time.localtime(job.created_at)) if job.created_at else "-", ""),
        (without_gpu(job) or ("-" if cost is None else f"${cost:,.2f}"), ""),
    )


def row_text(job: JobRecord, remote: bool = False, columns: Columns = COLUMNS) -> Text:
    """One job as a line; `remote` marks a job only the provider knows (`*`)."""
    return Text("  ").join(_cell(value, width, style) for (value, style), (_, width) in zip(_cells(job, remote), columns))


def fit_columns(width: int, records: list[tuple[JobRecord, bool]]) -> Columns:
    """The columns for a list `width` cells wide: COLUMNS at 80, and beyond that the id, model and
    fine-tuned columns grow in turn, a cell at a time, until their longest value fits."""
    spare = max(0, width - 80)
    widths = dict(COLUMNS)
    rows = [_cells(job, remote) for job, remote in records]
    need = {name: max((len(row[index][0]) for row in rows), default=0)
            for index, (name, _) in enumerate(COLUMNS) if name in GROWING}
    while spare:
        growing = [name for name in GROWING if widths[name] < need[name]]
        if not growing:
            break
        for name in growing[:spare]:
            widths[name] += 1
            spare -= 1
    return tuple((name, widths[name]) for name, _ in COLUMNS)


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
        self._records: list[tuple[JobRecord, bool]] = []
        self._columns: Columns = COLUMNS

    def compose(self) -> ComposeResult:
        yield Static(header_text(), id="job-list-header")
        yield OptionList(id=self._list_id)

    @property
    def options(self) -> OptionList:
        return self.query_one(f"#{self._list_id}", OptionList)

    def ids(self) -> list[str]:
        return [o.id for o in self.options.options if o.id]

    def show(self, records: list[tuple[JobRecord, bool]]) -> None:
        """Show these jobs in this order; unchanged rows are left alone (unless the columns change)."""
        options = self.options
        self._records = list(records)
        if not self._fit() and self.ids() == [job.id for job, _ in records]:
            for job, remote in records:
                self._replace(job, remote)
            return
        highlighted = options.highlighted_option.id if options.highlighted_option else None
        options.clear_options()
        options.add_options(Option(row_text(job, remote, self._columns), id=job.id) for job, remote in records)
        if highlighted in self.ids():
            options.highlighted = options.get_option_index(highlighted)

    def _fit(self) -> bool:
        """Fit the columns to the width and the jobs; True (and the header redrawn) when they changed."""
        columns = fit_columns(self.size.width or self.app.size.width, self._records)
        if columns == self._columns:
            return False
        self._columns = columns
        self.query_one("#job-list-header", Static).update(header_text(columns))
        return True

    def on_resize(self) -> None:
        if self._fit():
            self.show(self._records)

    def update(self, job: JobRecord, remote: bool = False) -> None:
        """Redraw one job's row (every row when its new values change the columns)."""
        self._records = [(job, remote) if old.id == job.id else (old, was) for old, was in self._records]
        if self._fit():
            self.show(self._records)
        else:
            self._replace(job, remote)

    def _replace(self, job: JobRecord, remote: bool) -> None:
        options = self.options
        prompt = row_text(job, remote, self._columns)
        if job.id in self.ids() and str(options.get_option(job.id).prompt) != str(prompt):
            options.replace_option_prompt(job.id, prompt)

    def highlight(self, job_id: str) -> None:
        options = self.options
        index = options.get_option_index(job_id)
        if options.highlighted != index:
            options.highlighted = index
