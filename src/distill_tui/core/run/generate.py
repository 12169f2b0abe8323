"""Teacher generation (and evaluation): ask a model every row of a split, resumably, within budget.

`run_model` asks each row that has no saved answer for today's prompt, through the threaded
`engine.Pool`, and commits every answer as it lands (in small groups, each durable within about
0.1 s: `store.group_commit`). Running it again resumes: rows answered are
never asked again; rows that failed are asked again (unless `retry_failed=False`).

Budget: `budget_usd` caps what this model has cost on this split in this workspace, earlier runs
included (so stopping at the budget and running again does not spend it twice). A request goes out
only if the spend so far, plus the worst case of every request in flight (prompt + max tokens),
plus its own worst case stays within the budget. When the model has no known price, a budget
cannot be held: the run does not start and says so (add the price to your prices.toml, or remove
`budget_usd`); without a budget such a run goes ahead and reports tokens only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.cost.pricing import format_usd
from distill_tui.core.provider.clients import shard_maker
from distill_tui.core.run.client_shards import SHARD_CONNECTIONS
from distill_tui.core.run.engine import Pool
from distill_tui.core.run.engine_parts import Controls, Limits
from distill_tui.core.run.plan import key_status, spent
from distill_tui.core.run.recorder import AnswerRecorder
from distill_tui.core.store.group_commit import GroupCommit

if TYPE_CHECKING:
    import openai
    from distill_tui.core.workspace.workspace import Workspace

FINAL_STATES = ("done", "cancelled", "budget", "failed", "limit")


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run, emitted every `progress_interval` seconds and once at the end.

    `done` and `failed` count every row of the split in the workspace (earlier runs included);
    `left` is what is neither done, failed nor in flight; the token, request and cost counters are
    this run's. `spent_usd` is this model's spend on the split so far, earlier runs included.
    """

    model: str
    split: str
    total: int
    done: int
    failed: int
    in_flight: int
    left: int
    requests: int
    retries: int
    rate_limited: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    elapsed_s: float
    rows_per_s: float
    tokens_per_s: float
    eta_s: float | None
    limiter: dict
    last_errors: list[tuple[int, str, str]]  # (row, line, "retrying" | "answered" | "failed")
    last_answers: list[tuple[int, str | None, str]]
    state: str  # "running" | "paused" | "stopping" | "done" | "cancelled" | "budget" | "failed" | "limit"
    budget_usd: float | None
    estimated_total_usd: float | None
    spent_usd: float = 0.0
    price_known: bool = True
    message: str | None = None
    cached_tokens: int = 0  # of input_tokens, those read from the provider's prompt cache
    planning: bool = False  # rows are still being planned: `total` and `left` count those planned so far

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


@dataclass
class RunResult:
    """How a run ended. `done`/`failed` count the whole split in the workspace; the rest this run."""

    model: str
    split: str
    total: int
    done: int
    failed: int
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    elapsed_s: float
    stopped: str | None  # None | "cancelled" | "budget" | "fatal" | "limit"
    fatal_error: str | None = None
    fatal_exit_code: int | None = None
    left: int = 0
    retries: int = 0
    rate_limited: int = 0
    answered_now: int = 0
    failed_now: int = 0
    price_known: bool = True
    spent_usd: float = 0.0
    budget_usd: float | None = None
    message: str = ""
    too_long: int = 0  # rows left out: prompt + max_tokens over the model's context window
    too_long_note: str | None = None
    cached_tokens: int = 0  # of input_tokens, those the provider read from its prompt cache

    @property
    def exit_code(self) -> int:
        """0 when every row is answered (or a `limit` run answered all it was asked), else 1 or
        the fatal error's code (2 for a user's mistake such as a bad key or model name)."""
        if self.stopped == "fatal":
            return self.fatal_exit_code or 1
        if self.stopped == "limit":
            return 0 if self.failed_now == 0 else 1
        if self.stopped is not None:
            return 1
        return 0 if self.done == self.total else 1

    def to_json(self) -> dict[str, Any]:
        """The `generate --json` object (DESIGN.md), plus extra keys."""
        return {
            "done": self.done, "failed": self.failed, "requests": self.requests,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6), "elapsed_s": round(self.elapsed_s, 3),
            "model": self.model, "split": self.split, "total": self.total, "left": self.left,
            "stopped": self.stopped, "error": self.fatal_error, "retries": self.retries,
            "rate_limited": self.rate_limited, "price_known": self.price_known,
            "spent_usd": round(self.spent_usd, 6), "budget_usd": self.budget_usd, "message": self.message,
            "too_long": self.too_long, "cached_tokens": self.cached_tokens,
        }


