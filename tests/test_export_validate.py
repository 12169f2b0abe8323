"""The pre-upload validation: one test per rule, plus the statistics and warnings."""

from __future__ import annotations

import json

import pytest

from distill_tui.core.cost import tokens
from distill_tui.core.curate.validate import MAX_FILE_BYTES, validate_examples, validate_file

MODEL = "gpt-4o-mini"


def good(i: int = 0, answer: str = "Merlot") -> dict:
    return {"messages": [
        {"role": "system", "content": "You are a sommelier."},
        {"role": "user", "content": f"Review number {i}: plum and velvet."},
        {"role": "assistant", "content": json.dumps({"variety": answer})},
    ]}


def check(examples: list, **kwargs):
    kwargs.setdefault("token_limit", 65_536)
    return validate_examples(examples, model=MODEL, **kwargs)


def with_bad(bad, n: int = 12) -> list:
    examples = [good(i, ["Merlot", "Syrah"][i % 2]) for i in range(n)]
    examples[3] = bad
    return examples


def test_valid_file_passes_with_statistics():
    examples = [good(i, ["Merlot", "Syrah", "Gamay"][i % 3]) for i in range(60)]
    report = check(examples)
    assert report.ok and report.errors == {} and report.warnings == []
    expected = [tokens.count_training_line(e["messages"], MODEL) for e in examples]
    assert report.tokens_per_example.max == max(expected)
    assert report.billed_tokens == sum(expected)
    assert report.messages_per_example.median == 3
    assert report.distinct_answers == 3
    assert "OK" in report.lines()[1]


@pytest.mark.parametrize(("bad", "code"), [
    ("not an object", "data_type"),
    ({"messages": good()["messages"], "response_format": {}}, "unrecognized_top_level_key"),
    ({"messages": []}, "missing_messages_list"),
    ({"prompt": "x", "completion": "y"}, "missing_messages_list"),
    ({"messages": [{"content": "no role"}, {"role": "assistant", "content": "a"}]}, "message_missing_key"),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}, "message_missing_key"),
    ({"messages": [{"role": "user", "content": "q", "colour": "red"}, {"role": "assistant", "content": "a"}]},
     "message_unrecognized_key"),
    ({"messages": [{"role": "developer", "content": "q"}, {"role": "assistant", "content": "a"}]},
     "unrecognized_role"),
    ({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]}, "missing_content"),
    ({"messages": [{"role": "user", "content": ["parts"]}, {"role": "assistant", "content": "a"}]},
     "missing_content"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]},
     "empty_assistant_content"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 2}]},
     "invalid_weight"),
    ({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]},
     "example_missing_assistant_message"),
])
def test_each_format_rule(bad, code):
    report = check(with_bad(bad))
    assert not report.ok
    assert code in report.errors
    assert report.error_lines[code] == [4]


def test_too_few_examples():
    report = check([good(i) for i in range(9)])
    assert report.errors == {"too_few_examples": 1}
    assert report.error_messages() == ["only 9 examples; at least 10 are needed"]
    assert check([good(i, ["a", "b"][i % 2]) for i in range(10)]).ok


def test_example_over_the_token_limit():
    examples = [good(i, ["a", "b"][i % 2]) for i in range(12)]
    examples[5]["messages"][1]["content"] = "wine " * 300
    report = check(examples, token_limit=200)
    assert report.errors == {"example_too_long": 1} and report.error_lines["example_too_long"] == [6]
    assert report.billed_tokens == sum(min(200, tokens.count_training_line(e["messages"], MODEL)) for e in examples)


def test_file_size_limit():
    report = check([good(i, ["a", "b"][i % 2]) for i in range(12)], file_bytes=MAX_FILE_BYTES + 1)
    assert "file_too_large" in report.errors


def test_tool_calls_and_weight_zero_are_allowed():
    example = {"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
                                                             "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "1"},
        {"role": "assistant", "content": "It is sunny.", "weight": 0},
        {"role": "assistant", "content": "Sunny!", "weight": 1},
    ], "tools": []}
    assert check([example] * 10 + [good(1)]).errors == {}


def test_warnings():
    no_system = {"messages": good()["messages"][1:]}
    report = check([no_system] * 10)
    assert report.ok
    text = " ".join(report.warnings)
    assert "10 examples without a system message" in text
    assert "9 examples repeating an earlier one" in text
    assert "every assistant answer is the same" in text
    assert "at least 50 examples" in text


def test_validate_file_reads_jsonl(tmp_path):
    path = tmp_path / "train.jsonl"
    lines = [json.dumps(good(i, ["a", "b"][i % 2])) for i in range(11)] + ["{not json"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_file(path, model=MODEL, token_limit=65_536)
    assert report.examples == 12 and report.errors == {"data_type": 1}
    assert report.error_lines["data_type"] == [12]
    assert report.file_bytes == path.stat().st_size
