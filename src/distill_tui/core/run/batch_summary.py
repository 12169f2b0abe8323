"""What one Batch API step did (`generate --batch`), and the line that says why a batch was not
submitted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distill_tui.core.cost.pricing import format_usd
from distill_tui.core.store.batches import BatchRecord


@dataclass
class BatchSummary:
    """What one `generate --batch` did. `done`/`failed`/`left` count the whole split in the workspace."""

    model: str
    split: str
    spec: str
    total: int = 0
    done: int = 0
    failed: int = 0
    left: int = 0
    waiting: int = 0
    batches: list[BatchRecord] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    requests: int = 0
    answered_now: int = 0
    failed_now: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    spent_usd: float = 0.0
    budget_usd: float | None = None
    elapsed_s: float = 0.0
    stopped: str | None = None  # None | "budget" | "interrupted" | "fatal"
    fatal: tuple[str, int] | None = None
    message: str = ""
    too_long: int = 0  # rows left out: prompt + max_tokens over the model's context window

    @property
    def exit_code(self) -> int:
        """0 when every row is answered, the error's code after a fatal error, else 1 (work left)."""
        if self.fatal:
            return self.fatal[1]
        return 0 if self.total and self.done == self.total else 1

    def to_json(self) -> dict[str, Any]:
        """The `generate --json` keys, plus the batches, what was committed and the message."""
        return {
            "done": self.done, "failed": self.failed, "requests": self.requests, "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens, "cost_usd": round(self.cost_usd, 6),
            "elapsed_s": round(self.elapsed_s, 3),
            "model": self.model, "split": self.split, "total": self.total, "left": self.left, "waiting": self.waiting,
            "mode": "batch", "batches": [b.to_json() for b in self.batches], "submitted": self.submitted,
            "committed_rows": self.answered_now + self.failed_now, "answered_now": self.answered_now,
            "failed_now": self.failed_now, "price_known": self.cost_known, "spent_usd": round(self.spent_usd, 6),
            "budget_usd": self.budget_usd, "stopped": self.stopped, "error": self.fatal[0] if self.fatal else None,
            "message": self.message, "too_long": self.too_long,
        }


def budget_line(model: str, rows: int, worst: float | None, spent_usd: float, budget: float) -> str:
    """Why a batch was not submitted: one line."""
    if worst is None:
        return (f"budget_usd is set but no Batch price is known for {model}, so the budget cannot be held: "
                "add batch_input/batch_output to your prices.toml or remove budget_usd")
    return (f"budget: a batch of {rows} rows could cost up to {format_usd(worst)} at the Batch price (prompt + "
            f"max_tokens each); with {format_usd(spent_usd)} spent that passes budget_usd = {format_usd(budget)}: "
            "raise it, or run `distill-tui generate` (it stops at the budget)")
