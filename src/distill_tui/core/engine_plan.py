"""What a generation run would do before it starts: rows answered, failed and left, the cost of
the rest (exact prompt tokens, as `estimate` counts them), and what was spent so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distill_tui.core.requests import RowRequest
    from distill_tui.core.workspace import Workspace


@dataclass
class Plan:
    """What a run would do: rows left to ask and what they should cost (None: price unknown)."""

    model: str
    split: str
    total: int
    done: int
    failed: int
    left: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    spent_usd: float
    budget_usd: float | None
    prices_as_of: str
    notes: list[str] = field(default_factory=list)

    @property
    def to_ask(self) -> int:
        return self.left + self.failed


def row_status(ws: "Workspace", model: str, split: str, reqs: list["RowRequest"]) -> tuple[set, set]:
    """Keys (row_id, prompt_hash) of this split answered ok, and failed-and-not-answered."""
    answered = ws.store.answered_keys(model)
    failed = {(a.row_id, a.prompt_hash) for a in ws.store.answers(model, split, status="failed")}
    keys = {(r.row_id, r.prompt_hash) for r in reqs}
    return answered & keys, (failed - answered) & keys


def spent(ws: "Workspace", model: str, split: str) -> float:
    """What this model has cost on this split in the workspace so far (every saved answer)."""
    rows = ws.store.execute(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM answers WHERE model=? AND split=?", (model, split)
    )
    return float(rows[0][0] or 0.0)


def plan(ws: "Workspace", model: str, split: str, *, budget_usd: float | None = None) -> Plan:
    """Count the rows left and estimate their cost like `estimate` does (exact prompt tokens)."""
    from distill_tui.core.dataset import ROW
    from distill_tui.core.estimate import PromptCounter, answer_tokens
    from distill_tui.core.requests import iter_requests

    data = ws.data
    reqs = list(iter_requests(ws.spec, data, model, split))
    ok, failed = row_status(ws, model, split, reqs)
    todo = {r.row_id for r in reqs if (r.row_id, r.prompt_hash) not in ok}
    frame = data.frame[data.frame[ROW].isin(todo)]
    input_tokens, _ = PromptCounter(ws.spec, data.labels, model).totals(frame)
    per_answer, _ = answer_tokens(ws.spec, data.labels, model)
    output_tokens = per_answer * len(todo)
    price = ws.prices.price(model)
    cost = price.cost(input_tokens, output_tokens) if price else None
    notes = [] if price else [f"no price known for {model}: cost shown in tokens only"]
    return Plan(model, split, len(reqs), len(ok), len(failed), len(todo) - len(failed), input_tokens,
                output_tokens, cost, spent(ws, model, split), budget_usd, ws.prices.as_of, notes)


def teacher_plan(ws: "Workspace") -> Plan:
    """`plan` for the teacher on the train rows, with the spec's budget."""
    return plan(ws, ws.spec.teacher.model, "train", budget_usd=ws.spec.generation.budget_usd)
