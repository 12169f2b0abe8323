"""The numbers of a generation run: rows, speed, spend, limiter, as a compact grid."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from distill_tui.core import engine_format as fmt

if TYPE_CHECKING:
    from distill_tui.core.generate import Plan, Progress


def stats_table(progress: "Progress | None", plan: "Plan | None") -> Table:
    """A two-pair-per-line grid; before any run, the plan's counts and dashes for the rest."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", width=10, no_wrap=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(style="bold", width=9, no_wrap=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    p = progress
    if p is None:
        total = plan.total if plan else 0
        done = f"{plan.done:,} of {total:,}" if plan else "–"
        failed = f"{plan.failed:,}" if plan else "–"
        left = f"{plan.left + plan.failed:,}" if plan else "–"
        spend, budget = "–", "none"
        if plan is not None:
            est = fmt.money(plan.spent_usd + plan.cost_usd) if plan.cost_usd is not None else None
            spend = fmt.money(plan.spent_usd) + (f" of ~{est}" if est else " (price unknown)")
            budget = fmt.money(plan.budget_usd, unknown="none")
        grid.add_row("done", done, "rows/s", "–")
        grid.add_row("failed", failed, "tokens/s", "–")
        grid.add_row("in flight", "0", "ETA", "–")
        grid.add_row("left", left, "elapsed", "–")
        grid.add_row("spend", spend, "budget", budget)
        grid.add_row("429s", "–", "limiter", "–")
        return grid
    failed = Text(f"{p.failed:,}", style="bold red" if p.failed else "")
    grid.add_row("done", f"{p.done:,} of {p.total:,}", "rows/s", f"{p.rows_per_s:.1f}")
    grid.add_row("failed", failed, "tokens/s", fmt.count(p.tokens_per_s))
    grid.add_row("in flight", f"{p.in_flight}", "ETA", "–" if p.finished else fmt.duration(p.eta_s))
    grid.add_row("left", f"{p.left:,}", "elapsed", fmt.duration(p.elapsed_s))
    grid.add_row("spend", fmt.spend_text(p, budget=False), "budget", fmt.money(p.budget_usd, unknown="none"))
    grid.add_row("429s", f"{p.rate_limited} · {p.retries} retries · {p.requests:,} requests", "limiter",
                 fmt.limiter_text(p.limiter))
    return grid


class ProgressStats(Static):
    """Shows a `Progress` snapshot (or a `Plan` before the first run)."""

    DEFAULT_CSS = """
    ProgressStats { height: auto; padding: 0 1; }
    """

    def show(self, progress: "Progress | None", plan: "Plan | None" = None) -> None:
        self.update(stats_table(progress, plan))
