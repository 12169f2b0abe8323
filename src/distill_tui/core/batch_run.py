"""Teacher generation through the Batch API: half the price, answers within 24 h.

One call of `run_teacher_batch` does what the workspace needs next:
- batches this workspace submitted and has not committed yet are polled; those that ended
  (completed, or expired/cancelled with part of their output) are downloaded and committed;
- only when no batch was in flight, every train row without an answer (and in no batch) is
  submitted, as one batch or several (50,000 requests / 200 MB each), after a budget check at the
  Batch price;
- with `wait`, it then polls (backing off) until every batch has ended, and commits them.

Nothing paid is lost and no row is asked twice: a batch is saved the moment it is created (see
`store_batches`), rows in a batch are skipped by every other run until it is committed, and a
batch's answers are committed in one transaction with its "committed" mark, through the very
`AnswerRecorder` the threaded engine saves its answers with, so curation and evaluation see no
difference. Rows whose line failed become failed rows, asked again by the next run of either kind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.engine_plan import row_status, spent
from distill_tui.core.pricing import format_usd
from distill_tui.core.store_batches import BatchRecord

if TYPE_CHECKING:
    from distill_tui.core.engine_support import Controls
    from distill_tui.core.workspace import Workspace

POLL_FIRST_S = 5.0
"""First pause between polls while waiting; each next one is 1.5 times longer, up to `POLL_MAX_S`."""
POLL_MAX_S = 60.0


@dataclass
class BatchSummary:
    """What one `generate --batch` did. `done`/`failed`/`left` count the whole split in the workspace."""

    model: str
    split: str
    spec: str
    total: int = 0
    done: int = 0
    failed: int = 0
    left: int = 0
    waiting: int = 0
    batches: list[BatchRecord] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    requests: int = 0
    answered_now: int = 0
    failed_now: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    spent_usd: float = 0.0
    budget_usd: float | None = None
    elapsed_s: float = 0.0
    stopped: str | None = None  # None | "budget" | "interrupted" | "fatal"
    fatal: tuple[str, int] | None = None
    message: str = ""
    too_long: int = 0  # rows left out: prompt + max_tokens over the model's context window

    @property
    def exit_code(self) -> int:
        """0 when every row is answered, the error's code after a fatal error, else 1 (work left)."""
        if self.fatal:
            return self.fatal[1]
        return 0 if self.total and self.done == self.total else 1

    def to_json(self) -> dict[str, Any]:
        """The `generate --json` keys, plus the batches, what was committed and the message."""
        return {
            "done": self.done, "failed": self.failed, "requests": self.requests, "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens, "cost_usd": round(self.cost_usd, 6),
            "elapsed_s": round(self.elapsed_s, 3),
            "model": self.model, "split": self.split, "total": self.total, "left": self.left, "waiting": self.waiting,
            "mode": "batch", "batches": [b.to_json() for b in self.batches], "submitted": self.submitted,
            "committed_rows": self.answered_now + self.failed_now, "answered_now": self.answered_now,
            "failed_now": self.failed_now, "price_known": self.cost_known, "spent_usd": round(self.spent_usd, 6),
            "budget_usd": self.budget_usd, "stopped": self.stopped, "error": self.fatal[0] if self.fatal else None,
            "message": self.message, "too_long": self.too_long,
        }


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
    from distill_tui.core.batch_collect import BatchSession

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


def budget_line(model: str, rows: int, worst: float | None, spent_usd: float, budget: float) -> str:
    """Why a batch was not submitted: one line."""
    if worst is None:
        return (f"budget_usd is set but no Batch price is known for {model}, so the budget cannot be held: "
                "add batch_input/batch_output to your prices.toml or remove budget_usd")
    return (f"budget: a batch of {rows} rows could cost up to {format_usd(worst)} at the Batch price (prompt + "
            f"max_tokens each); with {format_usd(spent_usd)} spent that passes budget_usd = {format_usd(budget)}: "
            "raise it, or run `distill-tui generate` (it stops at the budget)")


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
