"""The Generate screen's words: the two plan lines on top (rows, then money), kept current during a
run, who else runs the teacher in this workspace, and the hint after a run ends. Plain functions of
the plan or progress, so each is the same before, during and after a run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from distill_tui.core.run import progress_text as fmt

if TYPE_CHECKING:
    from distill_tui.core.run.generate import Progress, RunResult
    from distill_tui.core.run.plan import Plan, RunHolder


def plan_text(plan: "Plan") -> str:
    """The plan lines for a plan counted from the store (Rich markup)."""
    return plan_lines(plan.model, plan.total, plan.done, plan.to_ask, plan.failed, plan.cost_usd,
                      plan.spent_usd, plan.budget_usd)


def live_text(p: "Progress") -> str:
    """The two plan lines, kept current while a run goes on (Rich markup)."""
    rest = None if p.estimated_total_usd is None else max(0.0, p.estimated_total_usd - p.spent_usd)
    return plan_lines(p.model, p.total, p.done, p.left + p.in_flight, p.failed, rest, p.spent_usd,
                      p.budget_usd)


def next_hint(result: "RunResult") -> str:
    """The key to press after a run that was not stopped by a fatal error, if any."""
    if result.done == result.total:
        return " · c to curate"
    if result.failed and result.stopped is None:
        return " (r)"
    if result.stopped in ("cancelled", "limit"):
        return " (s)"
    return ""


def plan_lines(model: str, total: int, done: int, to_ask: int, failed: int, rest_usd: float | None,
                spent: float, budget: float | None) -> str:
    """The two lines on top of the screen: rows, and money (what the rows left should cost, so the
    figures before, during and after a run are all the same kind of number)."""
    failed_text = f" ({failed:,} failed)" if failed else ""
    line = (f"Teacher [b]{escape(model)}[/b] · {total:,} train rows · {done:,} answered · "
            f"{to_ask:,} to ask{failed_text}")
    if to_ask:
        cost = f"Estimate for the {to_ask:,} rows left {fmt.money(rest_usd, unknown='unknown (no price)')}"
    else:
        cost = "Nothing left to ask"
    second = f"{cost} · spent so far {fmt.money(spent)}"
    if budget is not None:
        second += f" · budget {fmt.money(budget)}"
    return f"{line}\n{second}"


def holder_text(holder: "RunHolder", model: str, *, starting: bool = False) -> str:
    """Who else runs the teacher here, in two lines at 80 columns (plain text, not markup)."""
    if holder.this_process:
        who = f"this app is already {holder.doing} {model} (since {holder.started})"
    else:
        who = f"another distill-tui (pid {holder.pid}, since {holder.started}) is {holder.doing} {model} here"
    if starting:
        return f"{who}; wait for it to end."
    follows = " counts update as it answers." if holder.doing == "generating" else ""
    return f"{who[0].upper()}{who[1:]};{follows} s works once it ends."
