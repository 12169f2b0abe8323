from pathlib import Path

import pytest

from distill_tui.core.common.errors import SpecError
from distill_tui.core.task.spec import load_spec, parse_spec
from distill_tui.core.task.spec_writer import save_spec
from tests.helpers import spec_dict, write_spec


def test_load_valid_spec_and_defaults(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    assert spec.dataset.label == "variety"
    assert spec.data_path == (tmp_path / "data.csv").resolve()
    assert spec.finetune.n_epochs == "auto"
    assert spec.generation.workers == 4


def test_save_round_trip(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    changed = spec.with_changes("dataset", filter="country == 'France'", sample=20)
    save_spec(changed)
    again = load_spec(spec.source)
    assert again.dataset.filter == "country == 'France'" and again.dataset.sample == 20


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"dataset": {"colour": "red"}}, "[dataset] unknown key 'colour'"),
        ({"dataset": {"sample": "ten"}}, "[dataset] sample must be an integer"),
        ({"dataset": {"sample": -3}}, "[dataset] sample must be a positive number"),
        ({"dataset": {"eval_fraction": 1.5}}, "[dataset] eval_fraction must be at least 0 and below 1"),
        ({"dataset": {"min_per_label": 0}}, "[dataset] min_per_label must be at least 1"),
        ({"generation": {"workers": 0}}, "[generation] workers must be between 1 and 1024"),
        ({"generation": {"store": "yes"}}, "[generation] store must be true or false"),
        ({"finetune": {"n_epochs": 99}}, "[finetune] n_epochs"),
        ({"finetune": {"n_epochs": "many"}}, '[finetune] n_epochs must be "auto" or an integer'),
        ({"prompt": {"user": "Hello {"}}, "[prompt] user: lone '{'"),
        ({"prompt": {"user": "Hello {}"}}, "[prompt] user: empty placeholder"),
        ({"provider": {"kind": "gcp"}}, "[provider] kind must be"),
        ({"extra": {"x": 1}}, "unknown section [extra]"),
    ],
)
def test_every_mistake_is_one_line_naming_the_key(tmp_path, change, fragment):
    data = spec_dict(**change)
    with pytest.raises(SpecError) as info:
        parse_spec(data, tmp_path / "spec.toml")
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "spec.toml"))


def test_missing_section_and_key(tmp_path):
    data = spec_dict()
    del data["teacher"]
    with pytest.raises(SpecError, match=r"missing section \[teacher\]"):
        parse_spec(data, tmp_path / "s.toml")
    data = spec_dict()
    del data["dataset"]["label"]
    data["task"] = {"kind": "classification"}
    with pytest.raises(SpecError, match=r"\[dataset\] label is missing: a classification task needs the label "
                       r'column \(for free-text answers set \[task\] kind = "generation"\)'):
        parse_spec(data, tmp_path / "s.toml")
    del data["task"]
    assert parse_spec(data, tmp_path / "s.toml").kind == "generation"  # no label, no kind: free text


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[dataset\npath = 1", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)


def test_paths_are_relative_to_the_spec(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    spec = load_spec(write_spec(sub))
    assert spec.data_path.parent == sub.resolve()
    assert isinstance(spec.dataset.path, Path)


def test_save_keeps_comments_layout_and_untouched_keys(tmp_path):
    from tests.helpers import write_dataset

    write_dataset(tmp_path / "data.csv", rows=30)
    original = """# My wine task: keep this comment
[dataset]
path = "data.csv"   # relative to this file
label = "variety"
filter = "country == 'France'"

[prompt]
user = '''
Review: {description}
Choose one of: {labels}.
'''
answer_field = "variety"

[teacher]
model = "gpt-4o"

[student]
model = "gpt-4o-mini"
"""
    path = tmp_path / "spec.toml"
    path.write_text(original, encoding="utf-8")
    spec = load_spec(path).with_changes("dataset", sample=20, filter=None)
    save_spec(spec)
    text = path.read_text(encoding="utf-8")
    assert "# My wine task: keep this comment" in text and "# relative to this file" in text
    assert "Review: {description}\nChoose one of: {labels}.\n'''" in text, "the multi-line prompt stays as written"
    assert "sample = 20" in text and "filter" not in text
    assert "max_retries" not in text and "[generation]" not in text, "defaults are not written in"
    again = load_spec(path)
    assert again.dataset.sample == 20 and again.dataset.filter is None and again.prompt.user == spec.prompt.user


def test_save_to_a_new_file_writes_only_what_differs_from_defaults(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    target = save_spec(spec, tmp_path / "copy.toml")
    assert load_spec(target).to_toml_dict() == spec.to_toml_dict()
    assert "max_retries" not in target.read_text()
