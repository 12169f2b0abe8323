"""Judging the teacher's training answers for curation (core/evaluate/train_judging.py, `distill-tui
judge`): through the engine against offline-judge, never paid twice, scores shown to curation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distill_tui.cli import main
from distill_tui.core.curate.filters import parse_filters
from distill_tui.core.curate.selection import Curation
from distill_tui.core.evaluate import answer_scores
from distill_tui.core.workspace.workspace import Workspace
from tests.helpers import write_spec
from tests.test_curate import fabricate, wrong

GRADER = '\n[[graders]]\nname = "judge"\ntype = "rubric"\nmodel = "offline-judge"\nrubric = "names the grape"\n' \
         'scale = "pass_fail"\n'


def _spec(folder: Path, graders: str = GRADER) -> Path:
    spec = write_spec(folder, rows=40)
    spec.write_text(spec.read_text() + graders)
    ws = Workspace.open(spec)
    fabricate(ws, wrong)  # every 4th answer is another label than gold
    ws.close()
    return spec


def test_judge_command_then_curation_keeps_what_passes(tmp_path: Path, offline_server, capsys) -> None:
    spec = str(_spec(tmp_path))
    url = ["--base-url", offline_server.base_url]
    assert main(["judge", spec, "--json", "--limit", "3", *url]) == 0
    [first] = json.loads(capsys.readouterr().out)["judges"]
    assert (first["grader"], first["asked"], first["ok"]) == ("judge", 3, 3)
    before = offline_server.stats["chat_requests"]
    assert main(["judge", spec, "--json", *url]) == 0
    [rest] = json.loads(capsys.readouterr().out)["judges"]
    assert rest["reused"] == 3 and rest["asked"] == rest["ok"] and rest["failed"] == 0
    assert offline_server.stats["chat_requests"] - before == rest["asked"]  # the 3 judged before: not again
    assert main(["judge", spec, "--json", *url]) == 0
    assert json.loads(capsys.readouterr().out)["judges"][0]["asked"] == 0

    ws = Workspace.open(spec, base_url=offline_server.base_url)
    try:
        cur = Curation.from_workspace(ws)
        answer_scores.attach(ws, cur)
        filters, _ = parse_filters(["score=judge:1.."])
        kept = set(cur.ids[cur.mask(filters)].tolist())
        agrees = {int(i) for i, a in zip(cur.ids, cur.agrees) if a == 1}
        assert kept == agrees and 0 < len(kept) < cur.n  # the judge passes exactly the right answers
    finally:
        ws.close()


def test_judge_command_bad_input_is_one_line(tmp_path: Path, offline_server, capsys) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for spec, args, words in (
        (_spec(plain, ""), [], 'no [[graders]] of type "rubric"'),
        (_spec(tmp_path), ["--grader", "nope"], "--grader nope: not a rubric grader"),
        (tmp_path / "spec.toml", ["--limit", "-1"], "--limit must not be negative"),
    ):
        code = main(["judge", str(spec), "--base-url", offline_server.base_url, *args])
        err = capsys.readouterr().err
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_budget_counts_earlier_judge_runs(tmp_path: Path, offline_server, capsys) -> None:
    from distill_tui.core.run.plan import spent

    spec = _spec(tmp_path)
    spec.write_text(spec.read_text().replace("[generation]\n", "[generation]\nbudget_usd = 0.0008\n", 1))
    url = ["--base-url", offline_server.base_url]
    codes = [main(["judge", str(spec), "--json", *url])  # judging all 30 answers costs about 0.0013: over budget
             for _ in range(15)]
    runs = [json.loads(line)["judges"][0] for line in capsys.readouterr().out.splitlines()]
    ws = Workspace.open(spec)
    try:
        total = spent(ws, "offline-judge", "judge")
    finally:
        ws.close()
    assert runs[0]["stopped"] == "budget" and sum(r["ok"] for r in runs) < 30, runs
    assert set(codes) == {1}  # work left, as generate says it: `judge && export --filter score=…` stops there
    assert 0 < total <= 0.0008  # earlier runs count: the budget holds across them


def test_judge_command_prints_progress_lines_without_a_terminal(tmp_path: Path, offline_server, capsys) -> None:
    spec = str(_spec(tmp_path))
    assert main(["judge", spec, "--limit", "5", "--base-url", offline_server.base_url]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("judging judge: ")]
    assert lines and lines[-1].startswith("judging judge: 5 of 5 · $"), captured.err
    assert "\r" not in captured.err and captured.out.startswith("judge judge: 5 verdicts")


def test_an_edited_answer_is_judged_as_edited_and_its_verdict_follows_the_edit(tmp_path: Path, offline_server,
                                                                               capsys) -> None:
    from distill_tui.core.curate import edits
    from distill_tui.tui.widgets.curation_panes import detail_text

    spec = _spec(tmp_path)
    url = ["--base-url", offline_server.base_url]
    ws = Workspace.open(spec, base_url=offline_server.base_url)
    try:
        cur = Curation.from_workspace(ws)
        answer_scores.attach(ws, cur)
        p = int(next(i for i, a in enumerate(cur.agrees) if a == 0))  # a wrong label, not judged yet
        row, gold = int(cur.ids[p]), cur.answers[p].gold
        assert cur.judges == ["judge"] and np.isnan(cur.scores["judge"][p])
        assert "judge not judged" in detail_text(cur, p).plain
        edits.edit(cur, row, json.dumps({"variety": gold}), edits.parser(ws))  # corrected
    finally:
        ws.close()
    assert main(["judge", str(spec), "--json", *url]) == 0  # judges the edit, not the teacher's original
    capsys.readouterr()
    ws = Workspace.open(spec, base_url=offline_server.base_url)
    try:
        cur = Curation.from_workspace(ws)
        answer_scores.attach(ws, cur)
        assert cur.scores["judge"][p] == 1.0 and cur.agrees[p] == 1
        edits.revert(cur, [row])  # the teacher's wrong original: no verdict saved for its text
        assert np.isnan(cur.scores["judge"][p]) and "judge not judged" in detail_text(cur, p).plain
        edits.edit(cur, row, json.dumps({"variety": gold}), edits.parser(ws))  # the judged text again
        assert cur.scores["judge"][p] == 1.0 and "judge 1.00" in detail_text(cur, p).plain
    finally:
        ws.close()


def test_ctrl_c_on_judge_saves_the_verdicts_in_flight_and_the_next_run_asks_the_rest(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(latency=0.25))
    try:
        spec = _spec(tmp_path)
        proc = subprocess.Popen([sys.executable, "-m", "distill_tui.cli", "judge", str(spec), "--json",
                                 "--base-url", server.base_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 60
        while server.stats["chat_ok"] < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and "Traceback" not in err, err
        [run] = json.loads(out)["judges"]
        assert run["stopped"] == "cancelled" and run["ok"] == server.stats["chat_ok"]  # every verdict paid: saved
        ws = Workspace.open(spec)
        saved = len(ws.store.answers("offline-judge", "judge", status="ok"))
        ws.close()
        assert saved == run["ok"]
        assert main(["judge", str(spec), "--json", "--base-url", server.base_url]) == 0
        ws = Workspace.open(spec)
        judged = len(ws.store.answers("offline-judge", "judge", status="ok"))
        ws.close()
        assert judged > saved and server.stats["chat_ok"] == judged  # nothing judged twice
    finally:
        server.shutdown()
