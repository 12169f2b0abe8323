"""The `distill-tui` command line. Parsing only: each command lives in `distill_tui.commands`.

Nothing heavy is imported here (pandas, openai, tiktoken, textual), so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn, Sequence

COMMANDS = ("demo", "estimate", "generate", "import-stored", "export", "judge", "finetune", "jobs", "eval",
            "serve-offline")
NO_EVALUATION = frozenset({"estimate", "generate", "import-stored", "export", "judge", "finetune", "jobs",
                           "serve-offline"})
"""Commands that never evaluate a student trained here: they need no server starter, whose import
(the evaluation package) would delay `generate`'s first request by about a second."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake in the flags reported like every other mistake: one line, exit 2,
    and the JSON object with `--json` (instead of its usage block)."""

    def error(self, message: str) -> NoReturn:
        from distill_tui.core.common.errors import UserError

        raise UserError(f"{message} (see `{self.prog} --help`)")


def _spec_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="task spec file (TOML)")


def build_parser() -> argparse.ArgumentParser:
    from distill_tui.core.task.filter_language import ALLOWED as FILTER_FORMS

    parser = _Parser(
        prog="distill-tui",
        description="Distil a large model into a small one: preview the data, price the run, generate teacher "
        "answers, curate them, fine-tune a student and compare the models. Run without a command to open the "
        "terminal UI on SPEC (or the bundled demo spec).",
        epilog="Exit codes: 0 done, 1 the work failed, 2 bad input (one line on stderr). With --json, stdout holds "
        'one JSON object, also on an error: {"error": "<that line>", "exit_code": N}. '
        "Environment: OPENAI_API_KEY, OPENAI_BASE_URL, "
        "AZURE_OPENAI_API_KEY/AZURE_OPENAI_ENDPOINT/OPENAI_API_VERSION, DISTILL_TUI_DATA_DIR (workspaces), "
        "DISTILL_TUI_CACHE_DIR (default: cache/ in DISTILL_TUI_DATA_DIR), DISTILL_TUI_CONFIG_DIR, NO_COLOR. "
        f"A spec's [dataset] filter is an expression over the columns, and only these forms: {FILTER_FORMS}.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="the TUI on the demo data against the offline provider (no key needed)")
    p.add_argument("--reset", action="store_true", help="start the demo workspace afresh")
    p.add_argument("--task", choices=("classification", "extraction", "generation"), default="classification",
                   help="which demo: review → grape variety (default), review → JSON fields, or questions → "
                        "short free-text answers")

    p = sub.add_parser("estimate", help="the cost plan of a spec")
    _spec_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--epochs", default=None, help='fine-tuning epochs for the plan ("auto" or a number)')

    p = sub.add_parser("generate", help="run or resume teacher generation (progress on stderr)")
    _spec_arg(p)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="answer at most N more rows (a smoke run)")
    p.add_argument("--batch", action="store_true",
                   help="use the Batch API (half price, answers within 24 h): submit the rows left, or collect "
                   "the batch in flight")
    p.add_argument("--wait", action="store_true", help="with --batch: wait for the batch to end and collect it")
    p.add_argument("--base-url", default=None, help="override the provider base URL")

    p = sub.add_parser("import-stored", help="import stored completions from the provider by metadata tag")
    _spec_arg(p)
    p.add_argument("--metadata", required=True, metavar="K=V[,K=V]", help="the metadata tag, e.g. distillation=wine")
    p.add_argument("--model", default=None,
                   help="only completions of this model (default: the spec's teacher; 'any' for every model)")
    p.add_argument("--json", action="store_true", help="print the counts as one JSON object on stdout")
    p.add_argument("--base-url", default=None, help="override the provider base URL")

    p = sub.add_parser("export", help="write the curated selection as a fine-tuning JSONL file")
    _spec_arg(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="training file to write (.jsonl)")
    p.add_argument("--validation", metavar="FILE", default=None, help="also write a stratified validation file")
    p.add_argument("--validation-fraction", type=float, default=None, metavar="F",
                   help="share of the selection for the validation file (default: the spec's, else 0.1)")
    p.add_argument("--filter", action="append", default=[], metavar="EXPR",
                   help="select by filter instead of the saved selection, e.g. agrees=yes, label=Merlot (repeatable)")
    p.add_argument("--near-dedupe", metavar="WHAT", default=None,
                   help="keep one row per group of near-duplicate prompts, answers or both (MinHash, word Jaccard)")
    p.add_argument("--near-threshold", type=float, default=0.7, metavar="J",
                   help="Jaccard similarity of words from which two texts are near-duplicates (default 0.7)")
    p.add_argument("--json", action="store_true", help="print the validation report as JSON")

    p = sub.add_parser("judge", help="grade the teacher's training answers with the spec's rubric judges")
    _spec_arg(p)
    p.add_argument("--grader", action="append", default=[], metavar="NAME",
                   help="only this rubric grader (repeatable; default: every rubric grader)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="judge at most N new answers per grader")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--base-url", default=None, help="override the provider base URL")

    p = sub.add_parser("finetune", help="upload the curated file and create a fine-tuning job")
    _spec_arg(p)
    p.add_argument("--follow", action="store_true", help="follow the job until it ends")
    p.add_argument("--json", action="store_true", help="print the job as one JSON object on stdout")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--job", default=None, metavar="ID", help="follow (reattach to) an existing job instead")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--pause", action="store_true", help="pause the running job given by --job")
    act.add_argument("--resume", action="store_true", help="resume the paused job given by --job")
    act.add_argument("--cancel", action="store_true", help="cancel the job given by --job (asks unless --yes)")
    p.add_argument("--base-url", default=None, help="override the provider base URL")

    p = sub.add_parser("jobs", help="fine-tuning jobs known locally and on the provider")
    p.add_argument("spec", metavar="SPEC", nargs="?", default=None, help="limit to this spec's workspace")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--local", action="store_true", help="do not ask the provider")
    p.add_argument("--base-url", default=None, help="override the provider base URL")

    p = sub.add_parser("eval", help="every model on held-out rows: accuracy, grader scores and judges")
    _spec_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--model", action="append", default=[], metavar="NAME", help="also evaluate this model (repeatable)")
    p.add_argument("--checkpoints", action="store_true", help="also evaluate fine-tuning checkpoints")
    p.add_argument("--export", metavar="FILE", default=None, help="write the table (.md, .csv or .json)")
    p.add_argument("--human-grades", metavar="FILE", default=None,
                   help="write the grades a person gave in the TUI's per-row browser (.csv or .jsonl)")
    p.add_argument("--base-url", default=None, help="override the provider base URL")

    p = sub.add_parser("serve-offline", help="run the offline OpenAI-compatible provider until Ctrl-C")
    try:
        from distill_tui.offline.cli import add_arguments
    except ImportError:  # pragma: no cover - the offline package is part of the project
        add_arguments = None
    if add_arguments:
        add_arguments(p)
    return parser


def _run_tui(spec: str | None) -> int:
    from distill_tui.commands import demo, tui

    if spec is None:
        return demo.run(argparse.Namespace(reset=False))
    return tui.run(spec)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    from distill_tui.commands import embedded

    embedded.register()
    args_list = list(sys.argv[1:] if argv is None else argv)
    asks_help = any(a in ("-h", "--help", "--version") for a in args_list)  # answered by argparse: no run
    if not asks_help and (not args_list or args_list[0] not in NO_EVALUATION):
        from distill_tui.commands import serve_student

        serve_student.register()
    if args_list and not args_list[0].startswith("-") and args_list[0] not in COMMANDS:
        if len(args_list) > 1:
            return _fail(f"unexpected arguments after SPEC: {' '.join(args_list[1:])}", 2, "--json" in args_list)
        return _guard(lambda: _run_tui(args_list[0]))
    # Read from the words, not the parsed flags, so a mistake in the flags themselves still answers in JSON.
    return _guard(lambda: _run_command(args_list), as_json="--json" in args_list)


def _run_command(args_list: list[str]) -> int:
    args = build_parser().parse_args(args_list)
    if args.version:
        from distill_tui import __version__

        print(f"distill-tui {__version__}")
        return 0
    if args.command is None:
        return _run_tui(None)
    from distill_tui.core.store import migrate

    # Said before a long one-time upgrade of an older workspace (the TUI's screen owns the terminal).
    migrate.upgrade_notice = lambda line: print(f"distill-tui: {line}", file=sys.stderr, flush=True)
    module = importlib.import_module(f"distill_tui.commands.{args.command.replace('-', '_')}")
    return module.run(args)


def _guard(action, *, as_json: bool = False) -> int:
    """Run a command, turning user mistakes and failed work into one line and an exit code."""
    from distill_tui.core.common.errors import UserError, WorkFailed

    try:
        return int(action() or 0)
    except (UserError, WorkFailed) as exc:
        return _fail(str(exc), exc.exit_code, as_json, getattr(exc, "payload", None))
    except KeyboardInterrupt:
        return _fail("interrupted", 1, as_json, prefix="distill-tui: ")
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep the flush at exit from failing again.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:  # an API error that reached the top: still one line
        from distill_tui.core.provider.api_errors import explain

        explained = explain(exc)
        if explained is None:
            raise
        message, code = explained
        return _fail(message, code, as_json)


def _fail(message: str, code: int, as_json: bool, payload: dict | None = None,
          prefix: str = "distill-tui: error: ") -> int:
    """Report an error: one line on stderr and, with `--json`, the one object on stdout
    (`{"error": message, "exit_code": code}`, added to what the command had to say, if anything)."""
    print(f"{prefix}{message}", file=sys.stderr)
    if as_json:
        import json

        print(json.dumps({**(payload or {}), "error": message, "exit_code": code}), flush=True)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