def _run_unlocked(
    workspace: "Workspace",
    model: str,
    split: str,
    *,
    limit: int | None = None,
    controls: Controls | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    budget_usd: float | None = None,
    retry_failed: bool = True,
    only_failed: bool = False,
    progress_interval: float = 0.25,
    kind: str | None = None,
    client: "Callable[[], openai.OpenAI] | None" = None,
) -> RunResult:
    """Ask `model` every row of `split` that has no answer yet; see the module docstring.

    Args:
        workspace: The workspace (spec, data, store, client).
        model: Model to call.
        split: "train" or "eval".
        limit: Ask at most this many rows (a smoke run); the result is then `stopped="limit"`.
        controls: Pause/resume/cancel from another thread.
        on_progress: Called from this thread with each `Progress` snapshot, the last one final.
        budget_usd: Spend cap for this model on this split, earlier runs included.
        retry_failed: Ask rows that failed before again.
        only_failed: Ask only rows that failed before.
        progress_interval: Seconds between progress snapshots.
        kind: What `store.start_run` records ("generate" for train, "evaluate" for eval by default).
        client: Where to ask (default: the workspace's provider), e.g. a server of a student trained here:
            a function giving the client, called only when some row is to be asked.

    Raises:
        UserError: no API key, or the spec/data cannot be used.
    """
    from distill_tui.core.cost.capabilities import load_models
    from distill_tui.core.run.planner import RequestPlanner

    ws, controls = workspace, controls or Controls()
    # Rows are planned as they are asked (see `planner`): the first go out while the rest are built.
    # Rows too long for the model's context window would only be refused: never asked.
    planner = RequestPlanner(ws, model, split, load_models(), limit=max(0, limit) if limit is not None else None,
                             retry_failed=retry_failed, only_failed=only_failed)
    pending = planner.take(1)
    base = (client or ws.client)() if pending else None
    client = base.with_options(max_retries=0) if base is not None else None
    recorder = AnswerRecorder(ws, model, split)
    price_known = recorder.price is not None
    spent_before = spent(ws, model, split)
    gen = ws.spec.generation
    limiter = Limits(gen.rpm, gen.tpm)
    pool: Pool | None = None

    def cannot_save(exc: BaseException) -> None:
        from distill_tui.core.run.engine_parts import explain_line

        if pool is not None:
            pool.stop("fatal", (f"cannot save an answer: {explain_line(exc)[0]}", 1))

    writer = GroupCommit(ws.store, ws.store.record_answer, on_error=cannot_save)
    if budget_usd is not None:
        recorder.bound_cap_usd = (budget_usd - spent_before) / QUICK_MARGIN
    pool = Pool(
        client, pending, limiter=limiter, workers=gen.workers, max_retries=gen.max_retries, controls=controls,
        estimate=recorder.quick_estimate, make_client=shard_maker(base, SHARD_CONNECTIONS, max_retries=0),
        build_ok=recorder.build_ok, build_failed=recorder.build_failed, writer=writer,
        budget_left=None if budget_usd is None else budget_usd - spent_before,
        rows_succeeded=bool(planner.done), give_up_s=gen.give_up_after_s, planning=not planner.complete,
        prepare=planner.builder.undeferred,
    )
    row_cost = None

    def snapshot(state: str, message: str | None = None) -> Progress:
        now = time.monotonic()
        elapsed = now - pool.started
        with pool.lock:
            t = pool.tally
            if state in FINAL_STATES and elapsed > 0:  # the whole run's average, not the last seconds
                rows_s, tokens_s = t.ok / elapsed, (t.input_tokens + t.output_tokens) / elapsed
            else:
                rows_s, tokens_s = t.rates(now, elapsed)
            queued = len(pool.queue)
            planning = pool.planning
            done = planner.done + t.ok
            failed = planner.failed_aside + t.failed
            in_flight = t.in_flight + t.saving  # answered but not yet durable: not reported as saved
            cost = t.cost_usd
            avg = cost / t.ok if t.ok and t.cost_known else row_cost
            last_errors, last_answers = t.last_errors.snapshot(), list(t.last_answers)
            counters = (t.requests, t.retries, t.rate_limited, t.input_tokens, t.output_tokens, t.cached_tokens)
        left = max(0, planner.total - done - failed - in_flight)
        remaining = queued + in_flight
        eta = remaining / rows_s if rows_s > 0 and remaining else (0.0 if not remaining else None)
        if planning:
            eta = None  # rows are still being planned: what is left is not known yet
        total_spent = spent_before + cost
        estimated = (total_spent + (left + in_flight) * avg
                     if price_known and avg is not None and not planning else None)
        requests, retries, rate_limited, input_tokens, output_tokens, cached_tokens = counters
        return Progress(
            model=model, split=split, total=planner.total, done=done, failed=failed, in_flight=in_flight, left=left,
            requests=requests, retries=retries, rate_limited=rate_limited, input_tokens=input_tokens,
            output_tokens=output_tokens, cost_usd=cost, elapsed_s=elapsed, rows_per_s=rows_s, tokens_per_s=tokens_s,
            eta_s=eta, limiter={**limiter.current_rates(), "concurrency": pool.workers,
                                "concurrency_cap": gen.workers}, last_errors=last_errors, last_answers=last_answers,
            state=state, budget_usd=budget_usd, estimated_total_usd=estimated, spent_usd=total_spent,
            price_known=price_known, message=message, cached_tokens=cached_tokens, planning=planning,
        )

    def emit(progress: Progress) -> None:
        nonlocal on_progress
        if on_progress is None:
            return
        try:
            on_progress(progress)
        except Exception:  # noqa: BLE001 - a broken display must not stop a paid run
            on_progress = None

    run_id = ws.store.start_run(kind or ("generate" if split == "train" else "evaluate"), model)
    if pending and budget_usd is not None and not price_known:
        pool.stop("budget")
        pool.stop_message = (f"budget_usd is set but no price is known for {model}, so the budget cannot be "
                               "held: add its price to your prices.toml or remove budget_usd")
    elif pending and budget_usd is not None and spent_before >= budget_usd:
        pool.stop("budget")
    status = "interrupted"
    try:
        started = pool.stop_reason is None and bool(pending)
        if started:
            pool.start()

        def planned() -> None:
            if planner.error is not None:
                pool.stop("fatal", (str(planner.error), 1))  # raised below, once the pool has ended
            elif planner.done:
                pool.rows_succeeded = True  # rows of this request shape were answered before
            pool.planned()

        planner.plan_rest(pool.add, planned)
        if pending and price_known:
            from distill_tui.core.cost.estimate import answer_tokens

            out, _ = answer_tokens(ws.spec, recorder.labels, model)
            row_cost = recorder.price.cost(recorder.prompt_tokens(pending[0]), out)
        if started:
            # Even when the pool has already stopped (a budget reached by the first requests while the
            # rest was planned): the requests in flight still answer, and their answers are counted.
            if pool.stop_reason is None:
                emit(snapshot("running"))
            while not pool.wait(progress_interval):
                if controls.cancelled:
                    pool.stop("cancelled")
                if pool.halt.is_set():
                    state = "stopping"
                else:
                    state = "paused" if controls.paused else "running"
                emit(snapshot(state))
        planner.join()
        if planner.error is not None:
            raise planner.error
        result = _result(ws, model, split, planner.keys, pool, spent_before, budget_usd, planner.beyond_limit,
                         price_known, planner.held)
        too_long_note = planner.too_long_note()
        if too_long_note:
            result.too_long, result.too_long_note = planner.too_long, too_long_note
            result.message += f"; {too_long_note}"
        status = {None: "done", "fatal": "failed"}.get(result.stopped, result.stopped)
        final_state = {None: "done", "fatal": "failed"}.get(result.stopped, result.stopped)
        emit(snapshot(final_state, result.message))
        return result
    finally:
        if status == "interrupted":
            pool.stop("cancelled")
        writer.close(timeout=10.0)  # whatever way the run ends, answers received are committed
        pool.shards.close()  # the connection pools no thread uses any more (a thread still out keeps its own)
        with pool.lock:
            t = pool.tally
            counts = dict(requests=t.requests, done=t.ok, failed=t.failed, cost_usd=t.cost_usd)
        ws.store.finish_run(run_id, status, **counts)


