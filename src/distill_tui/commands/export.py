"""`distill-tui export SPEC -o FILE [--validation FILE] [--filter KEY=VALUE …] [--near-dedupe WHAT] [--json]`.

Writes the saved curation (or the rows the filters match) as fine-tuning JSONL after validating it
as the provider would; a file that would be rejected is never written (exit 2, with the report). The
saved cap per label holds either way, unless a `cap=N` filter gives another. A label, answer or
finish reason that no row has is a mistake (exit 2), not an empty match.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from distill_tui.core.common.errors import UserError


def validation_fraction(args: Namespace, spec_fraction: float) -> float:
    """The validation share: the flag, else the spec's, else 0.1; 0 without --validation."""
    from distill_tui.core.curate.export import DEFAULT_VALIDATION_FRACTION

    given = getattr(args, "validation_fraction", None)
    if given is not None and not 0 < given < 1:
        raise UserError(f"--validation-fraction must be above 0 and below 1, not {given}")
    if not args.validation:
        if given is not None:
            raise UserError("--validation-fraction needs --validation FILE (where to write the validation examples)")
        return 0.0
    return given or spec_fraction or DEFAULT_VALIDATION_FRACTION


def run(args: Namespace) -> int:
    from distill_tui.core.curate.export import check_paths, plan_export, write_export
    from distill_tui.core.curate.filters import parse_filters
    from distill_tui.core.curate.selection import Curation
    from distill_tui.core.workspace.workspace import Workspace

    filters, actions = parse_filters(args.filter) if args.filter else (None, None)
    if getattr(args, "near_dedupe", None):
        from distill_tui.core.curate.near_curation import check_threshold, parse_fields

        actions = {**(actions or {}), "near": parse_fields(args.near_dedupe),
                   "near_threshold": check_threshold(args.near_threshold)}
    check_paths(args.output, args.validation)
    ws = Workspace.open(args.spec, allow_read_only=True)
    try:
        fraction = validation_fraction(args, ws.spec.finetune.validation_fraction)
        cur = Curation.from_workspace(ws)
        if cur.n == 0:
            raise UserError(f"{ws.spec.source}: no teacher answers yet; run `distill-tui generate {args.spec}` first")
        if filters is not None:
            # A free-text answer "agrees" by the first grader's pass, as the Curate screen reads it.
            free_agrees = filters.agrees is not None and ws.spec.kind != "classification"
            if filters.score is not None or filters.sort in ("score", "-score") or free_agrees:
                from distill_tui.core.evaluate import answer_scores

                answer_scores.attach(ws, cur)
            cur.check_filters(filters)
        plan = plan_export(cur, filters=filters, actions=actions, validation_fraction=fraction)
        result = write_export(plan, args.output, args.validation, store=ws.store) if plan.ok else None
    finally:
        ws.close()
    data = plan.to_json()
    data["written"] = result is not None
    data["output"] = str(result.path) if result else None
    data["validation"] = str(result.validation_path) if result and result.validation_path else None
    if not args.json:
        stream = sys.stdout if plan.ok else sys.stderr
        for line in plan.lines():
            print(line, file=stream)
    if result is None:
        raise UserError("the provider would reject this export; nothing written", payload=data)
    if ws.store.read_only:
        print(f"note: {ws.store.path} is read-only, so this export is not recorded there "
              "(eval's leak check will not know it)", file=sys.stderr)
    if args.json:
        print(json.dumps(data))
    else:
        print(f"wrote {result.examples:,} examples to {result.path}"
              + (f" and {result.validation_examples:,} to {result.validation_path}" if result.validation_path else ""))
    return 0
