"""Task kinds (issue 14): the spec keys, the requests, the answers and the bad input of extraction and
generation, next to classification kept as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

from distill_tui.core.common.errors import DataError, SpecError
from distill_tui.core.task import dataset, kinds, requests
from distill_tui.core.task.spec import load_spec, parse_spec

SCHEMA = {
    "type": "object",
    "properties": {
        "grape": {"type": "string"},
        "sweetness": {"type": "string", "enum": ["dry", "off-dry", "sweet"]},
        "price": {"type": ["number", "null"]},
    },
    "required": ["grape", "sweetness", "price"],
    "additionalProperties": False,
}


def qa_rows(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({
        "question": [f"What grows on slope {i}?" for i in range(n)],
        "answer": [f"Mostly vines of kind {i}, planted in {1900 + i}." for i in range(n)],
        "grape": [["Merlot", "Syrah"][i % 2] for i in range(n)],
        "fields": [json.dumps({"price": i, "grape": "Merlot", "sweetness": "dry"}) for i in range(n)],
    })


def write(folder: Path, frame: pd.DataFrame | None = None, **sections) -> Path:
    (frame if frame is not None else qa_rows()).to_csv(folder / "qa.csv", index=False)
    data = {
        "dataset": {"path": "qa.csv", "seed": 3, "eval_fraction": 0.25},
        "prompt": {"user": "Q: {question}"},
        "teacher": {"model": "gpt-4o"},
        "student": {"model": "gpt-4o-mini"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    path = folder / "spec.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


# the kind a spec gets ---------------------------------------------------------------------------------------
def test_kind_defaults_from_the_keys_a_user_wrote(tmp_path):
    assert load_spec(write(tmp_path, dataset={"label": "grape"})).kind == "classification"
    assert load_spec(write(tmp_path)).kind == "generation"  # no label, no schema: free text
    assert load_spec(write(tmp_path, dataset={"reference": "answer"})).kind == "generation"
    assert load_spec(write(tmp_path, prompt={"schema": SCHEMA})).kind == "extraction"
    assert load_spec(write(tmp_path, task={"kind": "generation"}, dataset={"label": "answer"})).kind == "generation"


@pytest.mark.parametrize("sections, fragment", [
    ({"task": {"kind": "summary"}}, '[task] kind must be "classification", "extraction" or "generation", not \'summary\''),
    ({"task": {"kind": "classification"}}, "[dataset] label is missing"),
    ({"task": {"kind": "extraction"}}, "[prompt] schema is missing"),
    ({"task": {"kind": "generation"}, "prompt": {"schema": SCHEMA}}, '[prompt] schema is for [task] kind = "extraction"'),
    ({"dataset": {"label": "grape", "reference": "answer"}}, "in a classification task the label column is the reference"),
    ({"task": {"kind": "generation"}, "dataset": {"label": "grape", "reference": "answer"}}, "keep reference"),
    ({"dataset": {"reference": " "}}, "[dataset] reference is empty"),
    ({"evaluate": {"max_rows": 0}}, "[evaluate] max_rows must be at least 1"),
    ({"evaluate": {"rows": 3}}, "[evaluate] unknown key 'rows'"),
    ({"task": {"kind": "extraction"}, "prompt": {"schema": SCHEMA, "structured": False}},
     "[prompt] structured = false is for classification"),  # was taken and ignored: the schema stayed strict
])
def test_bad_kind_keys_are_one_line(tmp_path, sections, fragment):
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, **sections))
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


# the schema, checked against the Structured Outputs rules ---------------------------------------------------
def _with(**changes):
    schema = json.loads(json.dumps(SCHEMA))
    for path, value in changes.items():
        node = schema
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        if value is None:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return schema


@pytest.mark.parametrize("schema, fragment", [
    (_with(additionalProperties=None), 'the root: every object needs "additionalProperties": false'),
    (_with(required=["grape", "sweetness"]), "'price' is missing"),
    (_with(**{"properties.grape.minLength": 2}), "properties/grape: keyword 'minLength' is not supported"),
    (_with(**{"properties.grape.default": "Merlot"}), "keyword 'default' is not supported"),
    (_with(**{"properties.grape.type": "text"}), "type 'text' is not one of"),
    ({"anyOf": [SCHEMA]}, "the root must be an object"),
    (_with(**{"properties.tags": {"type": "array"}, "required": ["grape", "sweetness", "price", "tags"]}),
     'properties/tags: an array needs "items"'),
    (_with(**{"properties.notes": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
              "required": ["grape", "sweetness", "price", "notes"]}), "properties/notes: every object needs"),
    (_with(**{"properties.grape.enum": [f"g{i}" for i in range(1001)]}), "1,004 enum values; the provider takes at most 1,000"),
    # a $ref that resolves to nothing passed the load, then every answer failed to validate with a library error
    (_with(**{"properties.grape": {"$ref": "#/$defs/grape"}}), "properties/grape: $ref '#/$defs/grape' points to nothing"),
    (_with(**{"properties.grape": {"$ref": "grapes.json#/g"}}), "properties/grape: $ref 'grapes.json#/g' must point"),
    # keyword values JSON Schema itself refuses: each passed the load, then every answer failed with a library error
    (_with(**{"properties.grape.pattern": "([a-z"}), "properties/grape/pattern: '([a-z' is not a valid regular expression"),
    (_with(**{"properties.price.minimum": "cheap"}), "properties/price/minimum: 'cheap' is not of type 'number'"),
])
def test_a_schema_the_provider_would_refuse_is_refused_at_load(tmp_path, schema, fragment):
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, prompt={"schema": schema}))
    message = str(caught.value)
    assert "[prompt] schema: " in message and fragment in message and "\n" not in message


def test_schema_file_relative_to_the_spec_and_its_problems(tmp_path):
    (tmp_path / "wine.schema.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    spec = load_spec(write(tmp_path, prompt={"schema": "wine.schema.json"}))
    assert spec.answer_schema == SCHEMA and kinds.schema_name(spec) == "wine"
    with pytest.raises(SpecError, match=r"\[prompt\] schema: file .*nope.json not found"):
        load_spec(write(tmp_path, prompt={"schema": "nope.json"}))
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(SpecError, match=r"\[prompt\] schema: .*bad.json is not valid JSON"):
        load_spec(write(tmp_path, prompt={"schema": "bad.json"}))


def test_a_schema_path_that_is_not_a_plain_file_is_refused_before_reading(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")  # reading it would wait for a writer for ever
    with pytest.raises(SpecError, match=r"\[prompt\] schema: .*pipe.json is a named pipe \(FIFO\), not a JSON schema"):
        load_spec(write(tmp_path, prompt={"schema": "pipe.json"}))
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(SpecError, match=r"folder.json is a folder, not a JSON schema file"):
        load_spec(write(tmp_path, prompt={"schema": "folder.json"}))


def test_a_deep_schema_is_over_the_nesting_limit(tmp_path):
    node = {"type": "string"}
    for _ in range(11):
        node = {"type": "object", "properties": {"x": node}, "required": ["x"], "additionalProperties": False}
    with pytest.raises(SpecError, match="more than 10 levels of nesting"):
        load_spec(write(tmp_path, prompt={"schema": node}))


# requests per kind ---------------------------------------------------------------------------------------------
def test_requests_per_kind(tmp_path):
    gen = load_spec(write(tmp_path, dataset={"reference": "answer"}))
    data = dataset.prepare(gen)
    first = next(requests.iter_requests(gen, data, "gpt-4o"))
    assert "response_format" not in first.body
    assert first.body["max_completion_tokens"] == kinds.FREE_TEXT_MAX_TOKENS
    assert first.gold.startswith("Mostly vines of kind")
    ext = load_spec(write(tmp_path, prompt={"schema": SCHEMA}))
    body = next(requests.iter_requests(ext, dataset.prepare(ext), "gpt-4o")).body
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}}
    no_ref = next(requests.iter_requests(ext, dataset.prepare(ext), "gpt-4o"))
    assert no_ref.gold is None
    capped = load_spec(write(tmp_path, dataset={"reference": "answer"}, generation={"max_tokens": 300}))
    assert next(requests.iter_requests(capped, dataset.prepare(capped), "gpt-4o")).body["max_completion_tokens"] == 300


def test_labels_placeholder_in_a_task_without_labels_is_refused(tmp_path):
    spec = load_spec(write(tmp_path, prompt={"user": "Q: {question} ({labels})"}))
    with pytest.raises(SpecError, match=r"\{labels\} is the list of allowed labels, and a generation task has none"):
        dataset.prepare(spec)


# answers per kind ----------------------------------------------------------------------------------------------
def test_parse_generation_answers(tmp_path):
    spec = load_spec(write(tmp_path))
    ok = kinds.parse_answer(spec, "  Syrah, mostly.\n", [], "stop")
    assert (ok.label, ok.valid, ok.problem) == ("Syrah, mostly.", True, None)
    cut = kinds.parse_answer(spec, "Syrah, mos", [], "length")
    assert not cut.valid and "finish_reason length" in cut.problem and cut.label == "Syrah, mos"
    assert kinds.parse_answer(spec, "   ", [], "stop").problem == "empty answer"
    filtered = kinds.parse_answer(spec, "Syrah is", [], "content_filter")
    assert not filtered.valid and filtered.problem == "not finished (finish_reason content_filter)"
    assert kinds.parse_answer(spec, "Syrah.", [], None).valid  # a server that sends no finish_reason
    assert not kinds.parse_answer(spec, None, [], "stop").valid


def test_parse_extraction_answers(tmp_path):
    spec = load_spec(write(tmp_path, prompt={"schema": SCHEMA}))
    ok = kinds.parse_answer(spec, '{"sweetness": "dry", "grape": "Merlot", "price": 12}', [], "stop")
    assert ok.valid and ok.label == '{"grape":"Merlot","price":12,"sweetness":"dry"}'
    wrong = kinds.parse_answer(spec, '{"grape": "Merlot", "sweetness": "very", "price": null}', [], "stop")
    assert not wrong.valid and wrong.problem.startswith("does not follow the schema at sweetness: 'very' is not one of")
    missing = kinds.parse_answer(spec, '{"grape": "Merlot"}', [], "stop")
    assert not missing.valid and "'sweetness' is a required property" in missing.problem
    assert kinds.parse_answer(spec, '{"grape": "Mer', [], "length").problem == kinds.CUT_OFF
    assert kinds.parse_answer(spec, "Merlot", [], "stop").problem == "answer is not JSON"


# data per kind, and the bad input ----------------------------------------------------------------------------
def test_all_unique_labels_point_to_generation(tmp_path):
    spec = load_spec(write(tmp_path, dataset={"label": "answer"}))
    with pytest.raises(SpecError) as caught:
        dataset.prepare(spec)
    message = str(caught.value)
    assert "each of the 40 rows has a value of its own in 'answer'" in message
    assert '[task] kind = "generation"' in message and "\n" not in message


def test_an_empty_reference_column_is_refused(tmp_path):
    frame = qa_rows()
    frame["answer"] = None
    spec = load_spec(write(tmp_path, frame, dataset={"reference": "answer"}))
    with pytest.raises(DataError, match="the reference column 'answer' .* is empty in every row"):
        dataset.prepare(spec)


def test_rows_without_reference_are_left_out_and_said(tmp_path):
    frame = qa_rows()
    frame.loc[:4, "answer"] = None
    data = dataset.prepare(load_spec(write(tmp_path, frame, dataset={"reference": "answer"})))
    assert len(data.frame) == 35 and "5 rows have no reference and are left out" in data.notes()
    assert data.labels == [] and data.label_counts() == {}


def test_generation_split_and_extraction_references(tmp_path):
    data = dataset.prepare(load_spec(write(tmp_path, prompt={"schema": SCHEMA}, dataset={"reference": "fields"})))
    assert len(data.eval) == 10 and len(data.train) == 30
    assert data.frame["fields"].iloc[0] == '{"grape":"Merlot","price":0,"sweetness":"dry"}'  # canonical JSON
    none = dataset.prepare(load_spec(write(tmp_path)))
    assert none.label_column is None and len(none.eval) == 10


def test_max_rows_caps_the_held_out_rows_with_the_seed(tmp_path):
    full = dataset.prepare(load_spec(write(tmp_path, qa_rows(400))))
    capped = dataset.prepare(load_spec(write(tmp_path, qa_rows(400), evaluate={"max_rows": 25})))
    assert len(full.eval) == 100 and len(capped.eval) == 25
    assert set(capped.eval["_row"]) <= set(full.eval["_row"])  # the same split, fewer of its eval rows asked
    assert set(capped.train["_row"]) == set(full.train["_row"])  # the others are not trained on
    assert any("max_rows: 25 of the 100 held-out rows are evaluated" in n for n in capped.notes())
    again = dataset.prepare(load_spec(write(tmp_path, qa_rows(400), evaluate={"max_rows": 25})))
    assert list(again.eval["_row"]) == list(capped.eval["_row"])


def test_to_toml_keeps_the_new_keys(tmp_path):
    spec = load_spec(write(tmp_path, task={"kind": "generation"}, dataset={"reference": "answer"},
                           evaluate={"max_rows": 50}))
    again = parse_spec(spec.to_toml_dict(), spec.source)
    assert (again.kind, again.dataset.reference, again.evaluate.max_rows) == ("generation", "answer", 50)


def test_the_readme_any_task_spec_loads_and_its_schema_line_is_the_real_one(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Any task", 1)[1].split("\n## ", 1)[0]
    toml_text = section.split("```toml\n", 1)[1].split("```", 1)[0]
    pd.DataFrame({"question": [f"Question {i}?" for i in range(50)],
                  "answer": [f"Answer {i}." for i in range(50)]}).to_csv(tmp_path / "questions.csv", index=False)
    (tmp_path / "spec.toml").write_text(toml_text, encoding="utf-8")
    spec = load_spec(tmp_path / "spec.toml")
    assert (spec.kind, spec.dataset.reference, spec.evaluate.max_rows) == ("generation", "answer", 500)
    assert len(dataset.prepare(spec).eval) == 15
    line = section.split("e.g. `", 1)[1].split("`.", 1)[0].replace("\n  ", " ")
    schema = _with(**{"properties.grape.minLength": 2})
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, prompt={"schema": schema}))
    assert str(caught.value).endswith(line.removeprefix("spec.toml: "))


@pytest.mark.parametrize("sections, frame, fragment", [
    ({"task": {"kind": "qa"}}, None, "[task] kind must be"),
    ({"prompt": {"schema": _with(additionalProperties=True)}}, None, '"additionalProperties": false'),
    ({"dataset": {"reference": "answer"}}, qa_rows().assign(answer=""), "is empty in every row"),
    ({"dataset": {"label": "answer"}}, None, '[task] kind = "generation"'),
], ids=["unknown-kind", "refused-schema", "empty-reference", "unique-labels"])
def test_cli_bad_input_is_exit_2_and_one_line(tmp_path, capsys, sections, frame, fragment):
    from distill_tui.cli import main

    assert main(["estimate", str(write(tmp_path, frame, **sections))]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err and "Traceback" not in err


def test_an_extraction_reference_without_json_is_refused(tmp_path):
    spec = load_spec(write(tmp_path, prompt={"schema": SCHEMA}, dataset={"reference": "grape"}))
    with pytest.raises(DataError, match=r"the reference column 'grape' \(\[dataset\] reference\) holds no JSON object "
                                        r"\(e.g. 'Merlot'\); an extraction task's reference is the answer as JSON"):
        dataset.prepare(spec)
