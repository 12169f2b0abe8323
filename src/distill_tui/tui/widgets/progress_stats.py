"""The numbers of a generation run: rows, speed, spend, limiter, as a compact grid."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from distill_tui.core.run import progress_text as fmt

if TYPE_CHECKING:
    from distill_tui.core.run.generate import Progress
    from distill_tui.core.run.plan import Plan


def _grid(*widths: int | None) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    for i, width in enumerate(widths):
        grid.add_column(style="bold" if i % 2 == 0 else "", width=width, ratio=None if width else 1,
                        no_wrap=True, overflow="ellipsis")
    return grid


def stats_table(progress: "Progress | None", plan: "Plan | None") -> Group:
    """Two label/value pairs a line, then the limiter on a line of its own (its text is the longest);
    before any run, the plan's counts and dashes for the rest.

    `spend` is only what was spent: the estimate is on the screen's top lines, for the rows left.
    """
    grid = _grid(10, None, 9, None)
    limiter = _grid(10, None)
    p = progress
    if p is None:
        total = plan.total if plan else 0
        done = f"{plan.done:,} of {total:,}" if plan else "–"
        failed = f"{plan.failed:,}" if plan else "–"
        left = f"{plan.left + plan.failed:,}" if plan else "–"
        spend, budget = "–", "none"
        if plan is not None:
            spend = fmt.money(plan.spent_usd) + ("" if plan.cost_usd is not None else " (price unknown)")
            budget = fmt.money(plan.budget_usd, unknown="none")
        grid.add_row("done", done, "rows/s", "–")
        grid.add_row("failed", failed, "tokens/s", "–")
        grid.add_row("in flight", "0", "ETA", "–")
        grid.add_row("left", left, "elapsed", "–")
        grid.add_row("spend", spend, "budget", budget)
        grid.add_row("requests", "–", "429s", "–")
        limiter.add_row("limiter", "–")
        return Group(grid, limiter)
    failed = Text(f"{p.failed:,}", style="bold red" if p.failed else "")
    if p.price_known:
        spend = fmt.money(p.spent_usd)
    else:
        spend = f"{fmt.count(p.input_tokens)} in / {fmt.count(p.output_tokens)} out tokens"
    total = f"{p.total:,}+" if p.planning else f"{p.total:,}"  # rows still being planned: at least so many
    grid.add_row("done", f"{p.done:,} of {total}", "rows/s", f"{p.rows_per_s:.1f}")
    grid.add_row("failed", failed, "tokens/s", fmt.count(p.tokens_per_s))
    grid.add_row("in flight", f"{p.in_flight}", "ETA", "–" if p.finished else fmt.duration(p.eta_s))
    grid.add_row("left", f"{p.left:,}+ planning…" if p.planning else f"{p.left:,}", "elapsed",
                 fmt.duration(p.elapsed_s))
    grid.add_row("spend", spend, "budget", fmt.money(p.budget_usd, unknown="none"))
    grid.add_row("requests", f"{p.requests:,} ({p.retries:,} retries)", "429s", f"{p.rate_limited:,}")
    limiter.add_row("limiter", fmt.limiter_text(p.limiter))
    return Group(grid, limiter)


class ProgressStats(Static):
    """Shows a `Progress` snapshot (or a `Plan` before the first run)."""

    DEFAULT_CSS = """
    ProgressStats { height: auto; padding: 0 1; }
    """

    def show(self, progress: "Progress | None", plan: "Plan | None" = None) -> None:
        self.update(stats_table(progress, plan))
