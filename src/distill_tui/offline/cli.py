"""The `serve-offline` command: flags, and serving until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from distill_tui.offline.common import FAULTS, OfflineOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve-offline` flags."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute allowed (default: unlimited)")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute allowed (default: unlimited)")
    parser.add_argument("--burst-seconds", type=float, default=1.0, metavar="S",
                        help="enforce the limits over windows of S seconds (default 1; 60 = a whole minute's burst)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds added to each chat request")
    parser.add_argument("--fail-rate", type=float, default=0.0, metavar="P",
                        help="probability of an injected fault per chat request (see --fault)")
    parser.add_argument("--fault", choices=FAULTS, default="500",
                        help="what an injected fault answers: 500 (default), 502, 429 (with --fail-rate 1: a "
                             "provider that answers only 429), or a 200 with a broken body: not-json, bad-json, "
                             "no-choices")
    parser.add_argument("--odd-jobs", action="store_true",
                        help="fine-tuning jobs report text where numbers belong; a job with the suffix "
                             "'fail' fails with a multi-line error")
    parser.add_argument("--job-seconds", type=float, default=6.0, metavar="S",
                        help="rough duration of a fine-tuning job (default 6)")
    parser.add_argument("--batch-seconds", type=float, default=3.0, metavar="S",
                        help="rough duration of a batch (Batch API) (default 3)")
    parser.add_argument("--require-key", action="store_true", help="answer 401 without an Authorization header")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help="accept only this key (401 invalid_api_key for any other): rehearse a bad key")
    parser.add_argument("--echo-key", action="store_true",
                        help="refuse every key with a 401 that repeats it whole, as some proxies do: rehearse a leak")
    parser.add_argument("--refuse-training", action="store_true",
                        help="refuse job creation with 403 training_not_available, as OpenAI now does")
    parser.add_argument("--knowledge", type=Path, default=None, metavar="FILE",
                        help="labelled CSV the models learn from (default: the bundled wine knowledge)")
    parser.add_argument("--label", default=None, metavar="COL", help="label column of --knowledge (default variety)")
    parser.add_argument("--seed", type=int, default=0, help="seed for faults, the student's sample and jobs")
    parser.add_argument("--judge-position-bias", type=float, default=0.0, metavar="P",
                        help="probability that offline-judge prefers the answer shown first (rehearse position bias)")


def options_from_args(args: argparse.Namespace) -> OfflineOptions:
    return OfflineOptions(
        host=args.host, port=args.port, rpm=args.rpm, tpm=args.tpm, burst_seconds=args.burst_seconds, latency=args.latency, fail_rate=args.fail_rate,
        fault=getattr(args, "fault", "500"), odd_jobs=getattr(args, "odd_jobs", False),
        job_seconds=args.job_seconds, require_key=args.require_key or bool(args.api_key), api_key=args.api_key,
        refuse_training=args.refuse_training, batch_seconds=args.batch_seconds, echo_key=getattr(args, "echo_key", False),
        knowledge=args.knowledge, label=args.label, seed=getattr(args, "seed", 0),
        judge_position_bias=getattr(args, "judge_position_bias", 0.0),
    )


def _problem(options: OfflineOptions) -> str | None:
    if not 0 <= options.port <= 65535:
        return f"--port must be between 0 and 65535, not {options.port}"
    if options.burst_seconds <= 0:
        return "--burst-seconds must be above 0"
    if options.rpm is not None and options.rpm < 1:
        return "--rpm must be at least 1"
    if options.tpm is not None and options.tpm < 1:
        return "--tpm must be at least 1"
    if not 0 <= options.fail_rate <= 1:
        return "--fail-rate must be between 0 and 1"
    if not 0 <= options.judge_position_bias <= 1:
        return "--judge-position-bias must be between 0 and 1"
    if options.latency < 0 or options.job_seconds < 0:
        return "--latency and --job-seconds must not be negative"
    if options.batch_seconds < 0:
        return "--batch-seconds must not be negative"
    return None


def _exposure(bound_host: str) -> str | None:
    """Where a server bound to `bound_host` can be reached from beyond this machine, in words;
    None for a loopback address."""
    import ipaddress

    try:
        address = ipaddress.ip_address(bound_host)
    except ValueError:
        return bound_host
    if address.is_loopback:
        return None
    return f"{bound_host} (every interface)" if address.is_unspecified else bound_host


def run_from_args(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; returns the exit code (2, with one line on stderr, for bad flags)."""
    from distill_tui.offline.models import KnowledgeError
    from distill_tui.offline.server import start_server

    options = options_from_args(args)
    problem = _problem(options)
    if problem is None:
        try:
            server = start_server(options)
        except KnowledgeError as exc:
            problem = str(exc)
        except OSError as exc:
            problem = f"cannot listen on {options.host}:{options.port}: {exc.strerror or exc}"
    if problem is not None:
        print(f"distill-tui serve-offline: error: {problem}", file=sys.stderr)
        return 2
    exposed = _exposure(server.bound_host)
    if exposed:
        guard = ("other machines can use it with the --api-key key" if options.api_key else
                 "any machine that reaches this one can use it, with any key (--api-key KEY requires one)")
        print(f"distill-tui serve-offline: warning: listening on {exposed}: {guard}", file=sys.stderr, flush=True)
    print(f"offline provider listening on http://{server.bound_host}:{server.port}/v1", flush=True)
    # The key given to --api-key is not echoed: a terminal's scrollback is a log too.
    key = "<the key given to --api-key>" if options.require_key and options.api_key else "offline"
    print(f"  export OPENAI_BASE_URL={server.base_url} OPENAI_API_KEY={key}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0
