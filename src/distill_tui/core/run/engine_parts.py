"""The parts of the request engine that need no thread of their own: run controls, the run's
counters, error classification, the two-level rate limits and the row queue."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from distill_tui.core.provider import api_errors
from distill_tui.core.run.rate_limiter import RateLimiter

if TYPE_CHECKING:
    from distill_tui.core.task.requests import RowRequest

RECENT = 8
"""How many recent answers and errors a progress snapshot carries."""
RATE_WINDOW_S = 10.0
"""Rows/s and tokens/s are measured over this many recent seconds."""

RATE_LIMIT_RETRIES = 20
"""Most 429s one row may get before it counts as failed; separate from `max_retries` because a 429
says "later", not "this row is broken"."""

ROW_400_CODES = frozenset({"context_length_exceeded", "string_above_max_length", "content_policy_violation",
                           "content_filter", "invalid_prompt"})
"""400 codes that blame one row rather than the shape of every request."""

class Controls:
    """Pause, resume and cancel a run from any thread (the UI, a signal handler)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._cancelled = False

    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def cancelled(self) -> bool:
        return self._cancelled


def classify(exc: BaseException, *, rows_succeeded: bool) -> str:
    """What a failed attempt means for the run.

    Returns:
        "rate_limited" (pause the pool, ask again), "retry" (back off, ask again), "row" (this row
        failed; others carry on) or "fatal" (stop the run).

    A 400 fails only its row when its code blames the row (context too long, content policy) or
    when other rows with the same request shape already got through; otherwise the shape itself
    is wrong for this provider, and every row would fail the same way.
    """
    import openai

    response = getattr(exc, "response", None)
    should_retry = response.headers.get("x-should-retry") if response is not None else None
    if isinstance(exc, openai.RateLimitError):
        if api_errors.error_code(exc) == "insufficient_quota":
            return "fatal"
        # "Request too large for … tokens per min": this request can never fit the limit.
        return "row" if should_retry == "false" else "rate_limited"
    if should_retry == "false" and isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return "row"
    if isinstance(exc, openai.BadRequestError):
        return "row" if rows_succeeded or api_errors.error_code(exc) in ROW_400_CODES else "fatal"
    if api_errors.is_fatal(exc):
        return "fatal"
    if api_errors.is_retryable(exc):
        return "retry"
    if isinstance(exc, openai.APIStatusError):
        return "row"  # 413, 422…: about this request's content
    if isinstance(exc, openai.OpenAIError):
        return "retry"
    return "fatal"


explain_line = api_errors.describe
"""One line and an exit code for any exception a request can raise."""


def failure_kind(exc: BaseException) -> str:
    """What a failed attempt was, as the give-up line counts it: "429", "502", "timeouts"…"""
    import openai

    if isinstance(exc, api_errors.BadResponse):
        return "broken 200s"
    if isinstance(exc, openai.APIStatusError):
        return str(exc.status_code)
    if isinstance(exc, openai.APITimeoutError):
        return "timeouts"
    if isinstance(exc, openai.APIConnectionError):
        return "connection errors"
    return type(exc).__name__


def give_up_line(kinds: "Counter[str]", seconds: float, attempts: int, last: str) -> str:
    """Why a run gave up on its provider, in one line: what it answered, for how long, and the last error."""
    if len(kinds) == 1:
        what = f"only {next(iter(kinds))}"
    else:
        what = "only errors (" + ", ".join(f"{kind} ×{n}" for kind, n in kinds.most_common()) + ")"
    return (f"gave up: the provider answered {what} for {seconds:.0f} s, {attempts} attempts in a row without "
            f"an answer (last: {api_errors.one_line(last, 160)})")


class RecentErrors:
    """The last errors of a run, one entry per row, oldest first, each with what became of the row.

    An entry is `[row_id, line, outcome]`: "retrying" (the row is asked again), "answered" (a retry
    got its answer) or "failed" (final, saved as failed). When full, an answered retry makes room
    first and a final failure last, so a burst of 429s cannot push the failures out of sight.
    Called with the pool's lock held.

    Args:
        size: How many entries to keep.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: list[list] = []

    def add(self, row_id: int, line: str, *, final: bool) -> None:
        """Note a failed attempt of `row_id`; it replaces that row's earlier entry."""
        self._items = [e for e in self._items if e[0] != row_id]
        self._items.append([row_id, line, "failed" if final else "retrying"])
        for outcome in ("answered", "retrying", "failed"):
            if len(self._items) <= self.size:
                break
            self._items = _drop_oldest(self._items, outcome, len(self._items) - self.size)

    def answered(self, row_id: int) -> None:
        """`row_id` got its answer after a failed attempt."""
        for entry in self._items:
            if entry[0] == row_id and entry[2] == "retrying":
                entry[2] = "answered"

    def snapshot(self) -> list[tuple[int, str, str]]:
        """`(row_id, line, outcome)` of each entry, oldest first."""
        return [(row, line, outcome) for row, line, outcome in self._items]


def _drop_oldest(items: list[list], outcome: str, count: int) -> list[list]:
    kept, dropped = [], 0
    for entry in items:
        if dropped < count and entry[2] == outcome:
            dropped += 1
            continue
        kept.append(entry)
    return kept


