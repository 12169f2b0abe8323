"""`distill-tui eval SPEC [--json]`: every model of interest on the held-out rows, then the table.

Progress goes to stderr (a live line on a terminal, a line every few seconds otherwise); the table,
or with `--json` one JSON object, goes to stdout. Exit 0 when every model answered every eval row,
1 when some rows are still failed or missing, 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from distill_tui.commands.generate import StderrProgress
    from distill_tui.core.evaluate import ComparisonTable, EvalModel
    from distill_tui.core.evaluate_run import EvalRun
    from distill_tui.core.generate import RunResult


def exit_code(table: "ComparisonTable", run: "EvalRun") -> int:
    """2 when a model was refused as bad input (unknown model, bad key), 1 when rows are missing, else 0."""
    if any(r.fatal_exit_code == 2 for r in run.fatal):
        return 2
    return 0 if table.complete else 1


def print_table(table: "ComparisonTable", out: IO[str]) -> None:
    from distill_tui.core import report

    out.write(table.leak.line() + "\n\n")
    out.write(report.text_table(table) + "\n\n")
    for row in table.rows:
        if row.status == "failed":
            out.write(f"{row.model}: FAILED, no row answered" + (f" ({row.last_error})" if row.last_error else "") + "\n")
        elif row.status == "not run":
            out.write(f"{row.model}: not run (stopped before its turn); run eval again\n")
        elif row.status == "partial":
            out.write(f"{row.model}: {row.failed} failed and {row.missing} missing rows are left out of n "
                      f"(coverage {report.pct(row.coverage)}); run eval again to retry them\n")
    chosen = report.default_selected(table)
    detail = table.details.get(chosen) if chosen else None
    if detail and detail.confusions:
        pairs = ", ".join(f"{g} → {p} ×{n}" for g, p, n in detail.confusions[:3])
        out.write(f"largest confusions of {chosen}: {pairs}\n")
    if not any(r.role == "distilled" for r in table.rows):
        out.write("no fine-tuned model yet: run `distill-tui finetune SPEC` (or press 5 in the TUI)\n")
    out.write(f"prices as of {table.prices_as_of}\n")


def _model_done(progress: "StderrProgress", model: "EvalModel", result: "RunResult") -> None:
    prefix = "distill-tui: error: " if result.stopped == "fatal" else ""
    progress.say(f"{prefix}{model.name} [{model.role}]: {result.message}")


def run(args: Namespace) -> int:
    # Ctrl-C handling and the progress line are generation's, so both commands behave alike.
    from distill_tui.commands.generate import StderrProgress, _Interrupts
    from distill_tui.core import report
    from distill_tui.core.evaluate import build_table
    from distill_tui.core.evaluate_run import models_of_interest, run_evaluation
    from distill_tui.core.generate import Controls
    from distill_tui.core.workspace import Workspace

    export = Path(args.export) if args.export else None
    if export is not None:
        report.format_of(export)  # a bad suffix is a mistake to report before paying for anything
    ws = Workspace.open(args.spec, base_url=args.base_url)
    try:
        ws.data  # noqa: B018 - a spec or data mistake stops here with one line
        models = models_of_interest(ws, args.model, checkpoints=args.checkpoints)
        build_table(ws, models)  # checks there are eval rows before any request
        controls = Controls()
        progress = StderrProgress(sys.stderr)
        try:
            with _Interrupts(controls, progress):
                result = run_evaluation(
                    ws, models, controls=controls, on_progress=lambda i, n, p: progress(p),
                    on_model_done=lambda m, r: _model_done(progress, m, r),
                )
        finally:
            progress.end_line()
        table = build_table(ws, models, result.failures)
        if not table.leak.ok:
            print(f"distill-tui: {table.leak.line()}", file=sys.stderr)
        if export is not None:
            written = report.export(table, export)
            print(f"table written to {written}", file=sys.stderr)
        if args.json:
            payload = table.to_json()
            payload["run"] = result.to_json()
            print(json.dumps(payload))
        else:
            print_table(table, sys.stdout)
        return exit_code(table, result)
    finally:
        ws.close()
