"""`[[graders]]`: validation (one line naming the grader and the problem) and defaults per kind."""

from __future__ import annotations

import pytest

from distill_tui.core.common.errors import SpecError
from distill_tui.core.task.graders_spec import DEFAULT_EMBEDDING_MODEL, GraderSpec, default_graders, parse_graders


def test_defaults_per_kind() -> None:
    assert default_graders("classification") == [GraderSpec("exact", "exact", 1.0)]
    assert [g.type for g in default_graders("extraction")] == ["json_fields"]
    assert [g.type for g in default_graders("generation")] == ["chrf", "rouge_l"]
    assert parse_graders(None, "generation", "s.toml") == default_graders("generation")


def test_a_full_list_parses() -> None:
    graders = parse_graders([
        {"name": "chrf", "type": "chrf", "threshold": 0.5},
        {"type": "regex", "pattern": r"^\d+$"},
        {"name": "near", "type": "embedding"},
        {"name": "f", "type": "json_fields", "fields": ["grape", "region"], "threshold": 1},
    ], "extraction", "s.toml")
    assert graders[0] == GraderSpec("chrf", "chrf", 0.5)
    assert graders[1] == GraderSpec("regex", "regex", 1.0, pattern=r"^\d+$")
    assert graders[2].model == DEFAULT_EMBEDDING_MODEL and graders[2].threshold == 0.8
    assert graders[3].fields == ("grape", "region") and graders[3].threshold == 1.0
    assert graders[3].to_toml() == {"name": "f", "type": "json_fields", "threshold": 1.0, "fields": ["grape", "region"]}


@pytest.mark.parametrize("raw, kind, words", [
    ([{"type": "cosine"}], "generation", "unknown type 'cosine'"),
    ([{"name": "x"}], "generation", "needs type"),
    ([{"type": "chrf", "threshold": 1.5}], "generation", "threshold must be a number from 0 to 1, not 1.5"),
    ([{"type": "chrf", "threshold": -0.1}], "generation", "threshold must be a number from 0 to 1"),
    ([{"type": "chrf", "threshold": True}], "generation", "threshold must be a number from 0 to 1"),
    ([{"type": "json_fields"}], "generation", "type json_fields does not fit a generation task"),
    ([{"type": "json_fields"}], "classification", "does not fit a classification task"),
    ([{"type": "regex", "pattern": "(unclosed"}], "generation", "pattern is not a valid regular expression"),
    ([{"type": "regex"}], "generation", "needs pattern"),
    ([{"type": "chrf"}, {"type": "chrf"}], "generation", "name 'chrf' is used twice"),
    ([{"type": "chrf", "pattern": "x"}], "generation", "unknown key 'pattern' for type chrf"),
    ([{"type": "json_fields", "fields": []}], "extraction", "fields must be a non-empty list"),
    ([], "generation", "[[graders]] is empty"),
    ({"type": "chrf"}, "generation", "array of tables"),
])
def test_bad_graders_are_one_line(raw: object, kind: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_graders(raw, kind, "s.toml")
    message = str(caught.value)
    assert words in message and message.startswith("s.toml: ") and "\n" not in message
