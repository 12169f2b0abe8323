"""What the progress line calls the budget: the money a run may still spend ("budget left"), the
same for generation and for each model of an evaluation."""

from __future__ import annotations

import pytest

from distill_tui.core.run import progress_text as fmt
from distill_tui.core.run.generate import Progress


def _progress(**changes) -> Progress:
    base = dict(model="offline-student", split="eval", total=180, done=90, failed=0, in_flight=0, left=90,
                requests=90, retries=0, rate_limited=0, input_tokens=9000, output_tokens=900, cost_usd=0.05,
                elapsed_s=1.0, rows_per_s=90.0, tokens_per_s=9900.0, eta_s=1.0, limiter={}, last_errors=[],
                last_answers=[], state="running", budget_usd=4.86, estimated_total_usd=0.2, spent_usd=0.06,
                price_known=True)
    return Progress(**{**base, **changes})


@pytest.mark.parametrize("split", ["train", "eval"])
def test_the_budget_shown_is_what_is_left(split):
    line = fmt.progress_line(_progress(split=split))
    assert "$0.0600 of ~$0.2000 (budget left $4.80)" in line
    assert "(budget $" not in line


def test_a_spent_budget_shows_nothing_left_never_a_negative_sum():
    assert "(budget left $0.0000)" in fmt.progress_line(_progress(spent_usd=5.1, state="budget"))


def test_no_budget_no_budget_text():
    assert "budget" not in fmt.progress_line(_progress(budget_usd=None))