class Limits:
    """The spec's limits and the provider's, both kept: whichever is slower paces the pool.

    `RateLimiter` learns a limit from `x-ratelimit-limit-*` only when none was given, so a spec
    `rpm` above the account's real limit would be trusted and answered with 429 after 429. Here
    the spec's limits (if any) live in one limiter and the learned ones in another; a request
    waits for both. Same interface as `RateLimiter`.
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None) -> None:
        self.learned = RateLimiter()
        self.given = RateLimiter(rpm, tpm, learn_from_headers=False) if (rpm or tpm) else None
        self._all = [x for x in (self.given, self.learned) if x is not None]

    def acquire(self, tokens: float = 0.0, cancel_event: threading.Event | None = None) -> bool:
        # The spec's limiter first: it is the one a user set lower, so the learned one rarely waits.
        # A slot taken from the first and then abandoned on cancel is of no consequence.
        return all(limiter.acquire(tokens, cancel_event) for limiter in self._all)

    def reconcile(self, reserved_tokens: float, actual_tokens: float) -> None:
        for limiter in self._all:
            limiter.reconcile(reserved_tokens, actual_tokens)

    def observe_headers(self, headers: Any) -> None:
        for limiter in self._all:
            limiter.observe_headers(headers)

    def penalize(self, retry_after_s: float) -> None:
        self.learned.penalize(retry_after_s)  # one pause is enough: every request waits for both

    def current_rates(self) -> dict:
        """`RateLimiter.current_rates` of the slower of the two, per kind."""
        rates = [limiter.current_rates() for limiter in self._all]
        out = dict(rates[-1])
        for key in ("requests_per_min", "tokens_per_min"):
            known = [r[key] for r in rates if r[key] is not None]
            out[key] = min(known) if known else None
        out["scale"] = min(r["scale"] for r in rates)
        return out


@dataclass(order=True)
class Item:
    """A row on the queue, with what its attempts so far cost."""

    due: float
    seq: int
    req: "RowRequest" = field(compare=False)
    attempts: int = field(default=0, compare=False)
    errors: int = field(default=0, compare=False)
    rate_limited: int = field(default=0, compare=False)
    tokens: int | None = field(default=None, compare=False)
    reserve_usd: float = field(default=0.0, compare=False)


class RowQueue:
    """Rows waiting to be asked: retries (by due time) before fresh rows, in row order.

    All methods are called with the pool's lock held.
    """

    def __init__(self, reqs: list["RowRequest"]) -> None:
        self._seq = itertools.count()
        self.fresh: deque[Item] = deque(Item(0.0, next(self._seq), r) for r in reqs)
        self.retry: list[Item] = []

    def __len__(self) -> int:
        return len(self.fresh) + len(self.retry)

    def extend(self, reqs: list["RowRequest"]) -> None:
        """Fresh rows, after those queued."""
        self.fresh.extend(Item(0.0, next(self._seq), r) for r in reqs)

    def pop(self, now: float) -> Item | float | None:
        """The next item, or the seconds until a retry is due, or None when empty."""
        if self.retry and self.retry[0].due <= now:
            return heapq.heappop(self.retry)
        if self.fresh:
            return self.fresh.popleft()
        if self.retry:
            return self.retry[0].due - now
        return None

    def push_back(self, item: Item) -> None:
        """Return an item not sent (cancel, budget): it goes first next time."""
        if item.attempts:
            heapq.heappush(self.retry, item)
        else:
            self.fresh.appendleft(item)

    def later(self, item: Item, due: float) -> None:
        item.due = due
        item.seq = next(self._seq)
        heapq.heappush(self.retry, item)


@dataclass
class Tally:
    """Counters of one run, updated under the pool's lock."""

    ok: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # of input_tokens, those the provider read from its prompt cache
    cost_usd: float = 0.0
    cost_known: bool = True
    in_flight: int = 0
    saving: int = 0  # answered, waiting for their group's commit (not yet counted in ok/failed)
    reserved_usd: float = 0.0
    error_streak: int = 0  # failed attempts (429, 5xx, timeouts, connection…) since the last answer
    failing_since: float = 0.0  # when that streak began
    streak_kinds: Counter = field(default_factory=Counter)  # what those attempts were ("429", "502"…)
    recent: deque = field(default_factory=lambda: deque())  # (time, tokens) of recent answers
    recent_tokens: int = 0  # the sum of those tokens
    last_errors: RecentErrors = field(default_factory=lambda: RecentErrors(RECENT))
    last_answers: deque = field(default_factory=lambda: deque(maxlen=RECENT))

    def answered(self, now: float, tokens: int) -> None:
        """Note an answer for `rates`."""
        self.recent.append((now, tokens))
        self.recent_tokens += tokens

    def rates(self, now: float, elapsed: float) -> tuple[float, float]:
        while self.recent and self.recent[0][0] < now - RATE_WINDOW_S:
            self.recent_tokens -= self.recent.popleft()[1]
        span = min(RATE_WINDOW_S, elapsed)
        if span <= 0.2:
            return 0.0, 0.0
        return len(self.recent) / span, self.recent_tokens / span


@dataclass
class Outcome:
    """What a worker hands back for one successful request."""

    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    label: str | None
    failed: str | None = None  # paid for, but saved as a failed row: why (e.g. the budget spent on reasoning)
    cached_tokens: int = 0  # of prompt_tokens, those billed at the cached-input price