def _result(
    ws: "Workspace", model: str, split: str, keys: set[tuple[int, str]], pool: Pool, spent_before: float,
    budget_usd: float | None, beyond_limit: int, price_known: bool, held: int = 0,
) -> RunResult:
    ok, failed = key_status(ws, model, split, keys)
    t = pool.tally
    total = len(keys)
    left = total - len(ok) - len(failed)
    stopped = pool.stop_reason
    if stopped == "cancelled" and not len(pool.queue):
        stopped = None  # everything was asked before the cancel landed
    if stopped is None and beyond_limit:
        stopped = "limit"
    total_spent = spent_before + t.cost_usd
    fatal = pool.fatal if stopped == "fatal" else None
    to_go = left + len(failed)
    if stopped == "fatal":
        message = fatal[0] if fatal else "stopped"
        if pool.gave_up:
            message += f"; {len(ok)} of {total} answers saved, run again to resume"
    elif stopped == "cancelled":
        message = f"cancelled: {len(ok)} done, {to_go} left; run again to resume"
    elif stopped == "budget":
        message = pool.stop_message or (
            f"budget reached: {format_usd(total_spent)} spent of {format_usd(budget_usd or 0)}; {to_go} rows left "
            "(raise budget_usd to go on)")
    elif stopped == "limit":
        message = f"smoke run: {t.ok} rows answered, {t.failed} failed; {to_go} rows left, run again to go on"
        message += _last_failure(t)
    elif held:
        message = (f"{len(ok)} of {total} rows answered, {len(failed)} failed; {held} wait in a batch "
                   "(Batch API): run `distill-tui generate SPEC --batch` to collect them")
    elif failed:
        message = f"{len(ok)} of {total} rows answered, {len(failed)} failed; run again to retry them"
        message += _last_failure(t)
    else:
        message = f"all {total} rows answered"
    return RunResult(
        model=model, split=split, total=total, done=len(ok), failed=len(failed), requests=t.requests,
        input_tokens=t.input_tokens, output_tokens=t.output_tokens, cost_usd=t.cost_usd,
        elapsed_s=time.monotonic() - pool.started, stopped=stopped, fatal_error=fatal[0] if fatal else None,
        fatal_exit_code=fatal[1] if fatal else None, left=left, retries=t.retries, rate_limited=t.rate_limited,
        answered_now=t.ok, failed_now=t.failed, price_known=price_known and t.cost_known, spent_usd=total_spent,
        budget_usd=budget_usd, message=message, cached_tokens=t.cached_tokens,
    )


