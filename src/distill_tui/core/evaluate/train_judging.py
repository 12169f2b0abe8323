"""Rubric judges over the teacher's training answers, for curation: judge them, keep those that pass.

`run_train` asks each rubric grader's judge about every teacher answer of today's prompts (the ones
curation shows), through `judging.run`: the same engine, the same cache by what was asked, so a
second run (or an answer already judged) costs nothing. `saved_scores` reads the verdicts back without
asking; curation shows them as the grader's score (`score=NAME:0.75..` keeps the answers that pass).
An answer edited in curation is judged as edited (the student trains on the edit): a new ask, with no
verdict until the judge is run again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

from distill_tui.core.evaluate import judging

if TYPE_CHECKING:
    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.store.database import Answer
    from distill_tui.core.task.graders_spec import GraderSpec
    from distill_tui.core.workspace.workspace import Workspace

TEACHER = "teacher"
"""The one 'model' of a training plan's asks: (TEACHER, row id)."""


def _question(answer: "Answer") -> str:
    users = [m.get("content") for m in answer.messages or () if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def plan_train(grader: "GraderSpec", answers: Iterable["Answer"]) -> judging.Plan:
    """The judge requests for the teacher's answers that came back (one per distinct ask)."""
    from distill_tui.core.evaluate.heldout import answer_text

    ok = [a for a in answers if a.status == "ok"]
    return judging.plan(grader, {a.row_id: _question(a) for a in ok}, {a.row_id: a.gold for a in ok},
                        {TEACHER: {a.row_id: answer_text(a) for a in ok}})


def rubric_graders(ws: "Workspace", names: Sequence[str] = ()) -> list["GraderSpec"]:
    """The spec's rubric graders (those named, when names are given).

    Raises:
        UserError: a name that is no rubric grader of the spec, or a spec with none.
    """
    from distill_tui.core.common.errors import UserError

    graders = [g for g in ws.spec.graders if g.type == "rubric"]
    if not graders:
        raise UserError(f"{ws.spec.source}: no [[graders]] of type \"rubric\" to judge the teacher's answers with")
    unknown = [n for n in names if n not in {g.name for g in graders}]
    if unknown:
        raise UserError(f"--grader {unknown[0]}: not a rubric grader of {ws.spec.source} "
                        f"(rubric graders: {', '.join(g.name for g in graders)})")
    return [g for g in graders if not names or g.name in names]


def teacher_answers(ws: "Workspace") -> list["Answer"]:
    """The teacher's training answers curation shows (today's prompts, imported ones included), each
    edit in place of the answer it corrects."""
    from distill_tui.core.curate.edits import with_edits
    from distill_tui.core.curate.importer import load_workspace

    answers, _ = load_workspace(ws)
    return with_edits(answers, ws.store.edits())[0]


def run_train(ws: "Workspace", graders: Sequence["GraderSpec"], *, limit: int | None = None,
              controls: "Controls | None" = None, budget_usd: float | None = None,
              on_progress: "judging.JudgeProgressCallback | None" = None) -> list[judging.JudgeRun]:
    """Judge the teacher's training answers with each grader (at most `limit` new asks each).

    Args:
        budget_usd: what each judge model may have spent on judging in this workspace, earlier runs
            (eval's judging included) counted.
        on_progress: each judge's `JudgeProgress` while it runs (see `judging.run`).
    """
    from distill_tui.core.run.plan import spent

    answers = teacher_answers(ws)
    runs = []
    for grader in graders:
        planned = plan_train(grader, answers)
        if limit is not None:
            done, _ = _answered(ws, grader, planned)
            pending = [r for r in planned.requests if (r.row_id, r.prompt_hash) not in done]
            keep = {(r.row_id, r.prompt_hash) for r in pending[:max(0, limit)]} | done
            planned.requests = [r for r in planned.requests if (r.row_id, r.prompt_hash) in keep]
        left = None if budget_usd is None else max(0.0, budget_usd - spent(ws, grader.model or "", judging.SPLIT))
        runs.append(judging.run(ws, planned, controls=controls, budget_usd=left, on_progress=on_progress))
    return runs


def _answered(ws: "Workspace", grader: "GraderSpec", planned: judging.Plan) -> tuple[set, set]:
    from distill_tui.core.run.plan import row_status

    return row_status(ws, grader.model or "", judging.SPLIT, planned.requests)


def saved_scores(ws: "Workspace", grader: "GraderSpec", answers: Iterable["Answer"]) -> dict[int, float]:
    """Row id → the judge's score of the teacher's answer (no usable answer: 0; not judged or an
    invalid reply: absent). Nothing is asked."""
    planned = plan_train(grader, answers)
    found = judging.verdicts(ws, planned)
    out: dict[int, float] = {}
    for (_, row), ask in planned.asks.items():
        verdict = found.get((TEACHER, row))
        if verdict is not None and verdict.score is not None:
            out[row] = verdict.score
    for answer in answers:
        if answer.status == "ok" and (TEACHER, answer.row_id) not in planned.asks:
            out[answer.row_id] = 0.0  # answered with nothing usable: nothing to judge, nothing passes
    return out
