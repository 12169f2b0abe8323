"""The provider side of `batch_api`: submit batches, settle interrupted submissions, poll, and commit."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.common.errors import UserError, WorkFailed
from distill_tui.core.provider import api_errors
from distill_tui.core.run import batch_files
from distill_tui.core.run.batch_summary import BatchSummary, budget_line
from distill_tui.core.run.plan import row_status, spent
from distill_tui.core.store.batches import LOST, SUBMITTING, TERMINAL, BatchRecord

if TYPE_CHECKING:
    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.workspace.workspace import Workspace

SETTLE_MARGIN_S = 600.0
"""How far before an unfinished submission the provider's batch list is searched for it (clock skew)."""

POLL_FIRST_S = 5.0
"""First pause between polls while waiting; each next one is 1.5 times longer, up to `POLL_MAX_S`."""
POLL_MAX_S = 60.0


def _expected(exc: BaseException) -> bool:
    return isinstance(exc, (UserError, WorkFailed)) or api_errors.explain(exc) is not None


class BatchSession:
    """One `generate --batch` on one model and split (the caller holds the workspace's run lock)."""

    def __init__(self, ws: "Workspace", model: str, split: str, budget: float | None,
                 controls: "Controls | None", on_status: Callable[[str], None] | None) -> None:
        from distill_tui.core.cost.capabilities import load_models
        from distill_tui.core.cost.preflight import fitting_requests
        from distill_tui.core.run.recorder import AnswerRecorder
        from distill_tui.core.task.requests import iter_requests

        self.ws, self.model, self.split, self.budget = ws, model, split, budget
        self.controls, self.on_status = controls, on_status
        self.started = time.monotonic()
        # Rows too long for the model's context window would only come back failed: never submit them.
        table = load_models()
        self.reqs, self.too_long, self.too_long_note = fitting_requests(
            list(iter_requests(ws.spec, ws.data, model, split, table.rules(model))), model, table)
        self.recorder = AnswerRecorder(ws, model, split, batch=True)
        self.touched: list[str] = []
        self.waiting = False  # say each change seen while polling only when waiting (else the summary says it)
        self._client: Any = None
        self._seen: dict[str, tuple] = {}

    # --- clients ----------------------------------------------------------------------------------
    def client(self, *, retries: bool = True) -> Any:
        """Reads and uploads may be retried; `batches.create` never is (a retry could submit twice)."""
        if self._client is None:
            self._client = self.ws.client()
        return self._client.with_options(max_retries=3) if retries else self._client.with_options(max_retries=0)

    def say(self, line: str) -> None:
        if self.on_status is not None:
            try:
                self.on_status(line)
            except Exception:  # noqa: BLE001 - a broken display must not stop a paid run
                self.on_status = None

    # --- the run ------------------------------------------------------------------------------------
    def run(self, wait: bool) -> BatchSummary:
    
        summary = BatchSummary(self.model, self.split, str(self.ws.spec.source), budget_usd=self.budget)
        try:
            self.settle_submissions()
            in_flight = self.open_batches()
            self.poll(in_flight, summary)
            if not in_flight:
                self.submit(summary)
            if wait and summary.stopped is None:
                self.wait(summary)
        except Exception as exc:
            if not _expected(exc):
                raise
            summary.stopped, summary.fatal = "fatal", api_errors.describe(exc)
        return summary

    def open_batches(self) -> list[BatchRecord]:
        return [b for b in self.ws.store.batches(self.model, open_only=True) if b.split == self.split]

    def wait(self, summary: BatchSummary) -> None:
        delay = POLL_FIRST_S
        self.waiting = True
        while True:
            in_flight = self.open_batches()
            if not in_flight:
                return
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                if self.controls is not None and self.controls.cancelled:
                    summary.stopped = "interrupted"
                    return
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            self.poll(in_flight, summary)
            delay = min(POLL_MAX_S, delay * 1.5)

    # --- submitting ---------------------------------------------------------------------------------
    def submit(self, summary: BatchSummary) -> None:
        from distill_tui.core.workspace.workspace import provider_url

        ok, _ = row_status(self.ws, self.model, self.split, self.reqs)
        busy = self.ws.store.batch_keys_in_flight(self.model)
        todo = [r for r in self.reqs if (r.row_id, r.prompt_hash) not in ok and (r.row_id, r.prompt_hash) not in busy]
        if not todo:
            return
        if self.budget is not None:
            costs = [self.recorder.estimate(r)[1] for r in todo]
            worst = None if any(c is None for c in costs) else sum(costs)
            spent_usd = spent(self.ws, self.model, self.split)
            if worst is None or spent_usd + worst > self.budget:
                summary.stopped = "budget"
                summary.message = budget_line(self.model, len(todo), worst, spent_usd, self.budget)
                return
        url = provider_url(self.ws)
        for number, chunk in enumerate(batch_files.chunks(todo), start=1):
            upload = self.client().files.create(
                file=(f"distill-{self.split}-{number}.jsonl", chunk.content), purpose="batch")
            record = BatchRecord(input_file_id=upload.id, model=self.model, split=self.split, status=SUBMITTING,
                                 requests=len(chunk.reqs), base_url=url)
            rows = [(batch_files.custom_id(r.row_id, r.prompt_hash), r.row_id, r.prompt_hash, r.split, r.gold, r.body)
                    for r in chunk.reqs]
            self.ws.store.add_batch(record, rows)
            self.touched.append(upload.id)
            try:
                batch = self.client(retries=False).batches.create(
                    input_file_id=upload.id, endpoint=batch_files.ENDPOINT, completion_window="24h",
                    metadata={"distill_tui": "teacher" if self.split == "train" else self.split})
            except Exception:
                self.settle(self.ws.store.batch(upload.id))  # it may exist even though the call failed
                raise
            self.save(upload.id, batch)
            summary.submitted.append(batch.id)
            summary.requests += len(chunk.reqs)
            self.say(f"submitted batch {batch.id}: {len(chunk.reqs)} rows of {self.model} at the Batch price")

    def settle_submissions(self) -> None:
        """Find the batch of each submission a crash or error left without an id, or free its rows."""
        for record in self.ws.store.batches(self.model, open_only=True):
            if record.id is None:
                self.touched.append(record.input_file_id)
                self.settle(record)

    def settle(self, record: BatchRecord | None) -> None:
        if record is None or record.id is not None:
            return
        for batch in self.client().batches.list(limit=100):
            if batch.input_file_id == record.input_file_id:
                self.save(record.input_file_id, batch)
                return
            if batch.created_at < record.created_at - SETTLE_MARGIN_S:
                break
        self.ws.store.drop_batch(record.input_file_id)

    def save(self, input_file_id: str, batch: Any) -> None:
        counts = batch.request_counts
        errors = getattr(getattr(batch, "errors", None), "data", None) or []
        error = "; ".join(" ".join(str(e.message or e.code).split()) for e in errors[:3]) or None
        self.ws.store.update_batch(
            input_file_id, id=batch.id, status=batch.status, output_file_id=batch.output_file_id,
            error_file_id=batch.error_file_id, error=error,
            **({"completed": counts.completed, "failed": counts.failed} if counts else {}),
            **({"requests": counts.total} if counts and counts.total else {}),  # 0 while validating
        )

    # --- polling and committing ---------------------------------------------------------------------
    def poll(self, records: list[BatchRecord], summary: BatchSummary) -> None:
        import openai

        from distill_tui.core.workspace.workspace import provider_url

        for record in records:
            self.touched.append(record.input_file_id)
            try:
                batch = self.client().batches.retrieve(record.id)
            except openai.NotFoundError:
                url = provider_url(self.ws)
                if record.base_url and record.base_url != url:
                    raise UserError(f"batch {record.id} was submitted to {record.base_url}, but this run calls "
                                    f"{url}: run with --base-url {record.base_url}") from None
                self.lost(record)
                continue
            self.save(record.input_file_id, batch)
            counts = batch.request_counts
            seen = (batch.status, counts.completed if counts else 0, counts.failed if counts else 0)
            if self.waiting and self._seen.get(record.input_file_id) != seen:
                self._seen[record.input_file_id] = seen
                total = (counts.total if counts else 0) or record.requests
                self.say(f"batch {batch.id}: {batch.status}, {seen[1]}/{total} answered, {seen[2]} failed")
            if batch.status in TERMINAL:
                self.collect(self.ws.store.batch(record.input_file_id), batch, summary)

    def lost(self, record: BatchRecord) -> None:
        with self.ws.store.transaction():
            if self.ws.store.commit_batch(record.input_file_id, status=LOST,
                                          error="the provider no longer knows this batch"):
                self.say(f"batch {record.id}: the provider no longer knows it; its rows will be asked again")

    def collect(self, record: BatchRecord, batch: Any, summary: BatchSummary) -> None:
        """Download a batch that ended and commit every answer in it, once."""
        texts = [self.client().files.content(fid).text for fid in (batch.output_file_id, batch.error_file_id) if fid]
        results = batch_files.read_results(texts)
        rows = self.ws.store.batch_rows(record.input_file_id)
        answered = self.ws.store.answered_keys(self.model)
        store, tally = self.ws.store, {"ok": 0, "failed": 0, "in": 0, "out": 0, "cost": 0.0, "known": True}
        with store.transaction():
            if not store.commit_batch(record.input_file_id, status=batch.status):
                return  # committed already (by an earlier run)
            run_id = store.start_run("batch", self.model)
            for row in rows:
                line = results.get(row["custom_id"])
                if line is None or (row["row_id"], row["prompt_hash"]) in answered:
                    continue  # not answered (expired, cancelled), or answered another way already
                self.commit_line(row, line, tally)
            store.update_batch(record.input_file_id, answered=tally["ok"], failed_rows=tally["failed"],
                               cost_usd=tally["cost"] if tally["known"] else None)
            store.finish_run(run_id, "done", requests=len(rows), done=tally["ok"], failed=tally["failed"],
                             cost_usd=tally["cost"])
        summary.answered_now += tally["ok"]
        summary.failed_now += tally["failed"]
        summary.input_tokens += tally["in"]
        summary.output_tokens += tally["out"]
        summary.cost_usd += tally["cost"]
        summary.cost_known = summary.cost_known and tally["known"]
        if batch.status != "completed":
            why = self.ws.store.batch(record.input_file_id).error
            self.say(f"batch {batch.id} {batch.status}{f': {why}' if why else ''}; rows without an answer "
                     "will be asked again")
        self.say(f"batch {batch.id} committed: {tally['ok']} answers, {tally['failed']} failed rows")

    def commit_line(self, row: dict[str, Any], line: dict[str, Any], tally: dict[str, Any]) -> None:
        from distill_tui.core.task.requests import RowRequest

        req = RowRequest(int(row["row_id"]), row["split"], row["gold"], row["body"], row["prompt_hash"])
        problem = batch_files.line_error(line)
        if problem is None:
            try:
                outcome = self.recorder.save_ok(req, batch_files.Headers(batch_files.request_id(line)),
                                                batch_files.completion_of(line), None, 1)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                problem = f"unreadable batch answer: {type(exc).__name__}: {exc}"
            else:
                tally["failed" if outcome.failed else "ok"] += 1  # failed: paid for, saved with its reason
                tally["in"] += outcome.prompt_tokens
                tally["out"] += outcome.completion_tokens
                if outcome.cost_usd is None:
                    tally["known"] = False
                else:
                    tally["cost"] += outcome.cost_usd
                return
        self.recorder.save_failed(req, problem, 1)
        tally["failed"] += 1

