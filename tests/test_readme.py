"""The README's shell blocks work when pasted, in order, after one of its two set-up commands.

A new user pastes the set-up line, then a block further down: every command that block runs must
exist in that shell (`distill-tui` and `python` only once the virtual environment is active). The
headless reproduce block is also run for real against the offline provider.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

SHELL = {".", "source", "export", "cd", "echo", "time", "mktemp", "python3"}
"""Commands a shell has before the set-up: builtins, coreutils and the system Python the set-up uses."""

IN_VENV = {"python", "pip", "distill-tui"}
"""Commands the virtual environment adds: on PATH once it is active, under `.venv/bin/` always."""

_OPERATORS = {"&&", "||", ";", "|", "(", "&"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


def commands(block: str) -> list[list[str]]:
    """Each simple command of a block as its words (command substitutions included), without the
    variable assignments in front of it."""
    found: list[list[str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line.replace("$(", " ( "), posix=True, punctuation_chars=True)
        lexer.wordchars += ":$@%+,{}[]"
        current: list[str] = []
        for token in lexer:
            if token in _OPERATORS or token == ")":
                if current:
                    found.append(current)
                current = []
            elif current or not _ASSIGNMENT.match(token):
                current.append(token)
        if current:
            found.append(current)
    return found


def is_activation(words: list[str]) -> bool:
    return words[0] in (".", "source") and words[1:2] == [".venv/bin/activate"]


def missing(block: str, active: bool) -> tuple[list[str], bool]:
    """The commands of a block its shell would not find, and whether the venv is active after it."""
    absent = []
    for words in commands(block):
        name = words[0]
        if is_activation(words):
            active = True
        if name.startswith(".venv/bin/"):
            ok = name.removeprefix(".venv/bin/") in IN_VENV
        else:
            ok = name in SHELL or (active and name in IN_VENV)
        if not ok:
            absent.append(" ".join(words))
    return absent, active


def test_the_checker_catches_a_command_of_an_inactive_venv() -> None:
    setup = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/distill-tui demo\n"
    _, active = missing(setup, False)
    absent, _ = missing('SPEC=$(python -c "import a; print(1)")\ndistill-tui generate $SPEC && ls\n', active)
    assert absent == ['python -c import a; print(1)', "distill-tui generate $SPEC", "ls"]
    assert missing(". .venv/bin/activate\ndistill-tui eval x  # a comment; not a command\n", False)[0] == []


def test_every_block_works_pasted_after_either_set_up_command() -> None:
    blocks = bash_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) > 5, "the README's bash blocks were not found"
    setups, rest = blocks[:2], blocks[2:]
    assert all("python3 -m venv .venv" in s for s in setups), "the README's first two blocks are its set-up commands"
    problems = []
    for setup in setups:
        absent, active = missing(setup, False)
        problems += [f"set-up: {c}" for c in absent]
        for block in rest:
            absent, _ = missing(block, active)
            problems += [f"{block.splitlines()[0]!r}…: {c}" for c in absent]
    assert not problems, "commands a pasted README block would not find:\n" + "\n".join(sorted(set(problems)))


def _reproduce_block() -> str:
    return next(b for b in bash_blocks(README.read_text(encoding="utf-8")) if "prepare_demo" in b)


def _isolated_shell(tmp_path: Path) -> dict[str, str]:
    """A folder holding `.venv` (this test run's own environment) and a shell whose PATH does not include it."""
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env = {**os.environ, "PATH": path, "TMPDIR": str(tmp_path)}
    env.pop("VIRTUAL_ENV", None)
    return env


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="the tests do not run in a virtual environment")
def test_the_headless_reproduce_block_runs_as_pasted(tmp_path: Path) -> None:
    """In a folder holding `.venv` (this test run's own environment) and a shell whose PATH does not
    include it, the block runs the whole loop and prints the table the README shows."""
    env = _isolated_shell(tmp_path)
    done = subprocess.run(["bash", "-e", "-c", _reproduce_block()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "train.jsonl").exists()
    for role in ("teacher", "base student", "distilled"):  # the README's table, and the JSON's roles
        assert re.search(rf"\s{role}\s+180\s+\d+\.\d%", done.stdout), done.stdout


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="the tests do not run in a virtual environment")
def test_the_judge_block_runs_as_pasted(tmp_path: Path) -> None:
    """The block that judges the generation demo's training answers and exports those that pass: the
    demo's spec has the rubric judge it names (without one, `judge` stops with exit 2)."""
    block = next(b for b in bash_blocks(README.read_text(encoding="utf-8")) if "distill-tui judge" in b)
    done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=_isolated_shell(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    judged = (tmp_path / "judged.jsonl").read_text(encoding="utf-8").splitlines()
    assert 0 < len(judged) < 280  # the judge passed some of the teacher's answers, not all
    assert "judge helpful: 280 verdicts" in done.stdout + done.stderr
