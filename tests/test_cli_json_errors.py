"""`--json` answers on stdout also when a command fails: `{"error": "<the stderr line>", "exit_code": N}`
for bad input (2), failed work (1) and provider errors, and for a mistake in the flags themselves."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import openai
import pytest

from distill_tui import cli
from distill_tui.cli import main
from distill_tui.core.common.errors import WorkFailed
from tests.test_finetune import make_workspace


def _one_error(capsys: pytest.CaptureFixture[str], code: int) -> dict:
    """The one JSON object on stdout, checked against the one line on stderr."""
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # exactly one object: anything else fails to parse
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert data["exit_code"] == code
    assert lines[0].endswith(data["error"]) and data["error"]
    return data


MISSING = {
    "estimate": [],
    "generate": [],
    "generate --batch": ["--batch"],
    "export": ["-o", "out.jsonl"],
    "finetune": ["--yes"],
    "eval": [],
    "import-stored": ["--metadata", "a=b"],
    "jobs": ["--local"],
}


@pytest.mark.parametrize("command", sorted(MISSING))
def test_a_spec_that_does_not_exist_is_an_error_object(command, tmp_path, capsys):
    spec = str(tmp_path / "nowhere.toml")
    assert main([command.split()[0], spec, "--json", *MISSING[command]]) == 2
    assert "nowhere.toml" in _one_error(capsys, 2)["error"]


@pytest.mark.parametrize("argv", [
    ["generate", "--json"],                           # SPEC missing
    ["estimate", "x.toml", "--json", "--epochs"],     # a flag without its value
    ["eval", "x.toml", "--json", "--bogus"],          # an unknown flag
    ["estmate", "x.toml", "--json"],                  # a mistyped command (read as a SPEC for the TUI)
])
def test_a_mistake_in_the_flags_is_one_line_and_an_error_object(argv, capsys):
    assert main(argv) == 2
    data = _one_error(capsys, 2)
    assert "Traceback" not in data["error"]


def test_without_json_a_flag_mistake_is_still_one_line_and_stdout_stays_empty(capsys):
    assert main(["generate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        "distill-tui: error: the following arguments are required: SPEC (see `distill-tui generate --help`)"]


def test_failed_work_interrupts_and_provider_errors_reach_stdout(capsys):
    assert cli._guard(lambda: (_ for _ in ()).throw(WorkFailed("the job failed")), as_json=True) == 1
    assert _one_error(capsys, 1)["error"] == "the job failed"

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert cli._guard(interrupted, as_json=True) == 1
    assert _one_error(capsys, 1)["error"] == "interrupted"

    response = httpx2.Response(401, request=httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))

    def refused() -> int:
        raise openai.AuthenticationError("Incorrect API key provided", response=response, body=None)

    code = cli._guard(refused, as_json=True)
    assert code == 2
    assert "401" in _one_error(capsys, code)["error"]


def test_a_refused_export_keeps_its_report_in_the_error_object(tmp_path, capsys):
    from tests.test_curate import make_ws

    ws = make_ws(tmp_path, rows=80)
    spec = str(ws.spec.source)
    ws.close()
    out = tmp_path / "train.jsonl"
    assert main(["export", spec, "-o", str(out), "--json", "--filter", "label=Merlot"]) == 2  # < 10 rows
    data = _one_error(capsys, 2)
    assert "nothing written" in data["error"]
    assert data["written"] is False and data["report"]["errors"] and not out.exists()


def test_declining_a_job_is_failed_work_with_an_error_object(tmp_path, offline_server, capsys, monkeypatch):
    make_workspace(tmp_path, offline_server.base_url).close()
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda *a: "n")
    assert main(["finetune", str(tmp_path / "spec.toml"), "--json"]) == 1
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data == {"error": "not created: the job was not confirmed", "exit_code": 1}
    assert captured.err.strip().splitlines()[-1].endswith(f"distill-tui: error: {data['error']}")


def test_the_help_says_what_json_prints_on_an_error(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert '{"error":' in capsys.readouterr().out.replace("\n", " ")
    assert '{"error": "<the same line>", "exit_code": N}' in Path(__file__).parents[1].joinpath(
        "README.md").read_text(encoding="utf-8")
