"""The prompt-cache hit rate while generating: cached_tokens from `usage` reach the progress line."""

from __future__ import annotations

import re

from distill_tui.core.run import progress_text as fmt
from distill_tui.core.run.generate import Progress
from tests.helpers import write_spec


def _progress(**changes) -> Progress:
    base = dict(model="gpt-4o", split="train", total=180, done=90, failed=0, in_flight=0, left=90,
                requests=90, retries=0, rate_limited=0, input_tokens=10_000, output_tokens=900, cost_usd=0.05,
                elapsed_s=1.0, rows_per_s=90.0, tokens_per_s=9900.0, eta_s=1.0, limiter={}, last_errors=[],
                last_answers=[], state="running", budget_usd=None, estimated_total_usd=0.2, spent_usd=0.06)
    return Progress(**{**base, **changes})


def test_progress_line_shows_the_cache_hit_rate():
    assert "cache 82% of input" in fmt.progress_line(_progress(cached_tokens=8_192))
    assert "cache" not in fmt.progress_line(_progress())


def test_cached_tokens_from_usage_reach_the_progress_line(tmp_path, offline_server, capsys):
    from distill_tui.cli import main

    # A system prompt over 1,024 tokens: the offline provider reads it from its prompt cache (its own
    # rule, offline/billing.py PromptCache) on every request after the first, as OpenAI does.
    system = " ".join(f"Rule {i}: taste the wine and weigh its acidity." for i in range(150))
    spec = write_spec(tmp_path, provider={"base_url": "offline"}, prompt={"system": system},
                      generation={"workers": 1})
    assert main(["generate", str(spec), "--json", "--base-url", offline_server.base_url]) == 0
    err = capsys.readouterr().err
    progress = [line for line in err.splitlines() if line.startswith("offline-teacher train: ")]
    assert progress and re.search(r"cache 9\d% of input", progress[-1]), progress
