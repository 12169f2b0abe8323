"""`distill-tui serve-offline`: the offline OpenAI-compatible provider, until Ctrl-C."""

from __future__ import annotations

from argparse import Namespace


def run(args: Namespace) -> int:
    from distill_tui.offline.cli import run_from_args

    return run_from_args(args)
