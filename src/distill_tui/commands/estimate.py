"""`distill-tui estimate SPEC [--json]`: the cost plan, without a terminal UI."""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from distill_tui.core.common.errors import UserError
from distill_tui.core.cost.pricing import format_usd


def parse_epochs(text: str | None) -> int | str | None:
    if text is None or text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"--epochs must be \"auto\" or a number from 1 to 50, not {text!r}") from None
    if not 1 <= value <= 50:
        raise UserError(f"--epochs must be \"auto\" or a number from 1 to 50, not {value}")
    return value


def run(args: Namespace) -> int:
    from distill_tui.core.cost.estimate import estimate_spec
    from distill_tui.core.task.spec import load_spec

    epochs = parse_epochs(args.epochs)
    spec = load_spec(args.spec)
    plan = estimate_spec(spec, n_epochs=epochs)
    spread, pilot = reasoning_and_pilot(plan, spec)
    if args.json:
        print(json.dumps({**plan.to_json(), "reasoning_range": spread and spread.to_json(),
                          "pilot": pilot and pilot.to_json()}))
        return 0
    print(f"{plan.rows:,} rows: {plan.train_rows:,} train, {plan.eval_rows:,} eval   (prices as of {plan.prices_as_of})")
    print(models_line(plan.stages))
    for line in stage_table(plan):
        print(line)
    print(f"per 1k predictions: teacher {format_usd(plan.teacher_cost_per_1k)}, "
          f"distilled student {format_usd(plan.distilled_cost_per_1k)}"
          + (" (self-hosted)" if plan.self_hosted is not None else ""))
    if plan.self_hosted is not None:
        print("\n".join(plan.self_hosted.lines()))
    if plan.break_even_predictions:
        print(f"distilling pays off after {plan.break_even_predictions:,} predictions")
    for extra in (spread, pilot):
        if extra is not None:
            print(extra.line())
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for note in plan.notes:
        print(f"note: {note}")
    return 0


def reasoning_and_pilot(plan, spec):
    """The reasoning range and the estimate from a smoke run's saved answers (`core.cost.pilot`); a
    spec without a workspace yet has no answers, and none is created for it."""
    from distill_tui import locations
    from distill_tui.core.cost import pilot
    from distill_tui.core.cost.capabilities import load_models
    from distill_tui.core.cost.pricing import load_prices
    from distill_tui.core.store.database import Store

    prices = load_prices()
    spread = pilot.reasoning_range(plan, spec, load_models(), prices)
    if not locations.workspace_db(spec.source).is_file():
        return spread, None
    with Store.for_spec(spec.source, allow_read_only=True) as store:
        answers = [a for m in {spec.teacher.model, spec.student.model} for a in store.answers(model=m)]
    return spread, pilot.from_pilot(plan, answers, prices)


_NUMBERS = ("requests", "input tok", "output tok", "cost", "batch")


def models_line(stages: list) -> str:
    """The teacher and the student, once, so the table itself fits 80 columns (the distilled student
    is the student's fine-tuned name)."""
    teacher = next((s.model for s in stages if s.name.startswith("teacher")), "?")
    student = next((s.model for s in stages if s.name.startswith("base student")), "?")
    return f"models: teacher {teacher} · student {student}"


def stage_table(plan) -> list[str]:
    """The stages as aligned text lines, each column as wide as its widest value."""
    from distill_tui.core.common.text_table import aligned, column_widths

    rows = [["stage", *_NUMBERS]]
    rows += [[s.name, f"{s.requests:,}", f"{s.input_tokens:,}", f"{s.output_tokens:,}", format_usd(s.cost_usd),
              format_usd(s.batch_cost_usd)] for s in plan.stages]
    rows.append(["total", "", "", "", format_usd(plan.total_cost_usd), format_usd(plan.total_batch_cost_usd)])
    header, *lines, total = aligned(rows, right=range(1, len(rows[0])))
    indent = " " * (column_widths(rows)[0] + 2)
    out = [header, "-" * len(header)]
    for line, stage in zip(lines, plan.stages):
        out.append(line)
        if stage.note:
            out.append(indent + stage.note)
    return out + ["-" * len(header), total]
