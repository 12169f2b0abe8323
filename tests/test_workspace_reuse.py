"""A renamed, moved or copied spec reuses the answers already paid for under its old path, and its
budget's spend comes with them (issue 10: nothing paid for on this machine is bought twice)."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from distill_tui import locations
from distill_tui.cli import main
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec


def _generate(spec: Path, server, capsys, *extra: str) -> tuple[int, dict, str, int]:
    """(exit code, --json summary, stderr, chat requests the offline provider received)."""
    before = server.stats["chat_requests"]
    code = main(["generate", str(spec), "--json", "--base-url", server.base_url, *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out), err, server.stats["chat_requests"] - before


def _ok_answers(spec: Path) -> int:
    with sqlite3.connect(locations.workspace_db(spec)) as db:
        return db.execute("SELECT COUNT(*) FROM answers WHERE status='ok'").fetchone()[0]


def test_a_renamed_spec_asks_nothing_again_and_keeps_what_it_spent(tmp_path, offline_server, capsys):
    spec = write_spec(tmp_path)
    code, first, err, asked = _generate(spec, offline_server, capsys, "--limit", "20")
    assert code == 0 and asked == first["requests"] == 20 and "note:" not in err  # nothing to reuse then
    with closing(Workspace.open(spec)) as ws:
        ws.store.set_selections({3: False})
        ws.store.save_job(JobRecord(id="ftjob-1", backend="offline", base_model="offline-student", status="running"))
    renamed = spec.rename(tmp_path / "renamed.toml")

    code, again, err, asked = _generate(renamed, offline_server, capsys)
    assert code == 0 and again["done"] == again["total"]
    assert asked == again["requests"] == again["total"] - 20, "the 20 rows answered before are not bought again"
    assert f"note: reusing 20 answers from the workspace of {spec}" in err and "moved" in err
    # Each figure is rounded to 6 decimals in the JSON: the sum of two may be off by up to 1e-6.
    assert abs(again["spent_usd"] - (first["cost_usd"] + again["cost_usd"])) <= 1.5e-6, "the spend came along"

    # Decisions and jobs follow the spec; the old workspace says where they went and is not listed twice.
    with closing(Workspace.open(renamed)) as ws:
        assert ws.store.selections() == {3: False} and [j.id for j in ws.store.jobs()] == ["ftjob-1"]
    with sqlite3.connect(locations.workspace_db(spec)) as db:
        assert db.execute("SELECT value FROM meta WHERE key='moved_to'").fetchone()[0] == str(renamed)
    assert main(["jobs", "--local", "--json"]) == 0
    assert [j["id"] for j in json.loads(capsys.readouterr().out)["jobs"]] == ["ftjob-1"]


def test_a_spec_moved_back_takes_the_answers_bought_meanwhile(tmp_path, offline_server, capsys):
    spec = write_spec(tmp_path)
    _generate(spec, offline_server, capsys, "--limit", "10")
    with closing(Workspace.open(spec)) as ws:
        ws.store.save_job(JobRecord(id="ftjob-1", backend="offline", base_model="offline-student", status="running"))
    away = spec.rename(tmp_path / "away.toml")
    _generate(away, offline_server, capsys, "--limit", "10")
    back = away.rename(spec)

    code, data, err, asked = _generate(back, offline_server, capsys)
    assert f"note: reusing 20 answers from the workspace of {away}" in err
    assert asked == data["requests"] == data["total"] - 20
    assert main(["jobs", "--local", "--json"]) == 0
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    assert [(j["id"], j["workspace"]) for j in jobs] == [("ftjob-1", "spec.toml")]


def test_a_spec_back_home_whose_other_workspace_is_gone_is_listed_again(tmp_path, offline_server, capsys):
    spec = write_spec(tmp_path)
    _generate(spec, offline_server, capsys, "--limit", "2")
    with closing(Workspace.open(spec)) as ws:
        ws.store.save_job(JobRecord(id="ftjob-1", backend="offline", base_model="offline-student", status="running"))
    away = spec.rename(tmp_path / "away.toml")
    _generate(away, offline_server, capsys, "--limit", "1")
    for leftover in locations.workspaces_dir().glob(locations.workspace_db(away).name + "*"):
        leftover.unlink()  # the user cleared that workspace away
    away.rename(spec)

    code, data, err, asked = _generate(spec, offline_server, capsys, "--limit", "1")
    assert code == 0 and asked == 1 and "note:" not in err
    assert main(["jobs", "--local", "--json"]) == 0
    assert [j["id"] for j in json.loads(capsys.readouterr().out)["jobs"]] == ["ftjob-1"]


def test_a_moved_spec_resumes_under_the_budget_it_had_spent(tmp_path, offline_server, capsys):
    old = tmp_path / "old"
    old.mkdir()
    spec = write_spec(old)
    code, first, _, _ = _generate(spec, offline_server, capsys, "--limit", "10")
    assert code == 0 and first["cost_usd"] > 0
    text = spec.read_text().replace("[generation]", f"[generation]\nbudget_usd = {first['cost_usd']}")
    spec.write_text(text)
    new = tmp_path / "new"
    shutil.move(str(old), str(new))  # spec and data move together

    code, again, err, asked = _generate(new / "spec.toml", offline_server, capsys)
    assert "note: reusing 10 answers" in err
    assert again["stopped"] == "budget" and asked == again["requests"] == 0, "the budget was spent already"
    assert again["spent_usd"] == first["cost_usd"]


def test_a_copied_then_edited_spec_asks_only_its_new_prompts(tmp_path, offline_server, capsys):
    original = tmp_path / "a"
    original.mkdir()
    spec = write_spec(original)
    code, first, _, _ = _generate(spec, offline_server, capsys)
    assert code == 0 and first["done"] == first["total"]
    answers_before = _ok_answers(spec)

    copy = tmp_path / "b"
    shutil.copytree(original, copy)
    with (copy / "data.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with closing(Workspace.open(spec)) as ws:  # edit three rows that the teacher answered
        edited = [int(r) for r in ws.data.train["_row"].tolist()[:3]]
    for row in edited:
        rows[row]["description"] = f"An edited review number {row}, plum and oak."
    with (copy / "data.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    code, again, err, asked = _generate(copy / "spec.toml", offline_server, capsys)
    assert code == 0 and again["done"] == again["total"]
    assert asked == again["requests"] == 3, "only the edited rows are new requests"
    assert f"note: reusing {first['total'] - 3} answers from the workspace of {spec}" in err
    assert "3 answers to other prompts came along" in err and "a copy" in err

    # The original is left as it was: nothing written to it, nothing to ask again there.
    assert _ok_answers(spec) == answers_before
    code, original_again, err, asked = _generate(spec, offline_server, capsys)
    assert asked == 0 and original_again["done"] == first["done"] and "reusing" not in err


def test_several_candidates_pick_the_one_with_most_answers_and_say_so(tmp_path, offline_server, capsys):
    spec = write_spec(tmp_path)
    _generate(spec, offline_server, capsys, "--limit", "10")
    fuller = tmp_path / "fuller.toml"
    shutil.copyfile(spec, fuller)
    code, fuller_run, _, _ = _generate(fuller, offline_server, capsys, "--limit", "15")
    assert code == 0 and fuller_run["done"] == 25
    third = tmp_path / "third.toml"
    shutil.copyfile(spec, third)

    code, again, err, asked = _generate(third, offline_server, capsys)
    assert asked == again["requests"] == again["total"] - 25
    note = next(line for line in err.splitlines() if line.startswith("note:"))
    assert f"reusing 25 answers from the workspace of {fuller}" in note
    assert f"the most of 2 that hold some: also {spec} (~10)" in note


def test_evaluation_answers_are_reused_too(tmp_path, offline_server, capsys):
    spec = write_spec(tmp_path)
    evaluate = ["--json", "--base-url", offline_server.base_url]
    assert main(["eval", str(spec), *evaluate]) == 0
    capsys.readouterr()
    moved = spec.rename(tmp_path / "moved.toml")
    asked = offline_server.stats["chat_requests"]
    assert main(["eval", str(moved), *evaluate]) == 0
    out, err = capsys.readouterr()
    assert offline_server.stats["chat_requests"] == asked, "the evaluation answers are not bought again"
    assert json.loads(out)["run"]["requests"] == 0
    assert f"note: reusing 64 answers from the workspace of {spec}" in err  # 32 eval rows, teacher and student


def test_another_spec_on_the_same_data_with_another_teacher_is_not_adopted(tmp_path, offline_server, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    spec = write_spec(tmp_path / "a")
    _generate(spec, offline_server, capsys, "--limit", "10")
    with closing(Workspace.open(spec)) as ws:
        ws.store.set_selections({3: False})
    other = write_spec(tmp_path / "b", teacher={"model": "offline-student"})  # same rows, prompts and student

    code, data, err, asked = _generate(other, offline_server, capsys, "--limit", "5")
    assert code == 0 and asked == 5 and "note:" not in err
    with closing(Workspace.open(other)) as ws:
        assert ws.store.selections() == {} and ws.store.answers("offline-teacher") == []


async def test_the_tui_says_which_answers_it_reused(tmp_path, offline_server, capsys):
    from distill_tui.tui.app import DistillApp
    from tests.settle import workers_done

    spec = write_spec(tmp_path)
    _generate(spec, offline_server, capsys, "--limit", "5")
    moved = spec.rename(tmp_path / "moved.toml")
    app = DistillApp(Workspace.open(moved, base_url=offline_server.base_url))
    notes: list[str] = []
    app.notify = lambda text, **kw: notes.append(text)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        await pilot.press("3")
        await workers_done(app)
        await pilot.pause()
        plan = app.screen.plan
    assert plan is not None and plan.done == 5
    assert [n for n in notes if "reusing" in n] == [f"reusing 5 answers from the workspace of {spec} "
                                                    "(that spec is gone: its workspace moved here)"]

