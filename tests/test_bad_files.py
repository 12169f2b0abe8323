"""Inputs that used to hang or mislead: special files as spec or data, duplicate column names, a
`labels` column, and lists/structs as labels. Each is one line naming it, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from distill_tui.core.common.errors import DataError, SpecError
from distill_tui.core.task import dataset
from distill_tui.core.task.spec import load_spec
from tests.helpers import spec_dict, write_dataset, write_spec

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")


def _spec_for(folder: Path, data_name: str, **sections) -> Path:
    path = folder / "spec.toml"
    path.write_text(tomli_w.dumps(spec_dict(data_name, **sections)), encoding="utf-8")
    return path


def _estimate(spec: Path) -> subprocess.CompletedProcess:
    # The timeout only guards the test run: before the fix these waited on the pipe for ever.
    return subprocess.run([sys.executable, "-m", "distill_tui.cli", "estimate", str(spec)],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=60)


def _one_line_exit_2(result: subprocess.CompletedProcess, *parts: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


@needs_fifo
def test_a_named_pipe_as_spec_or_data_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "spec.toml")
    _one_line_exit_2(_estimate(tmp_path / "spec.toml"), "spec.toml: is a named pipe (FIFO), not a spec file")
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    os.mkfifo(data_dir / "data.csv")
    _one_line_exit_2(_estimate(_spec_for(data_dir, "data.csv")), "data.csv: is a named pipe (FIFO), not a data file")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
@pytest.mark.parametrize("name", ["data.csv", "data.parquet", "data.csv.gz"])
def test_a_device_as_data_is_refused(tmp_path, name):
    (tmp_path / name).symlink_to("/dev/zero")
    with pytest.raises(DataError, match=f"{name}: is a device, not a data file"):
        dataset.prepare(load_spec(_spec_for(tmp_path, name)))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_or_a_huge_file_as_spec_is_refused(tmp_path):
    with pytest.raises(SpecError, match="/dev/zero: is a device, not a spec file"):
        load_spec("/dev/zero")
    (tmp_path / "spec.toml").symlink_to("/dev/zero")
    with pytest.raises(SpecError, match="is a device"):
        load_spec(tmp_path / "spec.toml")
    big = tmp_path / "big.toml"
    big.write_bytes(b"# comment\n" * 200_000)
    with pytest.raises(SpecError, match=r"big.toml: is 2,000,000 bytes \(at most 1,048,576\)"):
        load_spec(big)


def test_a_folder_as_data_is_refused(tmp_path):
    (tmp_path / "data.csv").mkdir()
    with pytest.raises(DataError, match="data.csv: is a folder, not a data file"):
        dataset.prepare(load_spec(_spec_for(tmp_path, "data.csv")))


@pytest.mark.parametrize("name", ["data.csv", "data.tsv", "data.csv.gz"])
def test_duplicate_column_names_are_named_not_renamed(tmp_path, name):
    sep = "\t" if name.endswith(".tsv") else ","
    text = sep.join(["description", "points", "price", "variety", "points", "price", "price"]) + "\n"
    text += "".join(sep.join(["good", "1", "2", "Merlot", "3", "4", "5"]) + "\n" for _ in range(8))
    if name.endswith(".gz"):
        import gzip

        (tmp_path / name).write_bytes(gzip.compress(text.encode()))
    else:
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"column names used more than once: 'price' \(3 times\), 'points' \(2 times\)"):
        dataset.prepare(load_spec(_spec_for(tmp_path, name)))


def test_duplicate_column_names_in_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array(["x", "y"]), pa.array([1, 2]), pa.array([3.0, 4.0]), pa.array(["A", "B"]),
                                  pa.array(["z", "w"])], names=["description", "points", "price", "variety", "variety"])
    pq.write_table(table, tmp_path / "data.parquet")
    with pytest.raises(DataError, match=r"column names used more than once: .variety. \(2 times\)"):
        dataset.prepare(load_spec(_spec_for(tmp_path, "data.parquet")))


def test_a_csv_header_that_only_looks_renamed_is_fine(tmp_path):
    (tmp_path / "data.csv").write_text("description,points,points.1,price,variety\n" + "x,1,2,3,A\ny,1,2,3,B\n" * 4)
    data = dataset.prepare(load_spec(_spec_for(tmp_path, "data.csv")))
    assert "points.1" in data.frame.columns


def test_a_data_column_named_labels_does_not_replace_the_label_list(tmp_path):
    write_dataset(tmp_path / "plain.csv", rows=20)
    import pandas as pd

    frame = pd.read_csv(tmp_path / "plain.csv")
    frame["labels"] = frame["variety"]  # the worst case: the gold label itself would be in every prompt
    frame.to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(SpecError, match=r"\[prompt\] user: \{labels\} would be the data's column 'labels', not the "
                                        r"list of allowed labels; rename that column in data.csv"):
        dataset.prepare(load_spec(_spec_for(tmp_path, "data.csv")))
    # Without {labels} in the prompt a column of that name is just a column.
    spec = _spec_for(tmp_path, "data.csv", prompt={"user": "Review: {description}. Which grape?"})
    assert len(dataset.prepare(load_spec(spec)).frame) == 20


def test_a_label_column_of_lists_is_refused(tmp_path):
    rows = [{"description": f"d{i}", "points": i, "price": 1.0, "variety": ["Merlot", "Syrah"]} for i in range(6)]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(DataError, match=r"label column 'variety' holds lists \(e.g. \['Merlot', 'Syrah'\]\)"):
        dataset.prepare(load_spec(_spec_for(tmp_path, "data.jsonl")))


@pytest.mark.parametrize("values, kind", [([["A", "B"], ["C"]], "lists"), ([{"a": 1}, {"a": 2}], "dicts")])
def test_a_parquet_list_or_struct_label_is_refused(tmp_path, values, kind):
    import pandas as pd

    pd.DataFrame({"description": ["x", "y"], "points": [1, 2], "price": [1.0, 2.0], "variety": values}).to_parquet(
        tmp_path / "data.parquet")
    with pytest.raises(DataError, match=f"label column 'variety' holds {kind}"):
        dataset.prepare(load_spec(_spec_for(tmp_path, "data.parquet")))


def test_a_list_label_is_one_line_exit_2_from_the_cli(tmp_path):
    rows = [{"description": f"d{i}", "points": i, "price": 1.0, "variety": ["Merlot"]} for i in range(6)]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    _one_line_exit_2(_estimate(_spec_for(tmp_path, "data.jsonl")), "label column 'variety' holds lists")


def test_a_normal_spec_still_loads(tmp_path):
    assert len(dataset.prepare(load_spec(write_spec(tmp_path, rows=30))).frame) == 30
