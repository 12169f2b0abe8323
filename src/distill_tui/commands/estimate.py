"""`distill-tui estimate SPEC [--json]`: the cost plan, without a terminal UI."""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from distill_tui.core.errors import UserError
from distill_tui.core.pricing import format_usd


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
    from distill_tui.core.estimate import estimate_spec
    from distill_tui.core.spec import load_spec

    epochs = parse_epochs(args.epochs)
    spec = load_spec(args.spec)
    plan = estimate_spec(spec, n_epochs=epochs)
    if args.json:
        print(json.dumps(plan.to_json()))
        return 0
    print(f"{plan.rows:,} rows: {plan.train_rows:,} train, {plan.eval_rows:,} eval   (prices as of {plan.prices_as_of})")
    header = f"{'stage':<30} {'model':<28} {'requests':>9} {'input tok':>12} {'output tok':>11} {'cost':>10} {'batch':>10}"
    print(header)
    print("-" * len(header))
    for s in plan.stages:
        print(
            f"{s.name:<30} {s.model[:28]:<28} {s.requests:>9,} {s.input_tokens:>12,} {s.output_tokens:>11,} "
            f"{format_usd(s.cost_usd):>10} {format_usd(s.batch_cost_usd):>10}"
        )
        if s.note:
            print(f"{'':<30} {s.note}")
    print("-" * len(header))
    print(f"{'total':<84}{format_usd(plan.total_cost_usd):>10} {format_usd(plan.total_batch_cost_usd):>10}")
    print(
        f"per 1k predictions: teacher {format_usd(plan.teacher_cost_per_1k)}, distilled student "
        f"{format_usd(plan.distilled_cost_per_1k)}"
        + (f"; distilling pays off after {plan.break_even_predictions:,} predictions" if plan.break_even_predictions else "")
    )
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for note in plan.notes:
        print(f"note: {note}")
    return 0
