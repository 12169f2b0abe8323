"""The per-row view of an evaluation: every held-out row with each model's answer, whether it is right,
and the full prompt, sortable by disagreement and filterable (what Inspect's log viewer and OpenAI's
per-item eval results show).

Pure: it reads the answers saved in the workspace and computes nothing the comparison table does not:
the same eval rows and prompt hashes, the same exact match (`heldout.same_answer`, against the reference
or, when the data has none, the teacher's answers), and the spec's graders row by row (an embedding
grader, which would call the provider each time the view opens, is left to the table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from distill_tui.core.evaluate.comparison import DISTILLED, TEACHER, EvalModel

if TYPE_CHECKING:
    from distill_tui.core.store.database import Answer
    from distill_tui.core.workspace.workspace import Workspace

SORTS = ("disagreement", "row", "reference")
"""Orders of the rows: disagreement first (the distilled student wrong, then models disagreeing, then
most models wrong), the dataset's row order, or grouped by reference."""
FILTERS = ("all", "disagree", "distilled wrong", "teacher wrong", "any wrong")
"""Which rows to show (see `RowView.keep`)."""
OK, FAILED, MISSING = "ok", "failed", "missing"

Judge = Callable[["Answer", "str | None"], "bool | None"]
"""Whether an answer is right given the row's target (None: cannot tell, e.g. nothing to compare with)."""
LOCAL_GRADERS = ("exact", "contains", "regex", "fuzzy", "chrf", "bleu", "rouge_l", "json_fields")
"""Graders computed here, row by row, without a request."""


def label_judge(answer: "Answer", gold: str | None) -> bool | None:
    """Classification's notion of right, as in the comparison table: a valid label equal to the gold one."""
    if gold is None:
        return None
    return bool(answer.valid and answer.label == gold)


def exact_judge(kind: str) -> Judge:
    """Exact match as the comparison table counts it for `kind` (labels as they are, JSON by value,
    free text normalised)."""
    from distill_tui.core.evaluate import heldout

    def judge(answer: "Answer", target: str | None) -> bool | None:
        return None if target is None else heldout.same_answer(kind, heldout.answer_text(answer), target)

    return judge


@dataclass(frozen=True)
class ModelAnswer:
    """One model's answer to one row."""

    model: str
    role: str
    status: str  # OK, FAILED (every attempt failed) or MISSING (not asked yet)
    text: str | None = None  # the answer as shown: the label when valid, else what the model wrote
    correct: bool | None = None
    valid: bool = True
    error: str | None = None  # why the request failed, or why the answer is invalid
    scores: dict[str, float] = field(default_factory=dict)  # grader → score in [0, 1], when graded
    passed: bool | None = None  # the first grader's verdict (None: not graded): what the mark shows
    prompt_hash: str | None = None  # of the answer shown: with model and row, what a person's grade is keyed by

    @property
    def mark(self) -> str:
        """✓ right, ✗ wrong, ! failed, · not asked, ? answered but cannot be judged."""
        if self.status == FAILED:
            return "!"
        if self.status == MISSING:
            return "·"
        right = self.right
        return "?" if right is None else ("✓" if right else "✗")

    @property
    def right(self) -> bool | None:
        """The first grader's verdict when graded, else exact match."""
        return self.passed if self.passed is not None else self.correct


