"""Grader scores of the teacher's training answers, for curation: filter and sort them by score.

A training answer is scored against its row's reference (the label of a classification task, the
reference column otherwise) by the spec's graders that need no request (an embedding grader would
call the provider each time the list loads: it is left out). Rows without a reference get no score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from distill_tui.core.evaluate.rows import LOCAL_GRADERS

if TYPE_CHECKING:
    from distill_tui.core.curate.selection import Curation
    from distill_tui.core.store.database import Answer
    from distill_tui.core.task.graders_spec import GraderSpec
    from distill_tui.core.workspace.workspace import Workspace


def local_graders(ws: "Workspace") -> list["GraderSpec"]:
    """The spec's graders computed without a request."""
    return [g for g in ws.spec.graders if g.type in LOCAL_GRADERS]


def score_answers(graders: Iterable["GraderSpec"], answers: Iterable["Answer"]) -> dict[str, dict[int, float]]:
    """Grader name → row id → score, for the answers that came back and have a reference."""
    from distill_tui.core.evaluate import heldout
    from distill_tui.core.evaluate.graders import grade

    scored = [a for a in answers if a.status == "ok" and a.gold is not None]
    out: dict[str, dict[int, float]] = {}
    for spec in graders:
        grades = grade(spec, [heldout.answer_text(a) for a in scored], [a.gold for a in scored])
        out[spec.name] = {a.row_id: g.score for a, g in zip(scored, grades)}
    return out


def attach(ws: "Workspace", cur: "Curation") -> None:
    """Give a curation its grader scores (`cur.scores`) and a scorer that re-scores an edited answer."""
    from distill_tui.core.curate.free_text import agreement, score_columns

    graders = local_graders(ws)
    scores = score_answers(graders, cur.answers) if graders else {}
    judged = [g for g in ws.spec.graders if g.type == "rubric"]
    if judged:  # the verdicts `distill-tui judge` saved; nothing is asked here
        from distill_tui.core.evaluate.train_judging import saved_scores

        scores.update({g.name: saved_scores(ws, g, cur.answers) for g in judged})
    if not scores:
        return
    cur.scores = score_columns(cur.ids, scores)
    cur.judges = [g.name for g in judged]
    cur.scorer = _scorer(ws, graders, judged)
    if cur.context.kind != "classification":  # the first grader's pass is what "agrees" means for free text
        first = next(g for g in ws.spec.graders if g.name in scores)
        cur.pass_mark = (first.name, first.threshold)
        agreement(cur)


def _scorer(ws: "Workspace", graders: list["GraderSpec"], judged: list["GraderSpec"]
            ) -> Callable[["Answer"], dict[str, float]]:
    """Scores of one (edited) answer: the local graders', and a judge's verdict where one is saved for
    its text (else absent: not judged)."""
    def score(answer: "Answer") -> dict[str, float]:
        found = score_answers(graders, [answer]) if graders else {}
        if judged:
            from distill_tui.core.evaluate.train_judging import saved_scores

            found.update({g.name: saved_scores(ws, g, [answer]) for g in judged})
        return {name: by_row[answer.row_id] for name, by_row in found.items() if answer.row_id in by_row}

    return score
