"""Model judges over a workspace's held-out answers: running them after the models (`run_judges`)
and reading their saved verdicts back for the table (`table_judge`, the hook `scoring` calls).

Rubric judges live in `judging`, pairwise ones in `pairwise_judging`; this module dispatches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from distill_tui.core.evaluate import pairwise_judging
from distill_tui.core.evaluate.judging import (
    SPLIT,
    JudgeProgressCallback,
    JudgeRun,
    Plan,
    parse,
    plan_held,
    questions_of,
    request,
    run,
)

if TYPE_CHECKING:
    from distill_tui.core.evaluate.heldout import HeldOut
    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.task.graders_spec import GraderSpec
    from distill_tui.core.workspace.workspace import Workspace

MODEL_GRADERS = ("rubric", "pairwise")


def run_judges(ws: Workspace, models: Sequence[str], *, controls: Controls | None = None,
               budget_usd: float | None = None, on_progress: JudgeProgressCallback | None = None) -> list[JudgeRun]:
    """Run every model grader (rubric, pairwise) of the spec over the saved held-out answers of `models` (and
    the teacher's); a pairwise grader without two models that answered gets a `note` and asks nothing.
    `on_progress` gets each judge's `JudgeProgress` (see `judging.run`)."""
    from distill_tui.core.evaluate import heldout

    graders = [g for g in ws.spec.graders if g.type in MODEL_GRADERS]
    if not graders:
        return []
    held = heldout.gather(ws, models)
    runs = []
    for grader in graders:
        if grader.type == "rubric":
            planned = plan_held(ws, grader, held)
        else:
            opponent = pairwise_judging.opponent_of(grader, ws.spec.teacher.model, ws.spec.student.model)
            others = [m for m in held.answers() if m != opponent]
            if opponent not in held.answers() or not others:
                runs.append(JudgeRun(0, 0, 0, 0, 0.0, None, f"[[graders]] {grader.name!r} compares two models' "
                                     f"answers: {opponent} and another model must have answered the eval rows",
                                     grader=grader.name))
                continue
            planned = pairwise_judging.plan_held(ws, grader, held, opponent)
        runs.append(run(ws, planned, controls=controls, budget_usd=budget_usd, on_progress=on_progress))
    return runs


def table_judge(ws: Workspace, held: HeldOut | None = None, teacher: str = "", base: str | None = None
                ) -> Callable[[GraderSpec, str, Mapping[int, Any], Mapping[int, Any]], dict[int, float | None]]:
    """The `scoring.Judge` of a workspace: each answer's score from the judge's saved reply to the same
    ask (nothing is sent). No usable answer scores 0; an answer not judged yet is left out. Pairwise
    graders read the opponent's answers from `held`."""
    questions: dict[int, str] = {}
    pairwise: dict[str, tuple[Plan, Mapping[tuple[str, int], tuple[str | None, str | None]]]] = {}

    def judge(grader: GraderSpec, model: str, answers: Mapping[int, Any],
              references: Mapping[int, Any]) -> dict[int, float | None]:
        if grader.type == "pairwise":
            opponent = pairwise_judging.opponent_of(grader, teacher, base)
            if held is None or opponent is None or model == opponent:
                return {}
            if grader.name not in pairwise:
                planned = pairwise_judging.plan_held(ws, grader, held, opponent)
                pairwise[grader.name] = (planned, pairwise_judging.outcomes(ws, planned))
            planned, found = pairwise[grader.name]
            scores = pairwise_judging.row_scores(planned, found, model)
            return {r: s for r, s in scores.items() if r in answers}
        missing = [r for r in answers if r not in questions]
        if missing:
            questions.update(questions_of(ws, missing))
        saved = {a.prompt_hash: a for a in ws.store.answers(grader.model, SPLIT, status="ok")}
        out: dict[int, float | None] = {}
        for row, text in answers.items():
            if text is None:
                out[row] = 0.0
                continue
            if row not in questions:
                continue
            reference = references.get(row)
            asked = request(grader, row, questions[row], None if reference is None else str(reference), str(text))
            reply = saved.get(asked.prompt_hash)
            if reply is not None:
                out[row] = parse(grader.scale or "1-5", reply.content)[0]
        return out

    return judge


def invalid_lines(scores: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per model and judge grader with replies that were not a verdict (model → grader →
    `GraderScore`): they are counted as invalid and left out of n, never scored."""
    return [f"{model} · {name}: {score.invalid:,} judge repl{'ies were' if score.invalid != 1 else 'y was'} not a "
            "verdict (invalid: left out of n, not scored)"
            for model, by_grader in scores.items() for name, score in by_grader.items()
            if getattr(score, "invalid", 0)]