@dataclass(frozen=True)
class RowView:
    """One held-out row: its prompt, its reference and each model's answer (in the table's model order)."""

    row_id: int
    reference: str | None
    messages: tuple[dict[str, str], ...]
    answers: tuple[ModelAnswer, ...]
    free_text: bool = False  # answers are compared by their verdicts, not their texts (generation)

    @property
    def prompt(self) -> str:
        """The user message (the varying part of the prompt)."""
        return next((m.get("content", "") for m in reversed(self.messages) if m.get("role") == "user"), "")

    def answered(self) -> list[ModelAnswer]:
        return [a for a in self.answers if a.status == OK]

    @property
    def disagree(self) -> bool:
        """At least two models answered and their answers differ (case and surrounding space aside); for
        free text, which differs almost always, their verdicts differ."""
        if self.free_text:
            return len({a.right for a in self.answered() if a.right is not None}) > 1
        seen = {(a.text or "").strip().casefold() for a in self.answered()}
        return len(seen) > 1

    @property
    def wrong(self) -> int:
        return sum(a.right is False for a in self.answered())

    def role_wrong(self, role: str) -> bool:
        return any(a.role == role and a.status == OK and a.right is False for a in self.answers)

    def keep(self, which: str, text: str = "") -> bool:
        """Whether the row passes filter `which` (one of FILTERS) and contains `text` (case-insensitive)
        in its prompt, reference or any answer."""
        passes = {
            "all": True,
            "disagree": self.disagree,
            "distilled wrong": self.role_wrong(DISTILLED),
            "teacher wrong": self.role_wrong(TEACHER),
            "any wrong": self.wrong > 0,
        }[which]
        if not passes or not text:
            return passes
        needle = text.casefold()
        haystack = [self.prompt, self.reference or "", *(a.text or "" for a in self.answers)]
        return any(needle in part.casefold() for part in haystack)

    def disagreement_key(self) -> tuple[int, int, int, float, int]:
        """Distilled student wrong, then models disagreeing, then most models wrong, then the distilled
        student's lowest first-grader score (free text: the worst answers first among equals)."""
        score = next((next(iter(a.scores.values())) for a in self.answers if a.role == DISTILLED and a.scores), 1.0)
        return (-self.role_wrong(DISTILLED), -self.disagree, -self.wrong, score, self.row_id)


def _shown(answer: "Answer") -> str | None:
    if answer.valid and answer.label is not None:
        return answer.label
    return answer.content if answer.content is not None else answer.label


def _model_answer(model: EvalModel, answer: "Answer | None", target: str | None, judge: Judge,
                  grades: dict[str, Any]) -> ModelAnswer:
    if answer is None:
        return ModelAnswer(model.name, model.role, MISSING)
    if answer.status != "ok":
        return ModelAnswer(model.name, model.role, FAILED, error=answer.error, prompt_hash=answer.prompt_hash)
    first = next(iter(grades.values()), None)
    return ModelAnswer(model.name, model.role, OK, text=_shown(answer), correct=judge(answer, target),
                       valid=answer.valid, error=None if answer.valid else answer.problem,
                       scores={name: g.score for name, g in grades.items()},
                       passed=None if first is None else first.passed, prompt_hash=answer.prompt_hash)


def _grades(ws: "Workspace", targets: dict[int, str | None], saved: dict[str, dict[int, "Answer"]],
            skip: set[str]) -> dict[str, dict[int, dict[str, Any]]]:
    """Model → row id → grader name → `Grade`, for the spec's local graders over the rows with a target."""
    from distill_tui.core.evaluate import heldout
    from distill_tui.core.evaluate.graders import grade

    out: dict[str, dict[int, dict[str, Any]]] = {}
    graders = [g for g in ws.spec.graders if g.type in LOCAL_GRADERS]
    for model, answers in saved.items():
        if model in skip:
            continue
        rows = sorted(r for r, a in answers.items() if a.status == "ok" and targets.get(r) is not None)
        mine = out.setdefault(model, {})
        for spec in graders:
            texts = [heldout.answer_text(answers[r]) for r in rows]
            for r, g in zip(rows, grade(spec, texts, [targets[r] for r in rows])):
                mine.setdefault(r, {})[spec.name] = g
    for spec in (g for g in ws.spec.graders if g.type == "rubric"):
        _judged(ws, spec, targets, saved, skip, out)
    return out


def _judged(ws: "Workspace", spec: Any, targets: dict[int, str | None], saved: dict[str, dict[int, "Answer"]],
            skip: set[str], out: dict[str, dict[int, dict[str, Any]]]) -> None:
    """A rubric judge's saved verdicts as grades (answers not judged yet, or with an invalid reply, get none)."""
    from distill_tui.core.evaluate import heldout, judging
    from distill_tui.core.evaluate.graders import Grade

    wanted = {r: t for r, t in targets.items() if t is not None}
    answers = {m: {r: heldout.answer_text(a) for r, a in rows.items() if a.status == "ok" and r in wanted}
               for m, rows in saved.items() if m not in skip}
    found = judging.verdicts(ws, judging.plan(spec, judging.questions_of(ws, wanted), wanted, answers))
    for (model, row), verdict in found.items():
        if verdict.score is not None:
            out.setdefault(model, {}).setdefault(row, {})[spec.name] = Grade(verdict.score,
                                                                            verdict.score >= spec.threshold)


