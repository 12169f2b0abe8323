"""Short human formats for run progress, shared by the headless command and the TUI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from distill_tui.core.cost.pricing import format_usd

if TYPE_CHECKING:
    from distill_tui.core.run.generate import Progress


money = format_usd
"""Dollars as every progress line shows them (see `pricing.format_usd`)."""


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `2h04m`; `–` when unknown."""
    if seconds is None:
        return "–"
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def count(value: float) -> str:
    """`950`, `1.2k`, `3.4M`."""
    if value < 1000:
        return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
    if value < 1_000_000:
        return f"{value / 1000:.1f}k"
    return f"{value / 1_000_000:.1f}M"


def limiter_text(limiter: dict) -> str:
    """The pace the limiter keeps: `1,200 rpm · 30k tpm`, `paused 2s`, or `not limited`."""
    parts = []
    rpm, tpm = limiter.get("requests_per_min"), limiter.get("tokens_per_min")
    if rpm:
        parts.append(f"{rpm:,.0f} rpm")
    if tpm:
        parts.append(f"{count(tpm)} tpm")
    text = " · ".join(parts) or "not limited"
    scale = limiter.get("scale") or 1.0
    if scale < 0.999:
        text += f" (slowed to {scale:.0%})"
    if limiter.get("paused_for_s"):
        text += f", paused {limiter['paused_for_s']:.1f}s"
    if limiter.get("concurrency"):
        text += f" · {concurrency_text(limiter)}"
    return text


def concurrency_text(limiter: dict) -> str:
    """How many requests in flight the engine wants now: `concurrency 251`, `concurrency 4 (workers cap)`."""
    wanted, cap = limiter.get("concurrency"), limiter.get("concurrency_cap")
    return f"concurrency {wanted}" + (" (workers cap)" if cap and wanted >= cap else "")


def spend_text(p: "Progress", *, budget: bool = True) -> str:
    """`$0.0123 of ~$0.41 (budget left $4.99)`, or tokens when the price is unknown.

    The budget shown is what the run may still spend (its cap less what is spent): in an evaluation
    each model's cap is its own spend plus what the evaluation has left, so the cap itself reads as
    a different budget for every model."""
    if not p.price_known:
        return f"{count(p.input_tokens)} in / {count(p.output_tokens)} out tokens (price unknown)"
    text = money(p.spent_usd)
    if p.estimated_total_usd is not None:
        text += f" of ~{money(p.estimated_total_usd)}"
    if budget and p.budget_usd is not None:
        text += f" (budget left {money(max(0.0, p.budget_usd - p.spent_usd))})"
    return text


def progress_line(p: "Progress") -> str:
    """One line for a terminal or a log."""
    # While rows are still being planned the totals are those planned so far: "at least".
    more = "+" if p.planning else ""
    head = f"{p.model} {p.split}: {p.done:,}/{p.total:,}{more} done"
    parts = [head]
    if p.failed:
        parts.append(f"{p.failed:,} failed")
    wanted = p.limiter.get("concurrency") if isinstance(p.limiter, dict) else None
    in_flight = f"{p.in_flight} in flight" + (f" (of {wanted})" if wanted and not p.finished else "")
    left = f"{p.left:,}+ left, planning…" if p.planning else f"{p.left:,} left"
    parts += [in_flight, left, f"{p.rows_per_s:.1f} rows/s",
              f"{count(p.tokens_per_s)} tok/s"]
    if not p.finished:  # a run that has ended, by the limit or otherwise, has nothing left to wait for
        parts.append(f"ETA {duration(p.eta_s)}")
    parts.append(spend_text(p))
    if p.cached_tokens and p.input_tokens:
        parts.append(f"cache {p.cached_tokens / p.input_tokens:.0%} of input")
    if p.rate_limited:
        parts.append(f"{p.rate_limited} × 429")
    if p.retries:
        parts.append(f"{p.retries} retries")
    if p.state not in ("running", "done"):
        parts.insert(0, p.state.upper())
    return " · ".join(parts)
