"""How many output tokens each answer is planned at: the longest label's JSON (classification), or
the references' mean length (extraction, generation), else a stated assumption."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from distill_tui.core.cost import tokens
from distill_tui.core.task import kinds, prompts

if TYPE_CHECKING:
    from distill_tui.core.task.dataset import PreparedData
    from distill_tui.core.task.spec import TaskSpec


REFERENCES_MEASURED = 2_000  # references encoded for their mean length, evenly spread over the rows
ASSUMED_ANSWER_TOKENS = 256
"""Output tokens planned per free-text or JSON answer when there is no reference to measure (about
190 words); the estimate says it is an assumption, and a smoke run measures the real figure."""


def answer_tokens(spec: "TaskSpec", labels: Sequence[str], model: str,
                  references: Sequence[str] = ()) -> tuple[int, str]:
    """Output tokens to plan per request, and how that number was chosen.

    Extraction and generation answers are sized by the mean length of the reference answers when the
    data has them (`references`), else by `ASSUMED_ANSWER_TOKENS`, within the output budget."""
    if spec.kind != kinds.CLASSIFICATION:
        budget = spec.generation.output_budget()
        if references:
            enc = tokens.encoding_for(model)
            step = -(-len(references) // REFERENCES_MEASURED)  # a mean needs no 130k encodings: every step-th
            measured = references[::step]
            mean = sum(len(enc.encode_ordinary(text)) for text in measured) / len(measured)
            return min(budget, max(1, round(mean))), f"{spec.kind} answers sized by the references' mean length"
        return (min(budget, ASSUMED_ANSWER_TOKENS), f"{spec.kind} answers assumed {ASSUMED_ANSWER_TOKENS} tokens each "
                "(no reference column to measure; a smoke run with generate --limit shows the real length)")
    if spec.prompt.structured and labels:
        enc = tokens.encoding_for(model)
        longest = max(
            len(enc.encode_ordinary(prompts.assistant_content(spec.prompt.answer_field, label, True))) for label in labels
        )
        return min(longest, spec.generation.output_budget()), "answers sized by the longest label"
    return spec.generation.output_budget(), "free-text answers sized by max_tokens (an upper bound)"


def reference_texts(spec: "TaskSpec", data: "PreparedData") -> list[str]:
    """The reference answers of an extraction or generation task (none for classification)."""
    if spec.kind == kinds.CLASSIFICATION or data.label_column is None:
        return []
    return data.frame[data.label_column].astype(str).tolist()
