"""The `[dataset] filter` language: what it selects, and that a shared spec cannot run code through it."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from distill_tui.core.common.errors import SpecError
from distill_tui.core.task import dataset, filter_language
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_spec


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "_row": range(5),
        "country": ["France", "Italy", None, "France", "Spain"],
        "points": [80, 90, 85, 95, 88],
        "price": [10.0, None, 30.0, 40.0, 5.0],
        "wine type": ["red", "white", "red", "rosé", "red"],
        "description": ["Oak and plum", "Citrus", "oak", "x", "Butter"],
    })


SELECTS = {
    "country == 'France'": [0, 3],
    'country == "France" and points >= 90': [3],
    "(country == 'France') & (points > 85)": [3],
    "country == 'France' & points > 85 | points == 90": [1, 3],  # & and | bind like and/or, as in pandas
    "country == 'A&B' | points == 80": [0],
    "~(country == 'France')": [1, 2, 4],
    "not country == 'France'": [1, 2, 4],
    "country in ['France', 'Spain']": [0, 3, 4],
    "country not in ('France',)": [1, 2, 4],
    "points in [80, -1, 95.0]": [0, 3],
    "isna(price)": [1],
    "notna(price) and price * 2 > 30": [2, 3],
    "80 <= points < 90": [0, 2, 4],
    "`wine type` == 'red'": [0, 2, 4],
    "contains(lower(description), 'oak')": [0, 2],
    "startswith(country, 'Fr') or endswith(country, 'ly')": [0, 1, 3],
    "points % 2 == 0 and points // 10 == 8": [0, 4],
    "points ** 2 > 8000 and -points < -88": [1, 3],
    "country == 'France' or isna(country)": [0, 2, 3],
}


@pytest.mark.parametrize("text", sorted(SELECTS))
def test_the_language_selects_rows(frame, text):
    assert filter_language.apply(frame, text, "spec.toml")["_row"].tolist() == SELECTS[text]


PANDAS_FUNCTIONS = ("isna", "notna", "contains", "startswith", "endswith")


@pytest.mark.parametrize("text", [t for t in sorted(SELECTS) if not any(f in t for f in PANDAS_FUNCTIONS)])
def test_what_pandas_query_accepted_selects_the_same_rows(frame, text):
    """Specs written for the old pandas filter keep their meaning."""
    old = frame[frame.eval(text, engine="python").fillna(False).astype(bool)]["_row"].tolist()
    assert filter_language.apply(frame, text, "spec.toml")["_row"].tolist() == old


# Each must be refused before anything is evaluated, naming what is not allowed.
PAYLOADS = {
    "__import__('os').system('id')": "calling",
    "@pd.io.common.os.system('id')": "'@'",
    "points @ points": "'@'",
    "price.__class__.__mro__": "attribute access",
    "country.str.cat(sep='x') == 'x'": "calling country.str.cat()",
    "().__class__.__bases__[0].__subclasses__()": "calling",
    "country[0] == 'F'": "subscripts",
    "(lambda: 1)() == 1": "calling",
    "[c for c in country]": "comprehensions",
    "f'{country}' == 'x'": "f-strings",
    "(x := 1) == 1": "assignment (:=)",
    "__builtins__": "the name __builtins__",
    "open('/etc/passwd')": "calling open()",
    "getattr(country, 'str')": "calling getattr()",
    "price.isna()": "write isna(price)",
    "country is None": "isna(col)",
    "country == 'a' if 1 else 0": "if/else",
    "{1: 2}": "dicts",
    "b'x' == country": "the value b'x'",
    "x" * 2000: "1,000 at most",
    "not " * 200 + "points": "nested more than",
    "(" * 300 + "points" + ")" * 300: "not a valid expression",
    "country ==": "not a valid expression",
}


@pytest.mark.parametrize("text", sorted(PAYLOADS))
def test_everything_else_is_refused_without_data(text):
    with pytest.raises(filter_language.FilterError) as caught:
        filter_language.parse(text, "spec.toml")
    line = str(caught.value)
    assert line.startswith("spec.toml: [dataset] filter ") and "\n" not in line
    assert PAYLOADS[text] in line


@pytest.mark.parametrize("text, expected", [
    ("10**10**10 > 1", "too large a number"),
    ("2 ** 1000000 > points", "too large a number"),
    ("contry == 'France'", "no column 'contry' (did you mean 'country'? columns: country, points, price"),
    ("os.system == 1", "attribute access"),
    ("pd == 1", "no column 'pd'"),
    ("country > 5", "cannot compare country (text) with 5 (a number)"),
    ("description * 1000000 == 'x'", "arithmetic needs numbers, not description (text)"),
    ("contains(points, 'x')", "contains() needs a text column, not points (numbers)"),
    ("points", "needs true/false, not points (numbers)"),
    ("1 == 1", "must give true/false per row"),
])
def test_bad_filters_over_data_say_what_is_wrong(frame, text, expected):
    with pytest.raises(filter_language.FilterError) as caught:
        filter_language.apply(frame, text, "spec.toml")
    assert expected in str(caught.value)


PWNED_BY_EXEC = ("country.str.replace('France', \"open(r'{path}', 'w').close()\").str.replace('Italy', 'None')"
                 ".map(@frame.__init__.__globals__.get('__builtins__').get('exec')).isna()")


def test_a_crafted_filter_cannot_run_code(tmp_path):
    """With pandas' eval this filter ran exec() on strings it built, creating a file (any command would do)."""
    marker = tmp_path / "pwned"
    path = write_spec(tmp_path, rows=30)
    text = path.read_text("utf-8").replace("[dataset]\n", f"[dataset]\nfilter = '''{PWNED_BY_EXEC.format(path=marker)}'''\n", 1)
    path.write_text(text, "utf-8")
    with pytest.raises(SpecError, match="'@'"):
        dataset.prepare(load_spec(path))
    assert not marker.exists()


@pytest.mark.parametrize("text", [
    PWNED_BY_EXEC, "__import__('os').system('id')", "@pd.io.common.os.system('id')", "price.__class__.__mro__",
    "country.str.cat(sep='x') == 'x'", "().__class__.__bases__[0].__subclasses__()", "(lambda: 1)() == 1",
    "f'{country}' == 'x'", "(x := 1) == 1", "10**10**10 > points", "not " * 200 + "points", "x" * 5000,
])
def test_refused_filters_exit_2_with_one_line_from_the_cli(tmp_path, text):
    marker = tmp_path / "pwned"
    path = write_spec(tmp_path, rows=30)
    spec = path.read_text("utf-8")
    value = text.format(path=marker) if text is PWNED_BY_EXEC else text
    path.write_text(spec.replace("[dataset]\n", f"[dataset]\nfilter = '''{value}'''\n", 1), "utf-8")
    result = subprocess.run([sys.executable, "-m", "distill_tui.cli", "estimate", str(path)],
                            capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"distill-tui: error: {path}: [dataset] filter "), result.stderr
    assert not marker.exists()


def test_the_help_lists_the_filter_forms():
    result = subprocess.run([sys.executable, "-m", "distill_tui.cli", "--help"], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=60)
    flat = " ".join(result.stdout.split())
    assert "isna(col)" in flat and "contains(col, 'text')" in flat and "not in" in flat


def test_the_demo_filter_is_in_the_language():
    from distill_tui.offline.measure import demo_spec

    spec, _ = demo_spec()
    filter_language.parse(spec["dataset"]["filter"], "demo.toml")
