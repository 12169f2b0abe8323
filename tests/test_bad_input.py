"""Broken specs and data files fed to `distill-tui estimate`: exit 2, one line, no traceback, no file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from tests.helpers import spec_dict, write_dataset


def _write(folder: Path, spec: dict | str | bytes, data: bytes | None = b"default") -> Path:
    if data == b"default":
        write_dataset(folder / "data.csv", rows=40)
    elif data is not None:
        (folder / "data.csv").write_bytes(data)
    path = folder / "spec.toml"
    if isinstance(spec, dict):
        path.write_text(tomli_w.dumps(spec), encoding="utf-8")
    elif isinstance(spec, bytes):
        path.write_bytes(spec)
    else:
        path.write_text(spec, encoding="utf-8")
    return path


CASES = {
    "empty data file": (spec_dict(), b""),
    "header only": (spec_dict(), b"description,points,price,variety\n"),
    "label column missing": (spec_dict(dataset={"label": "grape"}), b"default"),
    "all labels below min_per_label": (spec_dict(dataset={"min_per_label": 999}), b"default"),
    "binary data file": (spec_dict(), bytes(range(256)) * 4),
    "bad TOML": ("[dataset\npath = 'data.csv'", b"default"),
    "bad filter": (spec_dict(dataset={"filter": "country == "}), b"default"),
    "filter naming no column": (spec_dict(dataset={"filter": "region == 'X'"}), b"default"),
    "unknown placeholder": (spec_dict(prompt={"user": "Guess: {vintage}"}), b"default"),
    "negative sample": (spec_dict(dataset={"sample": -5}), b"default"),
    "sample larger than data": (spec_dict(dataset={"sample": 10_000}), b"default"),
    "eval_fraction 1.5": (spec_dict(dataset={"eval_fraction": 1.5}), b"default"),
    "unreadable path": (spec_dict(data_name="missing/nowhere.csv"), b"default"),
    "unknown key": (spec_dict(teacher={"modle": "gpt-4o"}), b"default"),
    "wrong type": (spec_dict(generation={"workers": "eight"}), b"default"),
    "unknown data format": (spec_dict(data_name="data.xlsx"), b"default"),
    "spec is not UTF-8": (b"[dataset]\npath = '\xff\xfe'\n", b"default"),
    "empty spec": ("", b"default"),
    "missing label values only": (spec_dict(), b"description,points,price,variety\nx,1,2,\ny,3,4,\n"),
    "malformed CSV": (spec_dict(), b'description,points,price,variety\n"unclosed,1,2,A\n'),
    "lone brace in prompt": (spec_dict(prompt={"system": "JSON like {this"}), b"default"),
    "bad epochs flag": (spec_dict(), b"default"),
    "base_url is not a URL": (spec_dict(provider={"base_url": "not a url"}), b"default"),
    "azure_endpoint without scheme": (spec_dict(provider={"kind": "azure", "azure_endpoint": "myres.openai.azure.com"}),
                                      b"default"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_estimate_rejects_bad_input_cleanly(tmp_path, case):
    spec, data = CASES[case]
    path = _write(tmp_path, spec, data)
    home = Path(os.environ["DISTILL_TUI_DATA_DIR"])
    before = sorted(p for p in tmp_path.rglob("*"))
    args = [sys.executable, "-m", "distill_tui.cli", "estimate", str(path)]
    if case == "bad epochs flag":
        args += ["--epochs", "lots"]
    result = subprocess.run(args, capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, (case, result.stderr)
    assert lines[0].startswith("distill-tui: error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert sorted(p for p in tmp_path.rglob("*")) == before, "no file written next to the spec"
    assert not home.exists() or not any(home.rglob("*")), "no file written in the data folder"


def test_serve_offline_starts_from_the_command_line_and_stops_on_ctrl_c(tmp_path):
    """The documented rehearsal command: prints its base URL, answers the SDK, exits 0 on Ctrl-C."""
    import signal

    import openai

    process = subprocess.Popen(
        [sys.executable, "-m", "distill_tui.cli", "serve-offline", "--port", "0", "--rpm", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line + process.stderr.read()
        url = line[line.index("http://"):].split()[0]
        client = openai.OpenAI(base_url=url, api_key="offline", max_retries=0)
        assert {m.id for m in client.models.list()} >= {"offline-teacher", "offline-student"}
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_serve_offline_bad_flag_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "distill_tui.cli", "serve-offline", "--rpm", "0"],
                            capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_closed_pipe_is_a_quiet_exit_not_a_traceback(tmp_path):
    """`distill-tui estimate SPEC | head -1`: the reader goes away before the output is written."""
    from tests.helpers import write_spec

    spec = write_spec(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "distill_tui.cli", "estimate", str(spec)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    process.stdout.close()  # before the child has imported anything, so its first write fails
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert b"Traceback" not in err and b"BrokenPipe" not in err and b"Exception ignored" not in err


def test_serve_offline_with_a_key_does_not_echo_it(tmp_path):
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "distill_tui.cli", "serve-offline", "--port", "0", "--require-key",
         "--api-key", "sk-test-SECRET123"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        first, hint = process.stdout.readline(), process.stdout.readline()
        assert "http://127.0.0.1:" in first, first + process.stderr.read()
        assert "OPENAI_API_KEY=<the key given to --api-key>" in hint
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert "SECRET123" not in first + hint + out + err
