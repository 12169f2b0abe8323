"""The offline provider's prompt cache (offline/billing.py PromptCache): a prompt that repeats a
prefix of 1,024 tokens or more seen recently reads it from the cache in 128-token steps, reported in
usage.prompt_tokens_details.cached_tokens, so cache hits happen end to end (generate --json)."""

from __future__ import annotations

import json

from distill_tui.offline import billing
from tests.conftest_offline import client_for, running
from tests.helpers import write_spec

LONG = " ".join(f"Rule {i}: taste the wine and weigh its acidity." for i in range(150))  # about 1,650 tokens


def test_cache_rule_min_prefix_and_steps():
    cache = billing.PromptCache()
    base = list(range(1300))
    assert cache.read("m", base) == 0  # first time: nothing cached yet
    assert cache.read("m", base) == 1280  # 1,300 repeated: read in 128-token steps
    assert cache.read("m", base[:1100] + [-9] * 300) == 1024  # a 1,100-token prefix in common
    assert cache.read("other", base) == 0  # per model
    short = list(range(5000, 6000))
    assert cache.read("m", short) == 0 and cache.read("m", short) == 0  # under 1,024 tokens: never cached


def test_sdk_sees_cached_tokens_for_a_repeated_long_prefix():
    with running() as server:
        sdk = client_for(server)

        def ask(question):
            return sdk.chat.completions.create(model="offline-teacher", messages=[
                {"role": "system", "content": LONG}, {"role": "user", "content": question}]).usage

        first, second = ask("Which grape is this: plum and velvet?"), ask("And this one: cherry and smoke?")
    assert first.prompt_tokens_details.cached_tokens == 0
    prefix = len(billing.prompt_ids([{"role": "system", "content": LONG}, {"role": "user", "content": ""}],
                                    "offline-teacher"))
    assert second.prompt_tokens_details.cached_tokens == prefix // 128 * 128 >= 1024


def test_generate_json_reports_the_cached_tokens(tmp_path, capsys):
    from distill_tui.cli import main
    from distill_tui.core.cost import pricing
    from distill_tui.core.cost.estimate import build_estimate
    from distill_tui.core.task import dataset
    from distill_tui.core.task.spec import load_spec

    path = write_spec(tmp_path, rows=40, prompt={"system": LONG}, generation={"workers": 1})
    with running() as server:
        assert main(["generate", str(path), "--json", "--base-url", server.base_url]) == 0
    result = json.loads(capsys.readouterr().out)
    spec = load_spec(path)
    planned = build_estimate(spec, dataset.prepare(spec), pricing.load_prices()).stages[0]
    assert result["done"] == planned.requests and result["cached_tokens"] > 0
    # One worker: every request but the first reads the fixed prefix (at least) from the cache, as the
    # estimate plans it; the bill may read a step more where two rows' varying text starts alike.
    assert planned.cached_input_tokens <= result["cached_tokens"] <= planned.cached_input_tokens + 128 * planned.requests
