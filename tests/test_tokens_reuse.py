"""The engine's per-request estimate reuses what every request of a run shares: the response format's
text (encoded once per format object, not once a row) and the model's encoding."""

from __future__ import annotations

from distill_tui.core.cost import tokens

FORMAT = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"enum": ["Merlot", "Syrah"]}}}


def test_the_schema_text_is_made_once_per_response_format():
    first = tokens.schema_text(FORMAT)
    assert tokens.schema_text(FORMAT) is first  # the same object: not encoded again
    other = {"type": "json_schema", "json_schema": {"name": "b", "schema": {"enum": ["Gamay"]}}}
    assert '"Gamay"' in tokens.schema_text(other) and tokens.schema_text(FORMAT) == first
    assert tokens.schema_text({"type": "json_object"}) == "" and tokens.schema_text(None) == ""


def test_the_encoding_is_looked_up_once_per_model(monkeypatch):
    enc = tokens.encoding_for("gpt-4o-mini")
    monkeypatch.setattr(tokens, "get_encoding", lambda name: (_ for _ in ()).throw(AssertionError("looked up")))
    assert tokens.encoding_for("gpt-4o-mini") is enc
    assert tokens.count_chat([{"role": "user", "content": "hello"}], "gpt-4o-mini", FORMAT) > 0
