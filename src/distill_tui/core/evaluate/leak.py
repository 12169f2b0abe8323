"""The leak check of a comparison: whether any held-out row is among the rows used (or about to be
used) for training."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from distill_tui.core.evaluate.near_leak import NearLeaks, near_leaks

if TYPE_CHECKING:
    from distill_tui.core.workspace.workspace import Workspace


@dataclass
class LeakCheck:
    """Whether any eval row is among the rows used (or about to be used) for training."""

    eval_rows: int
    leaked: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # what was checked, in words
    problems: list[str] = field(default_factory=list)  # where leaked rows were found, in words
    near: NearLeaks | None = None  # eval rows that nearly repeat a train row (not counted in `leaked`)

    @property
    def ok(self) -> bool:
        return not self.leaked

    def line(self) -> str:
        """One line for the table's header."""
        if self.ok:
            checked = f" (checked: {', '.join(self.sources)})" if self.sources else ""
            return f"{self.eval_rows:,} eval rows, disjoint from training rows{checked}"
        return (f"WARNING: {len(self.leaked)} of {self.eval_rows:,} eval rows are in training data "
                f"({'; '.join(self.problems)}): the distilled scores are optimistic")


def leak_check(ws: "Workspace", eval_ids: Iterable[int]) -> LeakCheck:
    """Look for eval rows among the rows selected for training and in the exported training files.

    Exported files carry no row ids, so their user messages are compared with the eval rows' user
    messages as the current template renders them (a file written under another template cannot be
    checked this way, and says so).
    """
    from distill_tui.core.task.requests import iter_requests

    eval_set = set(eval_ids)
    check = LeakCheck(eval_rows=len(eval_set))
    leaked: set[int] = set()
    selected = {r for r, on in ws.store.selections().items() if on}
    check.sources.append("curated selection")
    in_selection = selected & eval_set
    if in_selection:
        leaked |= in_selection
        check.problems.append(f"{len(in_selection)} selected for training")
    exports = ws.store.exports()
    if exports:
        by_text: dict[str, int] = {}
        for request in iter_requests(ws.spec, ws.data, ws.spec.student.model, "eval"):
            user = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), None)
            if user is not None:
                by_text[user] = request.row_id
        files = 0
        # An export written twice to the same file is one file to check (and to name).
        paths = dict.fromkeys(p for r in exports for p in (r.get("path"), r.get("validation_path")) if p)
        for path in paths:
            found = _rows_in_file(path, by_text)
            if found is None:
                continue
            files += 1
            if found:
                leaked |= found
                check.problems.append(f"{len(found)} in {path}")
        if files:
            check.sources.append(f"{files} exported file{'s' if files != 1 else ''}")
    check.leaked = sorted(leaked)
    check.near = near_leaks(ws, eval_set)
    return check


def _rows_in_file(path: str | None, by_text: dict[str, int]) -> set[int] | None:
    """Eval row ids whose user message appears in a training JSONL file; None if it cannot be read."""
    if not path:
        return None
    found: set[int] = set()
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    messages = json.loads(line).get("messages") or []
                except (json.JSONDecodeError, AttributeError):
                    continue
                for message in messages:
                    if isinstance(message, dict) and message.get("role") == "user":
                        row = by_text.get(message.get("content"))  # type: ignore[arg-type]
                        if row is not None:
                            found.add(row)
    except OSError:
        return None
    return found
