"""Teacher generation through the Batch API: half the price, answers within 24 h.

One call of `run_teacher_batch` does what the workspace needs next:
- batches this workspace submitted and has not committed yet are polled; those that ended
  (completed, or expired/cancelled with part of their output) are downloaded and committed;
- only when no batch was in flight, every train row without an answer (and in no batch) is
  submitted, as one batch or several (50,000 requests / 200 MB each), after a budget check at the
  Batch price;
- with `wait`, it then polls (backing off) until every batch has ended, and commits them.

Nothing paid is lost and no row is asked twice: a batch is saved the moment it is created (see
`core.store.batches`), rows in a batch are skipped by every other run until it is committed, and a
batch's answers are committed in one transaction with its "committed" mark, through the very
`AnswerRecorder` the threaded engine saves its answers with, so curation and evaluation see no
difference. Rows whose line failed become failed rows, asked again by the next run of either kind.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.run.batch_session import BatchSession
from distill_tui.core.run.batch_summary import BatchSummary
from distill_tui.core.run.plan import row_status, spent

if TYPE_CHECKING:
    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.workspace.workspace import Workspace

def run_teacher_batch(workspace: "Workspace", *, wait: bool = False, controls: "Controls | None" = None,
                      on_status: Callable[[str], None] | None = None) -> BatchSummary:
    """Submit, poll or collect the teacher's train rows through the Batch API (see the module docstring).

    Args:
        workspace: The workspace (spec, data, store, client).
        wait: Poll until every batch has ended and commit it.
        controls: `cancel()` stops waiting (the batches keep running on the provider).
        on_status: Called with a line for each submitted batch and each change seen while polling.

    Raises:
        UserError: another run of the teacher holds the workspace.
    """

    model, budget = workspace.spec.teacher.model, workspace.spec.generation.budget_usd
    with workspace.store.run_lock(model):
        session = BatchSession(workspace, model, "train", budget, controls, on_status)
        return _summarize(session, session.run(wait))


def _summarize(session: Any, summary: BatchSummary) -> BatchSummary:
    ws, model, split = session.ws, summary.model, summary.split
    reqs = session.reqs
    ok, failed = row_status(ws, model, split, reqs)
    keys = {(r.row_id, r.prompt_hash) for r in reqs}
    waiting = (ws.store.batch_keys_in_flight(model) & keys) - ok
    summary.total, summary.done, summary.failed = len(reqs), len(ok), len(failed - waiting)
    summary.left, summary.waiting = len(reqs) - summary.done - summary.failed, len(waiting)
    summary.spent_usd = spent(ws, model, split)
    summary.elapsed_s = time.monotonic() - session.started
    touched = set(session.touched)
    summary.batches = [b for b in ws.store.batches(model) if b.input_file_id in touched or b.open]
    summary.message = summary.message or _message(summary)
    if session.too_long_note:
        summary.too_long = session.too_long
        summary.message += f"; {session.too_long_note}"
    return summary


def _message(s: BatchSummary) -> str:
    if s.fatal:
        return s.fatal[0]
    again = f"distill-tui generate {s.spec} --batch"
    open_ = [b for b in s.batches if b.open]
    if open_:
        state = "; ".join(f"batch {b.id or b.input_file_id} is {b.status.replace('_', ' ')} ({b.completed}/"
                          f"{b.requests} answered, {b.failed} failed)" for b in open_)
        if s.stopped == "interrupted":
            return f"stopped waiting: {state}; it keeps running on the provider, collect it with `{again}`"
        return f"{state}; check again with `{again}` (add --wait to wait for it)"
    if s.failed:
        return (f"{s.done} of {s.total} rows answered, {s.failed} failed; ask them again with `{again}` "
                f"or now with `distill-tui generate {s.spec}`")
    if s.left:
        return f"{s.done} of {s.total} rows answered, {s.left} not asked yet; run `{again}` to submit them"
    return f"all {s.total} rows answered"


def in_flight_note(ws: "Workspace", model: str,
                   collect: str = "`distill-tui generate SPEC --batch` collects it") -> str | None:
    """One line on the batches of `model` not collected yet, as last seen (no provider call); None if none.

    Args:
        collect: How to collect it, in words for where the line is shown.
    """
    open_ = ws.store.batches(model, open_only=True)
    if not open_:
        return None
    b = open_[-1]
    more = f" (and {len(open_) - 1} more)" if len(open_) > 1 else ""
    return (f"Batch {b.id or '(being submitted)'}{more}: {b.status.replace('_', ' ')}, {b.completed:,}/"
            f"{b.requests:,} answered, {b.failed:,} failed · {collect}")