def load_rows(ws: "Workspace", models: Sequence[EvalModel], judge: Judge | None = None) -> list[RowView]:
    """Every eval row of today's split with each model's saved answer to today's prompt, in row order.

    An answer to another prompt (the template changed since) is not this row's answer: it shows as not
    asked, as the comparison table leaves it out. Models with a `skip` reason are left out. Without
    references in the data, answers are judged against the teacher's (the teacher itself is not judged).

    Args:
        judge: whether an answer is right given the row's target (default: the table's exact match).

    Raises:
        UserError: the spec holds out no eval rows (or the data cannot be prepared).
    """
    from distill_tui.core.common.errors import UserError
    from distill_tui.core.evaluate import heldout
    from distill_tui.core.task import kinds
    from distill_tui.core.task.requests import iter_requests

    kind = ws.spec.kind
    judge = judge or exact_judge(kind)
    models = [m for m in models if not m.skip]
    requests = list(iter_requests(ws.spec, ws.data, ws.spec.teacher.model, "eval"))
    if not requests:
        raise UserError(f"{ws.spec.source}: no held-out eval rows: set [dataset] eval_fraction above 0")
    hashes = {r.row_id: r.prompt_hash for r in requests}
    teacher = ws.spec.teacher.model
    names = list(dict.fromkeys([*(m.name for m in models), teacher]))
    saved = {n: {a.row_id: a for a in ws.store.answers(model=n, prompt_hashes=hashes)} for n in names}
    references = {r.row_id: r.gold if r.gold not in ("", "nan", "None") else None for r in requests}
    against_teacher = all(v is None for v in references.values())
    targets = dict(references)
    if against_teacher:
        targets = {r: heldout.answer_text(a) for r, a in saved[teacher].items() if a.status == "ok"}
    grades = _grades(ws, targets, saved, {teacher} if against_teacher else set())
    out = []
    for request in requests:
        row, target = request.row_id, targets.get(request.row_id)
        answers = tuple(
            _model_answer(m, saved[m.name].get(row), None if against_teacher and m.name == teacher else target,
                          judge, grades.get(m.name, {}).get(row, {}))
            for m in models)
        out.append(RowView(row, references[row], tuple(request.messages), answers, kind == kinds.GENERATION))
    return out


SCORE_SORT = "score: "
"""Prefix of the sorts by one grader's score (`score_sorts`)."""


def score_sorts(graders: Sequence[str]) -> tuple[str, ...]:
    """SORTS, then one order per grader: the focused model's lowest scores first ('score: chrf')."""
    return (*SORTS, *(SCORE_SORT + name for name in graders))


def arrange(rows: Sequence[RowView], sort: str = SORTS[0], which: str = FILTERS[0], text: str = "",
            focus: int = 0) -> list[RowView]:
    """The rows that pass the filter and the search, in the chosen order (see SORTS and FILTERS; a
    'score: GRADER' sort orders by the score of the answer of model `focus`, lowest first, rows it has no
    score for last)."""
    kept = [r for r in rows if r.keep(which, text.strip())]
    if sort.startswith(SCORE_SORT):
        grader = sort[len(SCORE_SORT):]

        def by_score(r: RowView) -> tuple[bool, float, int]:
            score = r.answers[focus].scores.get(grader) if focus < len(r.answers) else None
            return (score is None, score if score is not None else 0.0, r.row_id)

        return sorted(kept, key=by_score)
    if sort == "disagreement":
        return sorted(kept, key=RowView.disagreement_key)
    if sort == "reference":
        return sorted(kept, key=lambda r: ((r.reference or "").casefold(), r.row_id))
    return sorted(kept, key=lambda r: r.row_id)


def counts(rows: Sequence[RowView]) -> dict[str, int]:
    """How many rows each filter keeps (for the header line)."""
    return {which: sum(r.keep(which) for r in rows) for which in FILTERS}
