import hashlib
import json

import pytest

from distill_tui.core.cost import template_tokens, tokens
from distill_tui.core.task import prompts


def test_template_parsing_and_rendering():
    template = "A {x} and {{literal}} with {labels}"
    assert prompts.placeholders(template) == ["x", "labels"]
    assert prompts.render(template, {"x": 3.0}, ["P", "Q"]) == "A 3 and {literal} with P, Q"
    assert prompts.render("{x}", {"x": float("nan")}) == prompts.MISSING
    with pytest.raises(ValueError):
        prompts.parse_template("oops }")


def test_parse_answer():
    labels = ["Merlot", "Syrah"]
    ok = prompts.parse_answer('{"variety": "Merlot"}', "variety", labels, True)
    assert ok.valid and ok.label == "Merlot"
    assert not prompts.parse_answer('{"variety": "Pinot"}', "variety", labels, True).valid
    assert prompts.parse_answer("not json", "variety", labels, True).problem == "answer is not JSON"
    assert prompts.parse_answer(None, "variety", labels, True).problem.startswith("no content")
    assert prompts.parse_answer(" Syrah \n", "variety", labels, False).label == "Syrah"


def test_vocabularies_are_the_genuine_files():
    import gzip

    for name, expected in tokens._EXPECTED_SHA256.items():
        raw = gzip.decompress(tokens._vocabulary_path(name).read_bytes())
        assert hashlib.sha256(raw).hexdigest() == expected
    enc = tokens.get_encoding("o200k_base")
    assert enc.n_vocab == 200019
    assert enc.encode_ordinary("hello world") == [24912, 2375]
    assert tokens.get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]


def test_tampered_vocabulary_is_refused(tmp_path, monkeypatch):
    import gzip

    fake = tmp_path / "o200k_base.tiktoken.gz"
    fake.write_bytes(gzip.compress(b"aGVsbG8= 0\n"))
    monkeypatch.setattr(tokens, "_vocabulary_path", lambda name: fake)
    tokens._load_encoding.cache_clear()
    try:
        with pytest.raises(tokens.VocabularyError, match="does not match"):
            tokens.get_encoding("o200k_base")
    finally:
        tokens._load_encoding.cache_clear()


@pytest.mark.parametrize(
    "model, encoding",
    [
        ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"), ("gpt-4.1-mini", "o200k_base"),
        ("ft:gpt-4.1-mini-2025-04-14:org:x:abc", "o200k_base"), ("ft:gpt-4o-mini-2024-07-18:o::id", "o200k_base"),
        ("gpt-5.4-mini", "o200k_base"), ("o3", "o200k_base"), ("o4-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"), ("ft:gpt-3.5-turbo:o::x", "cl100k_base"),
    ],
)
def test_model_encodings(model, encoding):
    assert tokens.encoding_for_model(model) == (encoding, None)


def test_unknown_model_falls_back_with_a_note():
    name, note = tokens.encoding_for_model("llama-3-70b")
    assert name == "o200k_base" and "unknown model" in note


def test_chat_counting_matches_the_cookbook_rule():
    enc = tokens.get_encoding("o200k_base")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there", "name": "bob"}]
    expected = 3 + sum(3 for _ in messages)
    for m in messages:
        for key, value in m.items():
            expected += len(enc.encode_ordinary(value)) + (1 if key == "name" else 0)
    assert tokens.count_chat(messages, "gpt-4o") == expected
    fmt = prompts.response_format("variety", ["A", "B"])
    extra = len(enc.encode_ordinary(json.dumps(fmt["json_schema"], separators=(",", ":"))))
    assert tokens.count_chat(messages, "gpt-4o", fmt) == expected + extra


@pytest.mark.parametrize(
    "value",
    ["plain", "", "  spaces  ", "ends with letter", "12345", "[markup] <|endoftext|>", "émigré’s ünïcode", "a\nb\n\n",
     "'s contraction", "x" * 300, "quote\"", "tab\there"],
)
def test_template_counter_is_exact(value):
    template = 'Review by {name}: "{text}". It scored {points} points. Choose from: {labels}. Answer with one.'
    labels = ["Pinot Noir", "Bordeaux-style Red Blend", "Chardonnay"]
    for model in ("gpt-4o", "gpt-4"):
        counter = template_tokens.TemplateCounter(template, model, labels)
        row = {"name": value, "text": value, "points": 91.0}
        full = tokens.count_text(prompts.render(template, row, labels), model)
        assert counter.count(row) == full


def test_count_frame_matches_full_encoding():
    import pandas as pd

    values = ["plain", "", "[markup] <|endoftext|>", "émigré’s", "a\nb", None, float("nan"), "x" * 50]
    frame = pd.DataFrame({"name": values, "text": list(reversed(values)), "points": [91.0, None, 3, 4, 5, 6, 7, 8.5]})
    template = 'Review by {name}: "{text}". It scored {points} points. Choose from: {labels}. Answer with one.'
    labels = ["Pinot Noir", "Chardonnay"]
    counter = template_tokens.TemplateCounter(template, "gpt-4o", labels)
    expected = [tokens.count_text(prompts.render(template, row, labels), "gpt-4o") for row in frame.to_dict("records")]
    assert counter.count_frame(frame) == expected
