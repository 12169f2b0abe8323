"""The estimate's grader stages: what the spec's model graders (rubric, pairwise) and embedding graders
cost on the eval rows.

A judge request holds the row's question (the eval prompt), the rubric, the reference and one answer
(rubric) or two (pairwise), plus the judge's instructions; it answers a one-sentence reason and the
grade. Answers are not known before they are generated, so each is counted at the estimate's answer
size, and the instructions at `INSTRUCTIONS` tokens (`core.evaluate.judging`'s and
`pairwise_judging`'s system text is about that long). Requests per row: a rubric judge grades the
teacher, the base student and the distilled student (3); a pairwise judge compares the two models that
are not its opponent with it, in both orders (4).

An embedding grader embeds every distinct text once (`core.evaluate.graders.embedding`): each model's
answer on every eval row (teacher, base and distilled student) and the row's reference when the data has
one, at the estimated answer size, `EMBED_BATCH` texts a request, input tokens only. Its price is the
embedding model's in prices.toml; a model not there is priced "unknown", named, so the user can add it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Sequence

from distill_tui.core.cost import tokens

if TYPE_CHECKING:
    from distill_tui.core.cost.estimate import Stage
    from distill_tui.core.cost.pricing import PriceTable
    from distill_tui.core.task.spec import TaskSpec

INSTRUCTIONS = 130
"""Tokens of the judge's fixed instructions and tags around the question, reference and answers."""
OUTPUT = 60
"""Tokens of a judge's reply: a one-sentence reason and the grade, as JSON."""
ASKS = {"rubric": (3, 1), "pairwise": (4, 2)}
"""Grader type → (requests per eval row, answers shown per request)."""
EMBED_BATCH = 256
"""Texts per embeddings request (`core.evaluate.graders.embedding.BATCH`)."""
MODELS_ANSWERING = 3
"""The models whose eval answers are graded: the teacher, the base and the distilled student."""


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


def embedding_stages(spec: "TaskSpec", eval_rows: int, answer_tokens: int, has_reference: bool,
                     prices: "PriceTable", make: "type[Stage]") -> tuple[list["Stage"], list[str]]:
    """One stage per embedding grader of the spec (see the module docstring), and a note naming each
    embedding model without a price.

    Args:
        eval_rows: how many rows are held out for evaluation.
        answer_tokens: the estimated tokens of one answer (and of a reference).
        has_reference: whether the data has references (else the teacher's answers are the targets).
        make: the estimate's `Stage` (passed in: the estimate imports this module).
    """
    from distill_tui.core.task.graders_spec import DEFAULT_EMBEDDING_MODEL

    out: list["Stage"] = []
    unknown: list[str] = []
    per_row = MODELS_ANSWERING + int(has_reference)
    for grader in spec.graders:
        if grader.type != "embedding":
            continue
        model = grader.model or DEFAULT_EMBEDDING_MODEL
        texts = eval_rows * per_row
        input_tokens = texts * answer_tokens
        price = prices.price(model)
        cost = None if price is None or price.input is None else input_tokens * price.input / 1_000_000
        what = "answers and references" if has_reference else "answers"
        note = f"{texts:,} texts ({per_row} a row: {what}) at the estimated answer size, {EMBED_BATCH} a request"
        if cost is None:
            note += f"; price unknown: add {model} (input per 1M tokens) to your prices.toml"
            unknown.append(f"{model}: no price in prices.toml, so the 'embed {grader.name}' stage and the total are "
                           f"unknown: add its input price per 1M tokens to your prices.toml")
        # Embeddings are asked while scoring, never through the Batch API: both columns are the same.
        out.append(make(f"embed {grader.name}: eval answers", model, math.ceil(texts / EMBED_BATCH), input_tokens,
                         0, cost, cost, note))
    return out, unknown
