import pytest

from distill_tui.core.common.errors import DataError, SpecError
from distill_tui.core.task import dataset
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_dataset, write_spec


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_loads_the_same_rows(tmp_path, suffix):
    write_dataset(tmp_path / f"data{suffix}", rows=40)
    spec = load_spec(write_spec(tmp_path, data_name=f"data{suffix}"))
    data = dataset.prepare(spec)
    assert len(data.frame) == 40
    assert data.frame["_row"].tolist() == list(range(40))
    assert set(data.frame["_split"]) == {"train", "eval"}


def test_filter_min_per_label_sample_and_split(tmp_path):
    write_dataset(tmp_path / "data.csv", rows=200)
    spec = load_spec(write_spec(tmp_path, dataset={"filter": "country == 'France'", "min_per_label": 3, "sample": 100}))
    data = dataset.prepare(spec)
    assert len(data.frame) == 100
    assert (data.frame["country"] == "France").all()
    again = dataset.prepare(spec)
    assert data.frame["_row"].tolist() == again.frame["_row"].tolist(), "the seed makes the sample repeatable"
    counts_eval = data.label_counts("eval")
    counts_all = data.label_counts()
    for label, n in counts_all.items():
        assert counts_eval.get(label, 0) == min(round(n * 0.25 + 1e-9), n - 1) or counts_eval.get(label, 0) == int(n * 0.25 + 0.5)
    assert not set(data.train["_row"]) & set(data.eval["_row"])


def test_rare_labels_are_dropped_or_stay_in_train(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"description": [f"text {i}" for i in range(23)], "points": 90, "price": 10,
                          "variety": ["A"] * 10 + ["B"] * 10 + ["C"] * 2 + ["D"]})
    frame.to_csv(tmp_path / "data.csv", index=False)
    spec = load_spec(write_spec(tmp_path, dataset={"min_per_label": 2}))
    data = dataset.prepare(spec)
    assert data.dropped_labels == {"D": 1}
    assert data.labels == ["A", "B", "C"]
    assert data.label_counts("eval")["C"] == 1 and data.label_counts("train")["C"] == 1
    kept = dataset.prepare(load_spec(write_spec(tmp_path, dataset={"min_per_label": 1})))
    assert kept.unsplit_labels == ["D"] and (kept.eval["variety"] != "D").all()
    assert any("1 label too rare to split stays in train" in note for note in kept.notes())


def test_non_utf8_file_is_read_and_reported(tmp_path):
    text = "description,points,price,variety\nCr\xe8me br\xfbl\xe9e notes,90,10,Merlot\nplain,85,9,Syrah\n"
    (tmp_path / "data.csv").write_bytes(text.encode("cp1252"))
    spec = load_spec(write_spec(tmp_path, dataset={"eval_fraction": 0.0}))
    data = dataset.prepare(spec)
    assert data.frame["description"].iloc[0] == "Crème brûlée notes"
    assert any("cp1252" in note for note in data.notes())


def test_markup_like_cells_survive(tmp_path):
    import pandas as pd

    from distill_tui.core.task import prompts

    frame = pd.DataFrame({"description": ["Grey [Glacier] [b]bold[/b] [+]", "x"], "points": [90, 91],
                          "price": [None, 12.0], "variety": ["A", "B"]})
    frame.to_csv(tmp_path / "data.csv", index=False)
    spec = load_spec(write_spec(tmp_path, dataset={"eval_fraction": 0.0}))
    data = dataset.prepare(spec)
    row = data.frame.iloc[0].to_dict()
    text = prompts.render(spec.prompt.user, row, data.labels)
    assert "Grey [Glacier] [b]bold[/b] [+]" in text
    assert "Price: (missing)" in text and "nan" not in text


@pytest.mark.parametrize(
    "content, error",
    [
        (b"", "data file is empty"),
        (b"description,points,price,variety\n", "header but no rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ],
)
def test_unusable_files(tmp_path, content, error):
    (tmp_path / "data.csv").write_bytes(content)
    spec = load_spec(write_spec(tmp_path))
    with pytest.raises(DataError, match=error):
        dataset.prepare(spec)


def test_spec_that_does_not_fit_the_data(tmp_path):
    write_dataset(tmp_path / "data.csv", rows=30)
    with pytest.raises(SpecError, match="column 'grape' is not in the data"):
        dataset.prepare(load_spec(write_spec(tmp_path, dataset={"label": "grape"})))
    with pytest.raises(SpecError, match=r"placeholder \{vintage\} names no column"):
        dataset.prepare(load_spec(write_spec(tmp_path, prompt={"user": "Year {vintage}"})))
    with pytest.raises(SpecError, match="sample = 500 but only 30 rows remain"):
        dataset.prepare(load_spec(write_spec(tmp_path, dataset={"sample": 500})))
    with pytest.raises(SpecError, match="filter"):
        dataset.prepare(load_spec(write_spec(tmp_path, dataset={"filter": "country =="})))
    with pytest.raises(SpecError, match="every label has fewer rows"):
        dataset.prepare(load_spec(write_spec(tmp_path, dataset={"min_per_label": 1000})))
    with pytest.raises(SpecError, match="leaves no labelled rows"):
        dataset.prepare(load_spec(write_spec(tmp_path, dataset={"filter": "points > 1000"})))


def test_column_summary(tmp_path):
    write_dataset(tmp_path / "data.csv", rows=30)
    data = dataset.prepare(load_spec(write_spec(tmp_path)))
    summary = {c.name: c for c in dataset.summarize_columns(data.frame)}
    assert "_row" not in summary and "variety" in summary
    assert summary["price"].non_null < 30
