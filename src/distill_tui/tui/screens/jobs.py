"""The Jobs screen: every fine-tuning job of this workspace plus the provider's, and the selected
job's timeline, metrics chart, events and checkpoints, followed live.

Jobs load from the store on mount, so after a restart (or a dropped SSH link) the full history
shows at once and a job still training is followed again. Workers do all provider calls.
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import OptionList, Static, TabbedContent
from textual.worker import get_current_worker

from distill_tui.core.curate.validate import plural
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.train.backend import TERMINAL
from distill_tui.core.train.errors import JobFailed, Stranded
from distill_tui.core.train.follow import job_events
from distill_tui.core.train.plan import JobPlan
from distill_tui.tui.screens.base import BaseScreen
from distill_tui.tui.screens.jobs_messages import JobReady, JobsListed, JobUpdated, JobWorkFailed, PlanReady
from distill_tui.tui.screens.training_closed import TrainingClosedScreen
from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog
from distill_tui.tui.widgets.job_details import JobDetails
from distill_tui.tui.widgets.job_dialogs import AttachDialog, NewJobDialog
from distill_tui.tui.widgets.job_list import JobList

TABS = ("tab-overview", "tab-events", "tab-checkpoints")


class JobsScreen(BaseScreen):
    """Fine-tuning jobs: create, follow, pause/resume, cancel, attach."""

    TITLE = "Jobs"
    MODE = "jobs"
    AUTO_FOCUS = "#jobs"
    HELP = """
Every fine-tuning job this workspace created, plus the provider's other jobs (marked `*`; press Enter on
one to attach it and keep its history here). The selected job shows its **status timeline**
(validating_files → queued → running → succeeded/failed/cancelled, with the time each was seen), the
**loss chart** (train loss `⣀`, validation loss `•`, token accuracy as a sparkline) from the metrics
events, trained tokens, the **actual cost** (trained tokens × the training price; for a job trained here, GPU-hours ×
`[finetune] gpu_hour_usd`, and none for a run on the CPU) beside the estimate,
the estimated finish and the fine-tuned model name. The **Events** and **Checkpoints** tabs (`t`)
list what the provider reported.

A running job is followed live: polls start at 1 s and slow down to 30 s while nothing changes.
Job ids are saved the moment they exist, so quitting or losing the SSH link loses nothing: come back
and the job is here, still followed. `p` pauses a running job and resumes a paused one (where the
provider offers it; training time is not billed while paused); `x` cancels for good. `n` creates a job from the newest export. The file is checked
first: rows held out for evaluation today, or a file the provider would reject, stop it there (export
again); a selection changed since the export is a warning. The dialog sets the model, suffix, seed,
epochs, batch size and LR multiplier ("auto" allowed; Tab between fields, ctrl+s creates) and shows
the estimated training cost and warnings (a shutdown date is checked again when the model changes).
A retry after a refusal reuses the files already uploaded.

