"""Reasoning models (o-series, gpt-5) as teacher, student or judge: what they accept is data
(data/models.toml), requests leave out what they refuse, and their reasoning tokens are counted."""

from __future__ import annotations

import pytest

from distill_tui import locations
from distill_tui.core.common.errors import UserError
from distill_tui.core.cost import capabilities


# model data -----------------------------------------------------------------------------------------
def test_reasoning_and_sampling_are_dated_data_with_a_source():
    table = capabilities.load_models()
    for name in ("o3", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "offline-reasoner"):
        rules = table.rules(name)
        assert rules.reasoning and rules.sampling == frozenset(), name
        assert not rules.accepts("temperature") and not rules.accepts("top_p")
        assert table.entry(name)["structured_outputs"] is True
    for name in ("gpt-4o-2024-08-06", "ft:gpt-4o-mini-2024-07-18:acme:wine:abc", "gpt-4.1", "offline-teacher"):
        rules = table.rules(name)
        assert not rules.reasoning and rules.accepts("temperature") and rules.accepts("top_p"), name
    unknown = table.rules("my-local-llm")  # not listed: nothing is known, so nothing is left out
    assert not unknown.reasoning and unknown.sampling is None and unknown.accepts("temperature")
    assert "models/o3" in table.limits("o3").source and table.limits("o3").as_of


def test_user_file_may_mark_a_model_reasoning_and_bad_values_are_one_line():
    path = locations.user_models_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[models."my-thinker"]\nreasoning = true\nsampling = []\n')
    assert capabilities.load_models().rules("my-thinker").reasoning
    path.write_text('[models."my-thinker"]\nsampling = ["temperature", "seed"]\n')
    with pytest.raises(UserError, match=r'\[models."my-thinker"\] sampling must be a list of temperature and top_p'):
        capabilities.load_models()
    path.write_text('[models."my-thinker"]\nreasoning = "yes"\n')
    with pytest.raises(UserError, match="reasoning must be true or false"):
        capabilities.load_models()
