"""What reasoning does to the estimate: a range before anything ran, and the estimate re-computed
from the answers a smoke run (`generate --limit N`) saved ("estimate from pilot").

A reasoning model's reasoning tokens are billed as output and are unknown until measured. Before a
pilot the estimate adds, per request, the model's known reasoning tokens at the spec's
reasoning_effort (`reasoning_tokens` in models.toml; OpenAI publishes none for its models) or else
the range from none to the whole output budget left after the answer: reasoning tokens count inside
max_completion_tokens (OpenAI reasoning guide), so no request is billed more. After a pilot, every
stage of a model with saved answers is priced with their measured mean completion tokens (reasoning
included), in place of the planned answer length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from distill_tui.core.cost.pricing import PER, PriceTable, format_usd

if TYPE_CHECKING:
    from distill_tui.core.cost.capabilities import ModelTable
    from distill_tui.core.cost.estimate import Estimate, Stage
    from distill_tui.core.task.spec import TaskSpec

JUDGE_SPLIT = "judge"  # core.evaluate.judging.SPLIT: the split a judge's verdicts are saved under
DEFAULT_EFFORT = "medium"  # what OpenAI's reasoning models use when reasoning_effort is not sent
RANGE_SOURCE = ("reasoning tokens count inside max_completion_tokens (OpenAI reasoning guide, "
                "developers.openai.com/api/docs/guides/reasoning): from none to the output budget left "
                "after the answer, unless models.toml gives the model's reasoning_tokens")


def _efforts(spec: "TaskSpec") -> dict[str, str]:
    """The reasoning_effort each model of the spec is asked with (its role's, else the default)."""
    out = {spec.student.model: spec.student.reasoning_effort or DEFAULT_EFFORT}
    out[spec.teacher.model] = spec.teacher.reasoning_effort or DEFAULT_EFFORT
    return out


def _output_price(prices: PriceTable, stage: "Stage", batch: bool = False) -> float | None:
    price = prices.price(stage.model)
    if price is None:
        return None
    if batch:
        return price.batch_output
    return price.flex_output if "flex tier" in (stage.note or "") else price.output


@dataclass
class ReasoningRange:
    """The run's total cost with the fewest and the most reasoning tokens a request can bill."""

    low_usd: float | None
    high_usd: float | None
    per_request: dict[str, tuple[int, int]]  # model: (low, high) reasoning tokens per request
    source: str = RANGE_SOURCE

    def line(self) -> str:
        models = "; ".join(f"{m} {lo:,}–{hi:,}" for m, (lo, hi) in self.per_request.items())
        return (f"with reasoning: {format_usd(self.low_usd)}–{format_usd(self.high_usd)} "
                f"(reasoning tokens per request: {models})")

    def to_json(self) -> dict[str, Any]:
        return {"low_usd": _round(self.low_usd), "high_usd": _round(self.high_usd), "source": self.source,
                "per_request": {m: {"low": lo, "high": hi} for m, (lo, hi) in self.per_request.items()}}


def reasoning_range(plan: "Estimate", spec: "TaskSpec", table: "ModelTable", prices: PriceTable) -> ReasoningRange | None:
    """The range the estimate's total spans once reasoning tokens are added; None when no model of
    its stages reasons (the fine-tune training stage bills trained tokens, never reasoning)."""
    efforts = _efforts(spec)
    budget = spec.generation.output_budget(reasoning=True)
    per_request: dict[str, tuple[int, int]] = {}
    low = high = 0.0
    known = plan.total_cost_usd is not None
    for stage in plan.stages:
        if stage.name == "fine-tune training" or not stage.requests or not table.rules(stage.model).reasoning:
            continue
        known_tokens = table.reasoning_tokens(stage.model, efforts.get(stage.model, DEFAULT_EFFORT))
        room = max(0, budget - stage.output_tokens // stage.requests)  # what the answer leaves of the budget
        lo, hi = (min(known_tokens, room),) * 2 if known_tokens is not None else (0, room)
        per_request.setdefault(stage.model, (lo, hi))
        rate = _output_price(prices, stage)
        if rate is None:
            known = False
            continue
        low += stage.requests * lo * rate / PER
        high += stage.requests * hi * rate / PER
    if not per_request:
        return None
    total = plan.total_cost_usd
    return ReasoningRange(total + low if known and total is not None else None,
                          total + high if known and total is not None else None, per_request)


@dataclass(frozen=True)
class Measured:
    """What one model's saved answers used per answer."""

    model: str
    answers: int
    completion_tokens: float  # mean, reasoning included
    reasoning_tokens: float  # mean


def measure(answers: Iterable[Any], models: Iterable[str]) -> dict[str, Measured]:
    """The mean completion and reasoning tokens of each model's generated answers that report usage
    (answers imported from elsewhere, requests that never got a response and a judge's verdicts are left
    out: a judge that is also the teacher writes short verdicts, not answers)."""
    wanted = set(models)
    sums: dict[str, list[int]] = {}
    for answer in answers:
        if (answer.model not in wanted or answer.completion_tokens <= 0
                or getattr(answer, "source", "generated") != "generated" or getattr(answer, "split", "") == JUDGE_SPLIT):
            continue
        entry = sums.setdefault(answer.model, [0, 0, 0])
        entry[0] += 1
        entry[1] += answer.completion_tokens
        entry[2] += answer.reasoning_tokens or 0
    return {m: Measured(m, n, c / n, r / n) for m, (n, c, r) in sums.items()}


@dataclass
class PilotEstimate:
    """The estimate with each measured model's stages priced at the pilot's completion tokens."""

    measured: dict[str, Measured]
    stages: list[dict[str, Any]] = field(default_factory=list)  # name, model, output_tokens, cost_usd, batch_cost_usd
    total_cost_usd: float | None = None
    total_batch_cost_usd: float | None = None
    planned_total_usd: float | None = None

    @property
    def answers(self) -> int:
        return sum(m.answers for m in self.measured.values())

    def line(self) -> str:
        """One line: how many answers it rests on, what they used, and the total it gives."""
        used = "; ".join(f"{m.model} {m.completion_tokens:,.0f} output tokens an answer"
                         + (f", {m.reasoning_tokens:,.0f} of them reasoning" if m.reasoning_tokens else "")
                         for m in self.measured.values())
        return (f"estimate from pilot: {self.answers:,} answer{'s' if self.answers != 1 else ''} ({used}): "
                f"total {format_usd(self.total_cost_usd)}, batch {format_usd(self.total_batch_cost_usd)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "models": {m.model: {"answers": m.answers, "completion_tokens_per_answer": round(m.completion_tokens, 2),
                                 "reasoning_tokens_per_answer": round(m.reasoning_tokens, 2)}
                       for m in self.measured.values()},
            "stages": self.stages, "total_cost_usd": _round(self.total_cost_usd),
            "total_batch_cost_usd": _round(self.total_batch_cost_usd),
        }


