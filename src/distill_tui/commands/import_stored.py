"""`distill-tui import-stored SPEC --metadata K=V`: bring stored completions (generated elsewhere with
`store=true`) into the workspace as teacher answers to curate."""

from __future__ import annotations

import json
import sys
from argparse import Namespace


def run(args: Namespace) -> int:
    from distill_tui.core.importer import import_stored, parse_metadata
    from distill_tui.core.spec import load_spec
    from distill_tui.core.workspace import Workspace

    metadata = parse_metadata(args.metadata)
    workspace = Workspace(load_spec(args.spec), base_url=args.base_url)
    try:
        result = import_stored(
            workspace, metadata, args.model, progress=lambda n: print(f"\rread {n} completions", end="", file=sys.stderr)
        )
    finally:
        workspace.close()
    print(file=sys.stderr)
    counts = {"imported": result.imported, "already": result.already, "unusable": result.unusable,
              "with_gold": result.with_gold}
    if args.json:
        print(json.dumps(counts))
    else:
        print(f"imported {result.imported} completions ({result.with_gold} matched a train row, "
              f"{result.already} already here, {result.unusable} unusable)")
    return 0
