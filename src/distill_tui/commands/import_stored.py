"""`distill-tui import-stored SPEC --metadata K=V [--model M|any]`: bring stored completions (generated
elsewhere with `store=true`) into the workspace as teacher answers to curate.

Only the spec's teacher model is imported unless `--model` names another (`any`: every model). The
running count goes to stderr with `\\r` on a terminal; elsewhere (a log, a pipe) one line at the end.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace


def run(args: Namespace) -> int:
    from distill_tui.core.curate.importer import import_stored, model_filter, parse_metadata
    from distill_tui.core.task.spec import load_spec
    from distill_tui.core.workspace.workspace import Workspace

    metadata = parse_metadata(args.metadata)
    spec = load_spec(args.spec)
    model = model_filter(args.model, spec.teacher.model)
    tty = sys.stderr.isatty()
    shown = False

    def progress(n: int) -> None:
        nonlocal shown
        if tty:
            print(f"\rread {n:,} completions", end="", file=sys.stderr, flush=True)
            shown = True

    workspace = Workspace(spec, base_url=args.base_url)
    try:
        result = import_stored(workspace, metadata, model, progress=progress)
    finally:
        workspace.close()
        if shown:
            print(file=sys.stderr)  # end the \r line before anything else is printed
    if not tty:
        print(f"read {result.read:,} completions", file=sys.stderr)
    if args.json:
        print(json.dumps({**result.to_json(), "model": model}))
    else:
        print(f"{result.summary()}; model: {model or 'any'}")
    return 0
