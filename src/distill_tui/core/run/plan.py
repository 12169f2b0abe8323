"""What a generation run would do before it starts: rows answered, failed and left, the cost of
the rest (exact prompt tokens, as `estimate` counts them), what was spent so far, and whether
another run of the model holds the workspace now."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distill_tui.core.store.database import Store
    from distill_tui.core.task.requests import RowRequest
    from distill_tui.core.workspace.workspace import Workspace

_HOLDER = re.compile(r"pid (\d+), started (\S+)")


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
    warnings: list[str] = field(default_factory=list)  # what would go wrong (preflight), one line each
    too_long: int = 0  # rows left out: prompt + max_tokens over the model's context window
    refused: list[str] = field(default_factory=list)  # those of `warnings` saying every request would be refused

    @property
    def to_ask(self) -> int:
        return self.left + self.failed


def row_status(ws: "Workspace", model: str, split: str, reqs: list["RowRequest"]) -> tuple[set, set]:
    """Keys (row_id, prompt_hash) of this split answered ok, and failed-and-not-answered."""
    return key_status(ws, model, split, {(r.row_id, r.prompt_hash) for r in reqs})


def key_status(ws: "Workspace", model: str, split: str, keys: set[tuple[int, str]]) -> tuple[set, set]:
    """`row_status` of the requests with these keys (row_id, prompt_hash)."""
    answered = ws.store.answered_keys(model)
    failed = ws.store.failed_keys(model, split)
    return answered & keys, (failed - answered) & keys


def spent(ws: "Workspace", model: str, split: str) -> float:
    """What this model has cost on this split in the workspace so far (every saved answer)."""
    rows = ws.store.execute(
        "SELECT COALESCE(SUM(cost_usd), 0) FROM answers WHERE model=? AND split=?", (model, split)
    )
    return float(rows[0][0] or 0.0)


def plan(ws: "Workspace", model: str, split: str, *, budget_usd: float | None = None) -> Plan:
    """Count the rows left and estimate their cost like `estimate` does (exact prompt tokens)."""
    from distill_tui.core.cost.capabilities import load_models
    from distill_tui.core.cost.answers import answer_tokens, reference_texts
    from distill_tui.core.cost.estimate import PromptCounter
    from distill_tui.core.cost.preflight import (
        fitting_requests,
        offline_note,
        reasoning_warnings,
        structured_check,
        structured_warnings,
    )
    from distill_tui.core.task.dataset import ROW
    from distill_tui.core.task.requests import iter_requests

    data, table = ws.data, load_models()
    reqs, too_long, too_long_note = fitting_requests(
        list(iter_requests(ws.spec, data, model, split, table.rules(model))), model, table)
    ok, failed = row_status(ws, model, split, reqs)
    todo = {r.row_id for r in reqs if (r.row_id, r.prompt_hash) not in ok}
    frame = data.frame[data.frame[ROW].isin(todo)]
    input_tokens, _ = PromptCounter(ws.spec, data.labels, model).totals(frame)
    per_answer, _ = answer_tokens(ws.spec, data.labels, model, reference_texts(ws.spec, data))
    output_tokens = per_answer * len(todo)
    price = ws.prices.price(model)
    cost = price.cost(input_tokens, output_tokens) if price else None
    notes = [] if price else [f"no price known for {model}: cost shown in tokens only"]
    refused = structured_warnings(structured_check(ws.spec, data.labels, table, ws.base_url))
    warnings = refused + [line for line in (too_long_note, offline_note(ws.spec, data.labels, ws.base_url)) if line]
    warnings += reasoning_warnings(ws.spec, table, ["teacher" if model == ws.spec.teacher.model else "student"])
    return Plan(model, split, len(reqs), len(ok), len(failed), len(todo) - len(failed), input_tokens,
                output_tokens, cost, spent(ws, model, split), budget_usd, ws.prices.as_of, notes, warnings, too_long,
                refused)


def teacher_plan(ws: "Workspace") -> Plan:
    """`plan` for the teacher on the train rows, with the spec's budget."""
    return plan(ws, ws.spec.teacher.model, "train", budget_usd=ws.spec.generation.budget_usd)


@dataclass(frozen=True)
class RunHolder:
    """Who holds a model's run lock (`Store.run_lock`) in a workspace."""

    pid: int
    started: str  # clock time, as the holder wrote it
    kind: str | None  # "generate", "evaluate"… (the newest unfinished run of the model), if known

    @property
    def this_process(self) -> bool:
        return self.pid == os.getpid()

    @property
    def doing(self) -> str:
        """`generating`, `evaluating`, or `running`."""
        return {"generate": "generating", "evaluate": "evaluating"}.get(self.kind or "", "running")


def run_holder(store: "Store", model: str) -> RunHolder | None:
    """Who is running `model` in this workspace now, without taking (even briefly) the lock.

    Taking and dropping the lock to test it could make a run starting at that instant refuse to
    start, so this reads what the holder wrote in the lock file and checks that that process
    still holds it (`/proc/locks`; where there is none, that the process is alive).

    Returns:
        The holder, or None when nobody runs `model` here.
    """
    path = store.run_lock_path(model)
    try:
        found = _HOLDER.match(path.read_text(encoding="utf-8"))
        inode = path.stat().st_ino
    except OSError:
        return None
    if found is None or not _holds(int(found[1]), inode):
        return None
    rows = store.execute("SELECT kind FROM runs WHERE model=? AND finished_at IS NULL ORDER BY id DESC LIMIT 1",
                         (model,))
    return RunHolder(int(found[1]), found[2], rows[0][0] if rows else None)


def _holds(pid: int, inode: int) -> bool:
    """Whether process `pid` holds a `flock` on the file with this inode."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            table = handle.read()
    except OSError:
        return _alive(pid)
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2426350 0 EOF"; a waiting lock adds "->" first.
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
            continue
        if fields[4] == str(pid) and fields[5].rsplit(":", 1)[-1] == str(inode):
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but not ours to signal
        return True
    return True


def recent_answers(store: "Store", model: str, split: str, count: int) -> list[tuple[int, str | None, str]]:
    """The last `count` answers saved for `model` on `split`, oldest first, as `(row, label, gold)`:
    what a run in another process has just answered."""
    rows = store.execute(
        "SELECT row_id, label, gold FROM answers WHERE model=? AND split=? AND status='ok' "
        "ORDER BY created_at DESC LIMIT ?", (model, split, count))
    return [(int(r[0]), r[1], r[2]) for r in reversed(rows)]