def from_pilot(plan: "Estimate", answers: Iterable[Any], prices: PriceTable) -> PilotEstimate | None:
    """The estimate re-computed from saved answers (a smoke run's); None when no stage's model has
    any. Input tokens and every other stage stay as planned."""
    models = {s.model for s in plan.stages if s.name != "fine-tune training"}
    measured = measure(answers, models)
    if not measured:
        return None
    out = PilotEstimate(measured, planned_total_usd=plan.total_cost_usd)
    totals: list[float | None] = [0.0, 0.0]
    for stage in plan.stages:
        output, cost, batch = stage.output_tokens, stage.cost_usd, stage.batch_cost_usd
        # A judge stage's verdicts are short whoever judges: the judge model's answers do not measure them.
        m = measured.get(stage.model) if stage.name != "fine-tune training" and not stage.name.startswith("judge ") else None
        if m is not None:
            output = round(stage.requests * m.completion_tokens)
            extra = output - stage.output_tokens
            rate, batch_rate = _output_price(prices, stage), _output_price(prices, stage, batch=True)
            cost = None if cost is None or rate is None else cost + extra * rate / PER
            batch = None if batch is None or batch_rate is None else batch + extra * batch_rate / PER
        out.stages.append({"name": stage.name, "model": stage.model, "output_tokens": output,
                           "cost_usd": _round(cost), "batch_cost_usd": _round(batch)})
        totals = [None if t is None or v is None else t + v for t, v in zip(totals, (cost, batch))]
    out.total_cost_usd, out.total_batch_cost_usd = totals
    return out


def rows_left_usd(planned_usd: float | None, rows_left: int, planned_output_tokens: int,
                  measured: Measured | None, output_price: float | None) -> float | None:
    """What the rows still to ask should cost once a pilot measured the model: the plan's figure with
    its planned output tokens replaced by the measured mean per row (the Generate screen's line)."""
    if planned_usd is None or measured is None or output_price is None:
        return None
    return planned_usd + (rows_left * measured.completion_tokens - planned_output_tokens) * output_price / PER


def pilot_line(measured: Measured | None, rows_left: int, usd: float | None) -> str | None:
    """"Estimate from pilot (5 answers, 201 tok out, 192 reasoning): $0.91 for the rows left" (one
    line at 80 columns); None without a measurement or rows left."""
    if measured is None or not rows_left:
        return None
    reasoning = f", {measured.reasoning_tokens:,.0f} reasoning" if measured.reasoning_tokens else ""
    return (f"Estimate from pilot ({measured.answers:,} answer{'s' if measured.answers != 1 else ''}, "
            f"{measured.completion_tokens:,.0f} tok out{reasoning}): {format_usd(usd)} for the rows left")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
