"""The Results screen's text lines: the summary over the table (leak check, near-duplicates, prices),
the status under it when nothing runs, and an evaluation's progress while one does."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from distill_tui.core.evaluate import report
from distill_tui.core.run import progress_text as fmt
from distill_tui.tui.widgets.results_detail import short_model


def summary_text(table: Any) -> tuple[Text, bool]:
    """The summary line over the comparison table.

    Args:
        table: The comparison table (`core.evaluate.comparison.build_table`).

    Returns:
        The text, and whether it warns (a leak or near-duplicates between training and eval rows).
    """
    near = table.leak.near
    near_line = near.line() if near is not None else None
    warning = not table.leak.ok or bool(near is not None and near.pairs)
    # A warning first: the summary shows two lines, and the near-duplicates matter more than the prices.
    parts = [table.leak.line(), f"prices as of {table.prices_as_of}"]
    if near_line:
        parts.insert(0 if table.leak.ok and near.pairs else 1, near_line)
    if not any(r.role == "distilled" for r in [*table.rows, *table.skipped]):
        parts.insert(0, "no fine-tuned model yet: press 5 for jobs")
    return Text(" · ".join(parts)), warning


def idle_status(table: Any | None, note: str | None) -> tuple[Text, bool]:
    """The status when nothing runs: the last outcome, else what to do; then why a model is not asked
    at all (no price under a budget, trained on another provider); then the students served here and
    how their answers are constrained.

    Args:
        table: The comparison table, or None before one is built.
        note: The last outcome to show first (an evaluation's end, an export), if any.

    Returns:
        The text, and whether some model is blocked (the status then shows as a warning).
    """
    lines = [Text(note)] if note else []
    blocked: list[str] = []
    if table is not None:
        todo = [r for r in table.rows if r.status != "ok" and not r.reason]
        blocked = [report.row_note(r, name=short_model(r.model)) or "" for r in table.rows if r.reason]
        blocked += [m.skip for m in table.skipped if m.skip]
        if not note and todo:
            lines.append(Text(f"{len(todo)} of {len(table.rows)} models have rows to answer: press r to run "
                              f"(saved answers are reused)", style="dim"))
        elif not note and not blocked:
            lines.append(Text(f"every model answered all {table.eval_rows} eval rows", style="dim"))
    if blocked:
        shown = blocked[: 2 - bool(lines)]  # each note takes about two lines of the four
        more = len(blocked) - len(shown)
        lines += [Text(line, style="bold") for line in shown[:-1]]
        lines.append(Text(shown[-1] + (f" (+{more} more)" if more else ""), style="bold"))
    if table is not None:  # which students answer through a server started here, and how constrained
        lines += [Text(line, style="dim") for line in report.served_notes(table)]
    return Text("\n").join(lines), bool(blocked)


def progress_line(index: int, count: int, progress: Any) -> Text:
    """One model's evaluation progress.

    Args:
        index: The model's place in the run, from 0.
        count: How many models the run asks.
        progress: The engine's progress on that model.

    Returns:
        The status line: rows done, failures, speed, cost, ETA and the rate limiter's state.
    """
    p = progress
    eta = "" if p.eta_s is None or p.finished else f" · ETA {fmt.duration(p.eta_s)}"
    limiter = f" · {fmt.limiter_text(p.limiter)}" if getattr(p, "limiter", None) else ""
    return Text(f"[{index + 1}/{count}] {short_model(p.model, 30)}: {p.done}/{p.total} rows · "
                f"{p.failed} failed · {p.rows_per_s:.1f}/s · {fmt.money(p.cost_usd)}{eta}{limiter}")
