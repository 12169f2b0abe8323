"""The workspace's side of grading: the spec's graders over the saved held-out answers.

`scoring` is pure; this module feeds it from a workspace (the answers read by `comparison`, the
references of `heldout`, an embedder on the workspace's own client) for `comparison.build_table`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from distill_tui.core.evaluate import heldout, judges, scoring
from distill_tui.core.evaluate.graders import Embedder

if TYPE_CHECKING:
    from distill_tui.core.store.database import Answer
    from distill_tui.core.workspace.workspace import Workspace


_EMBEDDERS: "weakref.WeakKeyDictionary[Any, dict[str, Embedder]]" = weakref.WeakKeyDictionary()
"""Client → model → its embedder: the Results screen rebuilds the table after every change, and the
same texts are not embedded (nor paid for) again while the workspace keeps its client."""


def table_scores(
    ws: "Workspace",
    answers: Mapping[str, Iterable["Answer"]],
    references: Mapping[int, str | None],
    teacher: str | None,
    base: str | None,
) -> dict[str, dict[str, scoring.GraderScore]]:
    """Model → grader name → its scores (see `scoring`), for every model in `answers`.

    Args:
        answers: model → its saved answers to the held-out prompts.
        references: held-out row id → the data's reference (None where there is none).
        teacher: the teacher's model name: its answers are the targets where the data has no reference.
        base: the base student's model name, for the paired comparisons.
    """
    from distill_tui.core.provider.api_errors import describe

    held = heldout.collect(ws.spec.kind, references, answers, teacher or "")
    against = scoring.TEACHER_ANSWERS if held.against == heldout.TEACHER else scoring.REFERENCE

    def embedder(model: str) -> Embedder:
        client = ws.client()
        mine = _EMBEDDERS.setdefault(client, {})
        if model not in mine:
            mine[model] = Embedder(client, model)
        return mine[model]

    scores = scoring.score_models(
        ws.spec.graders, held.targets(), held.answers(), base, against=against,
        target_model=teacher if against == scoring.TEACHER_ANSWERS else None, embedder=embedder,
        describe_error=lambda exc: describe(exc)[0], judge=judges.table_judge(ws, held, teacher or "", base),
    )
    if any(g.type == "pairwise" for g in ws.spec.graders):
        from distill_tui.core.evaluate.pairwise_judging import attach

        attach(scores, ws, held, teacher or "", base)
    return scores
