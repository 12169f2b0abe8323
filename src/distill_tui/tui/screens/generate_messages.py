"""What the Generate screen's workers post to it (workers never touch widgets)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from distill_tui.core.run.generate import Progress, RunResult
    from distill_tui.core.run.plan import Plan
    from distill_tui.core.run.plan import RunHolder


class GenerationProgress(Message):
    """A progress snapshot from the run worker; a newer one replaces any still waiting."""

    def __init__(self, progress: "Progress") -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, GenerationProgress)


class GenerationFinished(Message):
    """The run ended: a result, or the one line saying why it could not start."""

    def __init__(self, result: "RunResult | None", error: str | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error


class BatchNews(Message):
    """A line from a Batch API step (submitted, status seen)."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class BatchDone(Message):
    """A Batch API step ended: its summary line."""

    def __init__(self, line: str, error: bool = False) -> None:
        super().__init__()
        self.line, self.error = line, error


class PlanReady(Message):
    """The plan (rows left, estimated cost) was computed, or could not be; with who else runs the
    teacher here now, and that run's latest answers."""

    def __init__(self, plan: "Plan | None", error: str | None = None, batch_note: str | None = None, *,
                 holder: "RunHolder | None" = None, answers: list | None = None, took_s: float = 0.0,
                 pilot: str | None = None) -> None:
        super().__init__()
        self.pilot = pilot  # "Estimate from pilot (…)": the rows left priced at a smoke run's measured output
        self.plan = plan
        self.error = error
        self.batch_note = batch_note
        self.holder = holder
        self.answers = answers or []
        self.took_s = took_s


def pilot_line(ws: Any, plan: "Plan") -> str | None:
    """The rows left priced from a smoke run's saved answers (`core.cost.pilot`), once there are some."""
    from distill_tui.core.cost import pilot

    measured = pilot.measure(ws.store.answers(model=plan.model), [plan.model]).get(plan.model)
    price = ws.prices.price(plan.model)
    usd = pilot.rows_left_usd(plan.cost_usd, plan.to_ask, plan.output_tokens, measured, price and price.output)
    return pilot.pilot_line(measured, plan.to_ask, usd)
