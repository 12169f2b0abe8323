"""`distill-tui eval SPEC [--json]`: every model of interest on the held-out rows, then the table.

Progress goes to stderr (a live line on a terminal, a line every few seconds otherwise); the table,
or with `--json` one JSON object, goes to stdout. Exit 0 when every model answered every eval row,
1 when some rows are still failed or missing (a model the provider does not know included: that is
one model's work failing), 2 on bad input (spec, data, flags, a refused API key).
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from distill_tui.commands.generate import StderrProgress
    from distill_tui.core.evaluate.comparison import ComparisonTable, EvalModel
    from distill_tui.core.evaluate.run import EvalRun
    from distill_tui.core.run.generate import RunResult


def exit_code(table: "ComparisonTable", run: "EvalRun") -> int:
    """2 when the provider refused the API key, 1 when rows are failed or missing or a judge stopped
    with answers unjudged (budget, no known price, cancelled), else 0.

    A model that fails on its own (404 not found, 400 bad request) is failed work, not bad input:
    the spec and flags were fine and the other models still ran.
    """
    if any(r.fatal_exit_code == 2 and "(401)" in (r.fatal_error or "") for r in run.fatal):
        return 2
    return 0 if table.complete and not any(j.stopped for j in run.judges) else 1


def print_table(table: "ComparisonTable", out: IO[str], agreement: "dict[str, list[str]] | None" = None,
                per_model: "dict[tuple[str, str], str] | None" = None) -> None:
    """The table and its notes as text; `agreement`: grader → its lines of agreement with the person
    (pooled over the models), printed after that grader's score lines; `per_model`: (grader, model) →
    the line under that model's score."""
    from distill_tui.core.evaluate import report

    out.write(table.leak.line() + "\n\n")
    out.write(report.text_table(table) + "\n\n")
    if table.kind != "classification":  # what "accuracy" means here, and against what
        out.write(table.measure() + "\n")
    for note in report.notes(table):
        out.write(note + "\n")
    lines = report.score_lines(table)
    for line in lines[:1]:
        out.write(line + "\n")
    for grader in dict.fromkeys(name for row in table.rows for name in row.scores):
        for row in table.rows:
            if grader in row.scores:
                out.write(report.score_line(row.model, row.scores[grader]) + "\n")
                if (grader, row.model) in (per_model or {}):
                    out.write(per_model[(grader, row.model)] + "\n")  # type: ignore[index]
        for line in (agreement or {}).get(grader, ()):
            out.write(line + "\n")
    chosen = report.default_selected(table)
    detail = table.details.get(chosen) if chosen else None
    if detail and detail.confusions:
        pairs = ", ".join(f"{g} → {p} ×{n}" for g, p, n in detail.confusions[:3])
        out.write(f"largest confusions of {chosen}: {pairs}\n")
    if not any(r.role == "distilled" for r in [*table.rows, *table.skipped]):
        out.write("no fine-tuned model yet: run `distill-tui finetune SPEC` (or press 5 in the TUI)\n")
    out.write(f"prices as of {table.prices_as_of}\n")


def _model_done(progress: "StderrProgress", model: "EvalModel", result: "RunResult") -> None:
    prefix = "distill-tui: error: " if result.stopped == "fatal" else ""
    progress.say(f"{prefix}{model.name} [{model.role}]: {result.message}")


def run(args: Namespace) -> int:
    # Ctrl-C handling and the progress line are generation's, so both commands behave alike.
    from distill_tui.commands.generate import StderrProgress, _Interrupts
    from distill_tui.core.common.errors import UserError
    from distill_tui.core.evaluate import calibration, report
    from distill_tui.core.evaluate.comparison import build_table
    from distill_tui.core.evaluate.judges import invalid_lines
    from distill_tui.core.evaluate.run import models_of_interest, run_evaluation
    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.task.graders_spec import judge_warnings
    from distill_tui.core.workspace.workspace import Workspace

    export = Path(args.export) if args.export else None
    if export is not None:
        report.format_of(export)  # a bad suffix is a mistake to report before paying for anything
    grades_to = Path(args.human_grades) if getattr(args, "human_grades", None) else None
    if grades_to is not None and grades_to.suffix.lower() not in (".csv", ".jsonl"):
        raise UserError(f"{grades_to}: human grades export must be .csv or .jsonl, not {grades_to.suffix or 'no suffix'!r}")
    ws = Workspace.open(args.spec, base_url=args.base_url)
    try:
        ws.data  # noqa: B018 - a spec or data mistake stops here with one line
        for line in ws.take_notes():  # answers reused from where the spec was before
            print(f"note: {line}", file=sys.stderr)
        for line in judge_warnings(ws.spec.graders, ws.spec.teacher.model, ws.spec.student.model):
            print(f"warning: {line}", file=sys.stderr)
        models = models_of_interest(ws, args.model, checkpoints=args.checkpoints)
        build_table(ws, models)  # checks there are eval rows before any request
        if args.json:  # the table's notes are not printed then; a skipped model still deserves a line
            for model in models:
                if model.skip:
                    print(f"distill-tui: {model.skip}", file=sys.stderr)
        controls = Controls()
        progress = StderrProgress(sys.stderr)
        try:
            with _Interrupts(controls, progress):
                result = run_evaluation(
                    ws, models, controls=controls, on_progress=lambda i, n, p: progress(p),
                    on_model_done=lambda m, r: _model_done(progress, m, r),
                    on_judge_progress=lambda jp: progress.text(jp.line(), jp.finished),
                )
        finally:
            progress.end_line()
        for judged in result.judges:
            print(judged.line(), file=sys.stderr)
        table = build_table(ws, models, result.failures, result.reasons)
        if not table.leak.ok:
            print(f"distill-tui: {table.leak.line()}", file=sys.stderr)
        if table.leak.near is not None and table.leak.near.line():
            print(f"distill-tui: {table.leak.near.line()}", file=sys.stderr)
        for line in invalid_lines({row.model: row.scores for row in table.rows}):
            print(f"distill-tui: {line}", file=sys.stderr)
        grades = calibration.current_grades(ws)
        agreements = calibration.calibrate(ws, grades)
        if export is not None:
            written = report.export(table, export, agreements=agreements)
            print(f"table written to {written}", file=sys.stderr)
        if grades_to is not None:
            written = calibration.export(grades, grades_to)
            print(f"{len(grades)} human grades written to {written}", file=sys.stderr)
        if args.json:
            payload = calibration.add_to_json(table.to_json(), grades, agreements)
            payload["run"] = result.to_json()
            print(json.dumps(payload))
        else:
            print_table(table, sys.stdout, calibration.lines_by_grader(agreements), calibration.model_lines(agreements))
        return exit_code(table, result)
    finally:
        ws.close()
