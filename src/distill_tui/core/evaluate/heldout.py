"""The held-out rows as graders see them: each row's reference, the teacher's answer and every
model's answer, as text, for every task kind.

This is the seam between the saved answers and any scoring: `comparison` scores exact match from it
(normalised, against the reference or, without one, the teacher's answers), and graders
(`core.evaluate.graders`, `scoring.score_models`) take the same rows::

    held = gather(ws, [m.name for m in models])         # reads the store once
    held.targets()        # {row_id: reference, or the teacher's answer when the data has none}
    held.answers()        # {model: {row_id: answer text or None}} for the rows each model answered
    held.against          # "reference" or "teacher": what the targets are

`collect` is the same without a workspace (pure: ids, references and saved `Answer`s in, rows out).

An answer's text is what the answer says: the label (classification), the JSON object in canonical
form (extraction: keys sorted, no spaces; `json.loads` gives the object back), or the text stripped
(generation); None when the model answered but with no usable answer (not a label, invalid JSON, cut
off, refused). Rows a model has not answered (failed or never asked) are absent from its answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from distill_tui.core.task import kinds

if TYPE_CHECKING:
    from distill_tui.core.store.database import Answer
    from distill_tui.core.workspace.workspace import Workspace

REFERENCE, TEACHER = "reference", "teacher"
"""What the targets are: the data's reference (or label) column, or the teacher's answers."""


@dataclass(frozen=True)
class HeldOutRow:
    """One held-out row: its reference (None: the data has none), the teacher's answer text and each
    model's answer text (a model that has not answered the row is absent)."""

    row_id: int
    reference: str | None
    teacher: str | None
    answers: dict[str, str | None] = field(default_factory=dict)

    @property
    def target(self) -> str | None:
        """What answers are compared with: the reference, else the teacher's answer."""
        return self.reference if self.reference is not None else self.teacher


@dataclass(frozen=True)
class HeldOut:
    """Every held-out row of a workspace, in row order (see the module docstring)."""

    kind: str
    teacher_model: str
    rows: list[HeldOutRow]

    @property
    def against(self) -> str:
        """REFERENCE when the data has a reference for any row, else TEACHER."""
        return REFERENCE if any(r.reference is not None for r in self.rows) else TEACHER

    def targets(self) -> dict[int, str | None]:
        """Row id → the target text (None: nothing to compare with on that row)."""
        return {r.row_id: r.target for r in self.rows}

    def answers(self) -> dict[str, dict[int, str | None]]:
        """Model → row id → its answer text, for the rows it answered (the teacher included)."""
        out: dict[str, dict[int, str | None]] = {}
        for row in self.rows:
            for model, text in row.answers.items():
                out.setdefault(model, {})[row.row_id] = text
        return out


def answer_text(answer: "Answer") -> str | None:
    """What a saved answer says, as text (None: no usable answer)."""
    return answer.label if answer.status == "ok" and answer.valid else None


def collect(kind: str, references: Mapping[int, str | None], answers: Mapping[str, Iterable["Answer"]],
            teacher_model: str) -> HeldOut:
    """The held-out rows from their references and the saved answers (pure).

    Args:
        kind: the task kind (`core.task.kinds`).
        references: row id → reference text (None when the row has none), one entry per held-out row.
        answers: model → its saved answers to the held-out prompts (failed ones are left out here).
        teacher_model: whose answers are the targets where a row has no reference.
    """
    by_model: dict[str, dict[int, str | None]] = {}
    for model, saved in answers.items():
        mine = by_model.setdefault(model, {})
        for answer in saved:
            if answer.status == "ok" and answer.row_id in references:
                mine[answer.row_id] = answer_text(answer)
    teacher = by_model.get(teacher_model, {})
    rows = [HeldOutRow(row_id, ref, teacher.get(row_id),
                       {m: texts[row_id] for m, texts in by_model.items() if row_id in texts})
            for row_id, ref in sorted(references.items())]
    return HeldOut(kind, teacher_model, rows)


@dataclass(frozen=True)
class EvalRows:
    """The held-out rows of the current split: row id → prompt hash, and row id → reference text."""

    hashes: dict[int, str]
    gold: dict[int, str | None]


def eval_rows(ws: "Workspace") -> EvalRows:
    """The held-out rows' prompt hashes (which pick every model's answers) and references.

    Raises:
        UserError: the spec holds out no rows.
    """
    from distill_tui.core.common.errors import UserError
    from distill_tui.core.task.requests import iter_requests

    # The prompt hash leaves the model out by design, so one pass serves every model.
    hashes: dict[int, str] = {}
    gold: dict[int, str | None] = {}
    for request in iter_requests(ws.spec, ws.data, ws.spec.teacher.model, "eval"):
        hashes[request.row_id] = request.prompt_hash
        gold[request.row_id] = request.gold
    if not hashes:
        raise UserError(f"{ws.spec.source}: no held-out eval rows: set [dataset] eval_fraction above 0")
    return EvalRows(hashes, gold)


def gather(ws: "Workspace", models: Sequence[str]) -> HeldOut:
    """`collect` over the workspace's held-out rows and the answers saved for `models` (the teacher's
    are read too when it is not among them).

    Raises:
        UserError: the spec holds out no rows.
    """
    rows = eval_rows(ws)
    teacher = ws.spec.teacher.model
    wanted = list(dict.fromkeys([*models, teacher]))
    answers = {m: ws.store.answers(model=m, prompt_hashes=rows.hashes) for m in wanted}
    return collect(ws.spec.kind, rows.gold, answers, teacher)


# Their home is the task layer, so curation compares a training answer with its reference the same way.
normalise = kinds.match_text
same_answer = kinds.same_answer
