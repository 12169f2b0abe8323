"""`distill-tui demo --task extraction|generation`: the bundled demos run the whole loop headless.

The same commands as the README's reproduce block, on the demo's copied spec and data, against the
offline provider: generate, export, fine-tune, evaluate. The graders' means come out in the
README's order: teacher above the base student, the distilled student between them.
"""

from __future__ import annotations

import json

import pytest

from distill_tui.cli import build_parser, main
from distill_tui.core.common.errors import UserError
from distill_tui.commands.demo import TASK_FILES, prepare_demo


@pytest.mark.parametrize(("task", "grader"), [("extraction", "fields"), ("generation", "chrf")])
def test_the_demo_of_a_task_kind_runs_the_loop_and_the_distilled_student_beats_the_base(
        task, grader, tmp_path, offline_server, capsys):
    spec = prepare_demo(task=task)
    assert spec.name == TASK_FILES[task][1][0] and spec.parent.name == f"demo-{task}"
    url = ["--base-url", offline_server.base_url]
    assert main(["generate", str(spec), *url]) == 0
    assert main(["export", str(spec), "-o", str(tmp_path / "train.jsonl")]) == 0
    assert main(["finetune", str(spec), "--yes", "--follow", *url]) == 0
    capsys.readouterr()
    assert main(["eval", str(spec), "--json", *url]) == 0
    models = {m["role"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    mean = {role: models[role]["scores"][grader]["mean"] for role in ("teacher", "base student", "distilled")}
    print(task, mean)
    assert mean["teacher"] - mean["base student"] >= 0.2
    assert mean["distilled"] - mean["base student"] >= 0.08
    assert mean["distilled"] < mean["teacher"]


def test_demo_takes_a_task_and_defaults_to_classification():
    parser = build_parser()
    assert parser.parse_args(["demo"]).task == "classification"
    assert parser.parse_args(["demo", "--task", "generation"]).task == "generation"
    assert prepare_demo().name == "demo.toml"
    with pytest.raises(UserError, match="invalid choice: 'summary'"):
        parser.parse_args(["demo", "--task", "summary"])
