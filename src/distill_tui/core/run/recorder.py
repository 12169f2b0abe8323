"""Saving answers: each API response becomes an `Answer` in the store, priced and parsed, the moment it
arrives. The threaded engine and the Batch API collection save through the same recorder, so curation
and evaluation see no difference between the two kinds of answer."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from distill_tui.core.cost import tokens
from distill_tui.core.cost.preflight import most_tokens
from distill_tui.core.run.engine import Outcome
from distill_tui.core.store.database import Answer
from distill_tui.core.task import kinds

if TYPE_CHECKING:
    from distill_tui.core.cost.estimate import PromptCounter
    from distill_tui.core.task.requests import RowRequest
    from distill_tui.core.workspace.workspace import Workspace


class AnswerRecorder:
    """Turns API responses into saved `Answer`s (called from worker threads, and for Batch API
    results by `batch_api`, so both kinds of answer are saved alike; `batch` prices them at the
    Batch price)."""

    def __init__(self, ws: "Workspace", model: str, split: str, *, batch: bool = False) -> None:
        self.ws, self.model, self.split = ws, model, split
        self.spec = ws.spec
        self.labels = list(ws.data.labels)
        self.price = ws.prices.price(model)
        self.batch = batch
        self._from_rows: "PromptCounter | None | bool" = None  # None: not tried yet; False: not usable
        self.bound_cap_usd: float | None = None
        """The most a request reserved at its upper bound may cost (`quick_estimate`; None: no cap, no
        budget): a run with a budget sets it to the budget left / `generate.QUICK_MARGIN`, and a
        request whose bound costs more (or has no known cost) is counted instead."""

    def prompt_tokens(self, req: "RowRequest") -> int:
        """The request's billed prompt tokens, counted from its row's fields when they give the same
        count as its messages (checked on the first row): encoding the messages, where the labels list
        is most of the text, cost as much as everything else the engine does for a row."""
        counter = self._from_rows
        if counter is None:
            counter = self._from_rows = self._row_counter(req)
        if counter and req.row is not None:
            try:
                return counter.count(req.row)
            except (KeyError, TypeError, ValueError):  # a row the template cannot count: its messages can
                pass
        return tokens.count_chat(req.messages, self.model, req.body.get("response_format"))

    def _row_counter(self, req: "RowRequest") -> "PromptCounter | bool":
        """A `PromptCounter` when it counts `req` exactly as its messages count, else False (a model
        whose requests are fitted otherwise than the template says, a task with another layout)."""
        from distill_tui.core.cost.estimate import PromptCounter

        if req.row is None:
            return False
        try:
            counter = PromptCounter(self.spec, self.labels, self.model)
            same = counter.count(req.row) == tokens.count_chat(req.messages, self.model, req.body.get("response_format"))
        except Exception:  # noqa: BLE001 - counting the messages says what is wrong, if anything
            return False
        return counter if same else False

    def estimate(self, req: "RowRequest") -> tuple[int, float | None]:
        """The tokens and cost to reserve for a request: its prompt counted, its output at the most."""
        return self._reserve(req, self.prompt_tokens(req))

    def quick_estimate(self, req: "RowRequest") -> tuple[int, float | None]:
        """`estimate`, or while the model's vocabulary is still loading an upper bound of it (one token
        per byte of the prompt): the first requests of a run go out half a second sooner. The bound
        reserves more than the prompt costs, never less (within `bound_cap_usd` where a budget is set),
        and the token bucket is set right by each answer's usage (`Limits.reconcile`)."""
        if not tokens.encoding_ready(self.model):
            bound = self.bound_estimate(req)
            cap = self.bound_cap_usd
            if cap is None or (bound[1] is not None and bound[1] <= cap):
                return bound
        return self.estimate(req)

    def bound_estimate(self, req: "RowRequest") -> tuple[int, float | None]:
        """`estimate` with the prompt at its upper bound (no vocabulary needed)."""
        return self._reserve(req, most_tokens(req))

    def _reserve(self, req: "RowRequest", prompt: int) -> tuple[int, float | None]:
        most_out = int(req.body.get("max_completion_tokens") or self.spec.generation.max_tokens)
        cost = self.price.cost(prompt, most_out, batch=self.batch) if self.price else None
        return prompt + most_out, cost

    def save_ok(self, req: "RowRequest", raw: Any, completion: Any, latency: float | None, attempts: int) -> Outcome:
        """Parse, price and commit one answer at once (the Batch API's path; the engine groups its commits)."""
        answer, outcome = self.build_ok(req, raw, completion, latency, attempts)
        self.ws.store.record_answer(answer)
        return outcome

    def build_ok(self, req: "RowRequest", raw: Any, completion: Any, latency: float | None,
                 attempts: int) -> tuple[Answer, Outcome]:
        """The `Answer` to save for one response, and what the run counts for it."""
        choice = completion.choices[0] if getattr(completion, "choices", None) else None
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        finish_reason = getattr(choice, "finish_reason", None)
        parsed = kinds.parse_answer(self.spec, content, self.labels, finish_reason)
        problem = parsed.problem
        refusal = getattr(message, "refusal", None)
        if refusal:
            problem = f"refusal: {' '.join(str(refusal).split())[:200]}"
        usage = getattr(completion, "usage", None)
        counted = usage_counts(usage)
        if counted is not None:
            prompt_tokens, completion_tokens, cached = counted
        else:  # some OpenAI-compatible servers send no usage (or garbage): count it ourselves, so budgets hold
            usage = None
            prompt_tokens = self.prompt_tokens(req)
            completion_tokens = tokens.count_text(content or "", self.model)
            cached = 0
        # Reasoning tokens are inside completion_tokens (OpenAI's usage) and priced with them, not again.
        # The response says which tier served it; flex is priced as such where its price is known.
        flex = getattr(completion, "service_tier", None) == "flex" and bool(self.price and self.price.flex_input)
        cost = (self.price.cost(prompt_tokens, completion_tokens, batch=self.batch, cached_tokens=cached, flex=flex)
                if self.price else None)
        # Paid for but no answer: the row is failed with the way out, and asked again on the next run.
        failed = spent_before_answering(finish_reason, content, refusal, reasoning_tokens(usage))
        request_id = raw.headers.get("x-request-id") or getattr(completion, "_request_id", None)
        latency_s = None if latency is None else round(latency, 4)  # None: a batch answer
        answer = Answer(
            model=self.model, row_id=req.row_id, prompt_hash=req.prompt_hash, split=self.split,
            status="failed" if failed else "ok",
            gold=req.gold, messages=req.messages, content=content, label=parsed.label, valid=parsed.valid,
            problem=problem, finish_reason=finish_reason, prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens, cached_tokens=cached, reasoning_tokens=reasoning_tokens(usage),
            latency_s=latency_s, cost_usd=cost,
            request_id=request_id, attempts=attempts, error=failed, created_at=time.time(),
        )
        return answer, Outcome(prompt_tokens + completion_tokens, prompt_tokens, completion_tokens, cost, parsed.label,
                       failed=failed, cached_tokens=cached)

    def save_failed(self, req: "RowRequest", line: str, attempts: int) -> None:
        self.ws.store.record_answer(self.build_failed(req, line, attempts))

    def build_failed(self, req: "RowRequest", line: str, attempts: int) -> Answer:
        """The `Answer` that saves a row as failed (asked again on the next run)."""
        return Answer(
            model=self.model, row_id=req.row_id, prompt_hash=req.prompt_hash, split=self.split, status="failed",
            gold=req.gold, messages=req.messages, attempts=attempts, error=line, created_at=time.time(),
        )


def usage_counts(usage: Any) -> tuple[int, int, int] | None:
    """(prompt, completion, cached) tokens of a response's `usage`; None when it has none, or none
    that reads as counts (an OpenAI-compatible server's own shape must not stop a paid run)."""
    if usage is None:
        return None
    try:
        details = getattr(usage, "prompt_tokens_details", None)
        return (int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0),
                int(getattr(details, "cached_tokens", 0) or 0))
    except (AttributeError, TypeError, ValueError):
        return None


def reasoning_tokens(usage: Any) -> int:
    """`usage.completion_tokens_details.reasoning_tokens` (0 when the provider sends none, or garbage)."""
    details = getattr(usage, "completion_tokens_details", None)
    try:
        return int(getattr(details, "reasoning_tokens", 0) or 0)
    except (TypeError, ValueError):
        return 0


def spent_before_answering(finish_reason: str | None, content: str | None, refusal: Any, reasoning: int) -> str | None:
    """Why an answer that hit max_completion_tokens before writing anything is a failed row, or None."""
    if finish_reason != "length" or (content or "").strip() or refusal:
        return None
    if reasoning:
        return "the output budget was spent on reasoning: raise [generation] max_tokens"
    return "the output budget was spent before any answer: raise [generation] max_tokens"
