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


def test_graders_in_a_spec_file_load_save_and_survive_edits(tmp_path) -> None:
    import tomli_w

    from distill_tui.core.task.spec import load_spec, parse_spec
    from distill_tui.core.task.spec_writer import save_spec
    from tests.helpers import spec_dict, write_spec

    path = write_spec(tmp_path)
    assert load_spec(path).graders == default_graders("classification")
    data = spec_dict()
    data["graders"] = [{"name": "loose", "type": "fuzzy", "threshold": 0.9}, {"type": "exact"}]
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    spec = load_spec(path)
    assert [(g.name, g.type, g.threshold) for g in spec.graders] == [("loose", "fuzzy", 0.9), ("exact", "exact", 1.0)]
    edited = spec.with_changes("dataset", sample=20)  # a TUI edit keeps the graders
    assert edited.graders == spec.graders
    save_spec(edited)
    assert load_spec(path).graders == spec.graders and load_spec(path).dataset.sample == 20
    data["graders"] = [{"type": "json_fields"}]
    with pytest.raises(SpecError, match=r"does not fit a classification task") as caught:
        parse_spec(data, tmp_path / "spec.toml")
    assert caught.value.exit_code == 2


def test_a_bad_grader_exits_2_with_one_line(tmp_path, capsys) -> None:
    import tomli_w

    from distill_tui.cli import main
    from tests.helpers import spec_dict, write_spec

    path = write_spec(tmp_path)
    data = spec_dict()
    data["graders"] = [{"name": "c", "type": "chrf", "threshold": 2}]
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    assert main(["estimate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "[[graders]] #1 ('c') threshold must be a number from 0 to 1, not 2" in err


def test_json_fields_must_be_properties_of_the_answer_schema() -> None:
    schema = {"type": "object", "properties": {"grape": {"type": "string"}, "region": {"type": "string"}}}
    raw = [{"name": "f", "type": "json_fields", "fields": ["grape", "colour"]}]
    with pytest.raises(SpecError, match=r"#1 \('f'\) fields: 'colour' is not a property of the answer schema "
                                        r"\(it has: grape, region\)"):
        parse_graders(raw, "extraction", "s.toml", schema)
    assert parse_graders([{"type": "json_fields", "fields": ["grape"]}], "extraction", "s.toml", schema)[0].fields == ("grape",)