def _last_failure(tally: Any) -> str:
    """" (last error: …)" naming why this run's latest row failed; "" when none failed in it."""
    failures = [line for _, line, outcome in tally.last_errors.snapshot() if outcome == "failed"]
    return f" (last error: {failures[-1]})" if failures else ""


QUICK_MARGIN = 64
"""Requests reserved at their tokens' upper bound while the vocabulary loads that a budget must hold
(`AnswerRecorder.bound_cap_usd`): the pool starts at 8 in flight and grows only with answers, so a
bound never stops a run for its budget, and a bound reserves more, never less, so the budget holds."""


def run_teacher(workspace: "Workspace", **kw: Any) -> RunResult:
    """`run_model` for the spec's teacher on the train rows, with the spec's budget by default."""
    kw.setdefault("budget_usd", workspace.spec.generation.budget_usd)
    return run_model(workspace, workspace.spec.teacher.model, "train", **kw)


def run_model(workspace: "Workspace", model: str, split: str, **kwargs: Any) -> "RunResult":
    """Answer every not-yet-answered row of `split` with `model` (see `_run_unlocked` for the arguments).

    One run per model and workspace at a time: a second one (another terminal, a forgotten TUI in a
    dropped SSH session) is refused with one line instead of paying for the same rows again.

    Raises:
        UserError: another run of this model holds the workspace, no API key, or unusable spec/data.
    """
    with workspace.store.run_lock(model):
        return _run_unlocked(workspace, model, split, **kwargs)
