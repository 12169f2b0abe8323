"""`distill-tui judge SPEC [--grader NAME …] [--limit N] [--json]`: grade the teacher's training answers
with the spec's rubric judges, so curation can keep the answers that pass (`score=NAME:0.75..` on the
Curate screen or with `export --filter`).

Judge calls go through the same engine as generation (limits, retries, `[generation] budget_usd` for
the judges' training-answer spend) and are saved by what was asked: a second run asks only what is new.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace


def run(args: Namespace) -> int:
    from distill_tui.commands.generate import StderrProgress, _Interrupts  # the same progress and stops as generate's
    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.evaluate.train_judging import rubric_graders, run_train
    from distill_tui.core.task.graders_spec import judge_warnings
    from distill_tui.core.workspace.workspace import Workspace

    if args.limit is not None and args.limit < 0:
        from distill_tui.core.common.errors import UserError

        raise UserError(f"--limit must not be negative, not {args.limit}")
    ws = Workspace.open(args.spec, base_url=args.base_url)
    try:
        graders = rubric_graders(ws, args.grader)
        for line in judge_warnings(graders, ws.spec.teacher.model, ws.spec.student.model):
            print(f"warning: {line}", file=sys.stderr)
        progress = StderrProgress(sys.stderr)
        controls = Controls()
        try:
            # Ctrl-C, SIGTERM, SIGHUP: the verdicts in flight are saved, the rest is asked next time.
            with _Interrupts(controls, progress):
                runs = run_train(ws, graders, limit=args.limit, budget_usd=ws.spec.generation.budget_usd,
                                 controls=controls, on_progress=lambda jp: progress.text(jp.line(), jp.finished))
        finally:
            progress.end_line()
    finally:
        ws.close()
    if args.json:
        print(json.dumps({"judges": [{**vars(r), "model": g.model} for g, r in zip(graders, runs)]}))
    else:
        for run_ in runs:
            print(run_.line())
    # A stop (budget, unknown price, cancel, error) leaves answers unjudged: work left, exit 1 as generate does.
    return 1 if any(r.stopped for r in runs) else 0
