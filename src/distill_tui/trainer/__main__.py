"""`python -m distill_tui.trainer JOB_FOLDER`: run (or resume) the job in that folder."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m distill_tui.trainer JOB_FOLDER", file=sys.stderr)
        return 2
    from distill_tui.trainer.launch import run_or_launch

    return run_or_launch(args[0])


if __name__ == "__main__":
    sys.exit(main())
