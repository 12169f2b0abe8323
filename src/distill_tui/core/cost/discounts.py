"""Prompt caching and the flex tier in the estimate: what each stage pays less than list price."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from distill_tui.core.cost import tokens

if TYPE_CHECKING:
    from distill_tui.core.cost.estimate import PromptCounter, Stage
    from distill_tui.core.cost.pricing import ModelPrice
    from distill_tui.core.task.spec import TaskSpec


def cached_tokens(price: Any, hit: int, requests: int) -> int:
    """Input tokens planned at the cached price: none without a cached price; otherwise the first
    request pays in full and each later one reads `hit` tokens from the cache."""
    if price is None or price.cached_input is None or requests < 2:
        return 0
    return hit * (requests - 1)


def cache_notes(stages: "list[Stage]", teacher: "PromptCounter", price: Any) -> list[str]:
    """The caching assumption when it lowered a figure, and what moving fixed text (such as the
    {labels} list) before the first varying field would save on the teacher's train rows."""
    notes = []
    if any(s.cached_input_tokens for s in stages):
        notes.append("prompt caching: each stage's first request pays the full input price and the rest are assumed "
                     "to hit OpenAI's cache for their fixed prefix (1,024 tokens or more, in 128-token steps); "
                     "hits are likely, not guaranteed")
    requests = stages[0].requests
    # Under one cache step of fixed text is not "a long fixed part": rewriting the prompt for it is not worth a note.
    if price is None or price.cached_input is None or price.input is None or teacher.movable < tokens.CACHE_INCREMENT \
            or requests < 2:
        return notes
    now, moved = tokens.cache_hit_tokens(teacher.cacheable), tokens.cache_hit_tokens(teacher.cacheable + teacher.movable)
    saving = (moved - now) * (requests - 1) * (price.input - price.cached_input) / 1_000_000
    if saving > 0:
        notes.append(f"the prompt has {teacher.movable:,} fixed tokens after its first varying field (such as the "
                     f"labels list): placed before it, {moved:,} tokens per request could be cached instead of "
                     f"{now:,}, about {usd(saving)} less per teacher run on the train rows")
    return notes


def flex_lines(spec: "TaskSpec", price: "ModelPrice | None") -> tuple[list[str], list[str]]:
    """A note when the teacher is priced at the flex tier, or a warning when `[teacher] service_tier
    = "flex"` is set for a model without a flex price (OpenAI offers flex for some models only)."""
    if spec.teacher.service_tier != "flex":
        return [], []
    key = '[teacher] service_tier = "flex"'
    if price is not None and price.flex_input is not None:
        return [f"{key}: the teacher's requests are priced at the flex tier (about Batch prices; slower, and a "
                "busy provider may answer 429 more often)"], []
    return [], [f"{key}: no flex price for {spec.teacher.model} (OpenAI offers flex for gpt-5.x, o3 and o4-mini): "
                "priced at the standard tier, and the provider may refuse its requests"]


def usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 else f"${value:.2g}"