When training is closed (OpenAI's 403 `training_not_available`), the model is not offered, or a job
fails, a screen says what happened, where the validated JSONL is on disk, and what else can train
from it (Azure OpenAI, other providers that read chat-format JSONL, a local trainer). `w` shows it
again for the selected job. Headless: `distill-tui finetune SPEC --follow` and `distill-tui jobs`.
"""
    BINDINGS = [
        Binding("n", "new_job", "New job"),
        Binding("p", "pause_job", "Pause/resume"),
        Binding("x", "cancel_job", "Cancel"),
        Binding("r", "refresh", "Refresh"),
        Binding("a", "attach", "Attach"),
        Binding("t", "next_tab", "Tab"),
        Binding("w", "why", "What now", show=False),
        Binding("enter", "select", "Select / attach", show=False),
    ]
    DEFAULT_CSS = """
    JobsScreen #jobs-status { height: auto; max-height: 3; color: $text-muted; }
    JobsScreen #jobs-status.error { color: $error; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._local: dict[str, JobRecord] = {}
        self._remote: dict[str, JobRecord] = {}
        self._selected: str | None = None
        self._following: str | None = None
        self.listed = False
        """True once the provider's list was asked (answered or not): the screen is settled."""

    def compose_body(self) -> ComposeResult:
        yield JobList(list_id="jobs")
        yield Static("", id="jobs-status")
        yield JobDetails(id="job-details")

    def on_mount(self) -> None:
        self._local = {j.id: j for j in self.workspace.store.jobs()}
        running = [j for j in self._local.values() if j.status not in TERMINAL]
        first = running[0] if running else next(iter(self._local.values()), None)
        self._fill_table(select=first.id if first else None)
        if not self._local:
            self._status("No jobs yet. Press n to create one from the newest export, a to attach one.")
        self.list_jobs()

    # the job list ------------------------------------------------------------------------------
    def _records(self) -> list[tuple[JobRecord, bool]]:
        local = sorted(self._local.values(), key=lambda j: j.created_at, reverse=True)
        remote = sorted((j for i, j in self._remote.items() if i not in self._local), key=lambda j: j.created_at, reverse=True)
        return [(j, False) for j in local] + [(j, True) for j in remote]

    def _fill_table(self, select: str | None = None) -> None:
        """Show the jobs (rows updated in place when the same jobs are listed) and keep the selection."""
        job_list = self.query_one(JobList)
        keep = select or self._selected
        job_list.show(self._records())
        if keep and (keep in self._local or keep in self._remote):
            job_list.highlight(keep)
            self._select(keep)
        elif job_list.ids():
            job_list.highlight(job_list.ids()[0])
        else:
            self.query_one(JobDetails).clear("No job selected. Press n to create one, a to attach one.")

    def _update_row(self, job: JobRecord) -> None:
        job_list = self.query_one(JobList)
        if job.id in job_list.ids():
            job_list.update(job)
        else:
            self._fill_table()

    def _record(self, job_id: str | None) -> JobRecord | None:
        if job_id is None:
            return None
        return self._local.get(job_id) or self._remote.get(job_id)

    def _select(self, job_id: str) -> None:
        self._selected = job_id
        record = self._record(job_id)
        if record is None:
            return
        store = self.workspace.store
        local = job_id in self._local
        events = job_events(store, job_id) if local else []
        checkpoints = store.checkpoints(job_id) if local else []
        self.query_one(JobDetails).show(record, events, checkpoints)
        if not local:
            self._status(f"{job_id} is on the provider only: press Enter to attach it")
        elif record.status not in TERMINAL and self._following != job_id:
            self._following = job_id
            self.follow(job_id)
            self._status(f"following {job_id}…")

    @on(OptionList.OptionHighlighted, "#jobs")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index != event.option_list.highlighted:
            return  # stale: the list changed since
        if event.option_id and event.option_id != self._selected:
            self._select(event.option_id)

    @on(OptionList.OptionSelected, "#jobs")
    def _row_selected(self, event: OptionList.OptionSelected) -> None:
        self._selected = event.option_id
        self.action_select()

    def _status(self, line: str, error: bool = False) -> None:
        status = self.query_one("#jobs-status", Static)
        status.update(Text(line, overflow="fold"))  # wraps: a model name after "succeeded:" is copied from here
        status.set_class(error, "error")

    # workers -----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def follow(self, job_id: str) -> None:
        from distill_tui.core.train.follow import follow_job

        worker = get_current_worker()
        try:
            follow_job(
                self.workspace, job_id,
                on_update=lambda u: self.post_message(JobUpdated(job_id, u.record, u.note)),
                should_stop=lambda: worker.is_cancelled,
            )
        except Exception as exc:  # shown on the screen, never raised into the app
            self.post_message(JobWorkFailed(exc, "follow"))

    @work(thread=True, exclusive=True, group="list", exit_on_error=False)
    def list_jobs(self, refresh: str | None = None) -> None:
        from distill_tui.core.train.backends import backend_for
        from distill_tui.core.train.follow import attach_job, merge_listing

        ws = self.workspace
        note = None
        remote = []
        try:
            backend = backend_for(ws)
            if refresh:
                attach_job(ws, refresh, backend)
            local, remote = merge_listing(ws.store, ws.prices, backend.list_jobs(limit=100), backend.name)
        except Exception as exc:  # the provider is optional here: local jobs still show
            from distill_tui.core.provider.api_errors import explain

            note = f"provider not asked: {(explain(exc) or (str(exc), 1))[0]}"
            local = ws.store.jobs()
        self.post_message(JobsListed(local, remote, note))

    @work(thread=True, exclusive=True, group="jobs", exit_on_error=False)
    def make_plan(self) -> None:
        from distill_tui.core.train.plan import plan_job

        try:
            self.post_message(PlanReady(plan_job(self.workspace)))
        except Exception as exc:
            self.post_message(JobWorkFailed(exc, "plan"))

    @work(thread=True, exclusive=True, group="jobs", exit_on_error=False)
    def create(self, plan: JobPlan, ended: threading.Event) -> None:
        from distill_tui.core.train.jobs import create_job

        try:
            record = create_job(self.workspace, plan.request, estimate=plan,
                                on_status=lambda line: self.app.call_from_thread(self._status, line))
        except Exception as exc:
            self.post_message(JobWorkFailed(exc, "create"))
            return
        finally:
            ended.set()
        self.post_message(JobReady(record))

    @work(thread=True, exclusive=True, group="jobs", exit_on_error=False)
    def attach(self, job_id: str) -> None:
        from distill_tui.core.train.follow import attach_job

        try:
            self.post_message(JobReady(attach_job(self.workspace, job_id)))
        except Exception as exc:
            self.post_message(JobWorkFailed(exc, "attach"))

    @work(thread=True, exclusive=True, group="jobs", exit_on_error=False)
    def control(self, job_id: str, action: str) -> None:
        """Cancel, pause or resume a job on the provider."""
        from distill_tui.core.train.follow import control_job

        try:
            self.post_message(JobReady(control_job(self.workspace, job_id, action)))
        except Exception as exc:
            self.post_message(JobWorkFailed(exc, action))

    # messages ----------------------------------------------------------------------------------
    @on(JobUpdated)
    def _job_updated(self, message: JobUpdated) -> None:
        old = self._local.get(message.job_id)
        self._local[message.job_id] = message.record
        self._update_row(message.record)
        if message.job_id == self._selected:
            self._select(message.job_id)
        record = message.record
        if record.status in TERMINAL and self._following == record.id:
            self._following = None
            self._status(f"{record.id} {record.status}" + (f": {record.fine_tuned_model}" if record.fine_tuned_model else ""))
        elif message.note:
            self._status(message.note)
        if record.status == "failed" and old is not None and old.status != "failed":
            self.app.push_screen(TrainingClosedScreen.from_job(record))

    @on(JobsListed)
    def _listed(self, message: JobsListed) -> None:
        self.listed = True
        self._local = {j.id: j for j in message.local}
        self._remote = {j.id: j for j in message.remote}
        self._fill_table()
        if message.note:
            self._status(message.note)
        elif self._selected is None or self._selected in self._local and self._local[self._selected].status in TERMINAL:
            self._status(self._count_line())

    def _count_line(self) -> str:
        from distill_tui.core.train.backend import backend_name

        here = f"{plural(len(self._local), 'job')} here"
        if backend_name(self.workspace) == "local":  # no provider: the trainer's job folders on this machine
            return here + (f", {len(self._remote)} more in this machine's job folders" if self._remote else "")
        return f"{here}, {len(self._remote)} more on the provider"

    @on(PlanReady)
    def _plan_ready(self, message: PlanReady) -> None:
        self._status("")
        plan = message.plan

        def chosen(edited: JobPlan | None) -> None:
            if edited is not None:
                self._status(f"creating a job on {edited.request.model}…")
                ended = threading.Event()  # quitting waits for the job's record (see DistillApp.track_run)
                self.distill.track_run(None, ended)
                self.create(edited, ended)

        self.app.push_screen(NewJobDialog(plan, self.workspace.prices), chosen)

    @on(JobReady)
    def _job_ready(self, message: JobReady) -> None:
        record = message.record
        self._local[record.id] = record
        self._remote.pop(record.id, None)
        # Followed again from now: after a pause or resume the next poll should not wait out a backoff.
        self._following = None
        self._fill_table(select=record.id)
        if record.status in TERMINAL or record.status == "paused":
            self._status(f"{record.id} {record.status}" + (": p resumes it" if record.status == "paused" else ""))

    @on(JobWorkFailed)
    def _work_failed(self, message: JobWorkFailed) -> None:
        exc = message.error
        if message.action == "follow":
            self._following = None
        if isinstance(exc, Stranded) and not isinstance(exc, JobFailed):
            self._status(str(exc), error=True)
            self.app.push_screen(TrainingClosedScreen.from_error(exc))
            return
        from distill_tui.core.provider.api_errors import describe

        line = describe(exc)[0]
        self._status(f"{message.action}: {line}", error=True)
        self.notify(line, title=f"Cannot {message.action}", severity="error")

    # actions -----------------------------------------------------------------------------------
    def action_new_job(self) -> None:
        self._status("counting the training tokens…")
        self.make_plan()

    def action_cancel_job(self) -> None:
        record = self._record(self._selected)
        if record is None or self._selected not in self._local or record.status in TERMINAL:
            self.notify("Select a job that is still running to cancel it.", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._status(f"cancelling {record.id}…")
                self.control(record.id, "cancel")

        cost = ("its checkpoints stay on disk" if record.backend == "local"
                else "tokens trained so far are billed")
        self.app.push_screen(
            ConfirmDialog(f"Cancel {record.id}?", f"Training stops and cannot resume; {cost}.", yes="Cancel job"),
            answered,
        )

    def action_pause_job(self) -> None:
        record = self._record(self._selected)
        if record is None or self._selected not in self._local or record.status not in ("running", "paused"):
            self.notify("Select a running job to pause it, or a paused one to resume it.", severity="warning")
            return
        action = "resume" if record.status == "paused" else "pause"
        self._status(f"{'resuming' if action == 'resume' else 'pausing'} {record.id}…")
        self.control(record.id, action)

    def action_refresh(self) -> None:
        self._status("refreshing…")
        self.list_jobs(self._selected if self._selected in self._local else None)

    def action_attach(self) -> None:
        def chosen(job_id: str | None) -> None:
            if job_id:
                self._status(f"attaching {job_id}…")
                self.attach(job_id)

        self.app.push_screen(AttachDialog(), chosen)

    def action_select(self) -> None:
        if self._selected in self._remote and self._selected not in self._local:
            self._status(f"attaching {self._selected}…")
            self.attach(self._selected)
        elif self._selected:
            self._select(self._selected)

    def action_why(self) -> None:
        record = self._record(self._selected)
        if record is not None and record.status in ("failed", "cancelled"):
            self.app.push_screen(TrainingClosedScreen.from_job(record))
        else:
            self.notify("Select a failed or cancelled job to see what else can train from its file.")

    def action_next_tab(self) -> None:
        tabs = self.query_one("#job-tabs", TabbedContent)
        tabs.active = TABS[(TABS.index(tabs.active) + 1) % len(TABS)] if tabs.active in TABS else TABS[0]
