"""The estimate's judge stages: what the spec's model graders (rubric, pairwise) cost on the eval rows.

A judge request holds the row's question (the eval prompt), the rubric, the reference and one answer
(rubric) or two (pairwise), plus the judge's instructions; it answers a one-sentence reason and the
grade. Answers are not known before they are generated, so each is counted at the estimate's answer
size, and the instructions at `INSTRUCTIONS` tokens (`core.evaluate.judging`'s and
`pairwise_judging`'s system text is about that long). Requests per row: a rubric judge grades the
teacher, the base student and the distilled student (3); a pairwise judge compares the two models that
are not its opponent with it, in both orders (4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from distill_tui.core.cost import tokens

if TYPE_CHECKING:
    from distill_tui.core.cost.estimate import Stage
    from distill_tui.core.task.spec import TaskSpec

INSTRUCTIONS = 130
"""Tokens of the judge's fixed instructions and tags around the question, reference and answers."""
OUTPUT = 60
"""Tokens of a judge's reply: a one-sentence reason and the grade, as JSON."""
ASKS = {"rubric": (3, 1), "pairwise": (4, 2)}
"""Grader type → (requests per eval row, answers shown per request)."""


def judge_stages(spec: "TaskSpec", eval_prompts: Sequence[int], answer_tokens: int,
                 stage: Callable[[str, str, list[int], int], "Stage"]) -> list["Stage"]:
    """One stage per model grader of the spec.

    Args:
        eval_prompts: the prompt tokens of each eval row (the question the judge sees).
        answer_tokens: the estimated tokens of one answer (and of the reference).
        stage: the estimate's stage builder (name, model, input tokens per request, output per request).
    """
    out = []
    for grader in spec.graders:
        if grader.type not in ASKS or not grader.model:
            continue
        per_row, shown = ASKS[grader.type]
        rubric = len(tokens.encoding_for(grader.model).encode_ordinary(grader.rubric or ""))
        fixed = INSTRUCTIONS + rubric + answer_tokens * (1 + shown)
        per_request = [p + fixed for p in eval_prompts for _ in range(per_row)]
        built = stage(f"judge {grader.name}: eval answers", grader.model, per_request, OUTPUT)
        built.note = "; ".join(filter(None, [built.note, f"{per_row} requests a row, answers at the estimated size"]))
        out.append(built)
    return out
