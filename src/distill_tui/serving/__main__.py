"""`python -m distill_tui.serving BASE [--adapter NAME=PATH ...]`: the light server on its own, e.g. to
give its URL as `[serve] url` or to try a trained student with any OpenAI client. Ctrl-C stops it."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Sequence

from distill_tui.serving.options import ServeOptions


def _adapter(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, not {value!r}")
    return name, path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_tui.serving", description=__doc__)
    parser.add_argument("base", help="a local model folder, or a Hugging Face model id already in the local cache")
    parser.add_argument("--adapter", action="append", type=_adapter, default=[], metavar="NAME=PATH",
                        help="a PEFT adapter (or a full model folder) served as NAME; repeat for more")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    args = parser.parse_args(argv)
    try:
        from distill_tui.serving.models import LoadError
        from distill_tui.serving.server import start_server
    except ImportError as exc:
        print(f"distill-tui serving: error: needs {exc.name}: pip install 'distill-tui[train]'", file=sys.stderr)
        return 2
    try:
        server = start_server(ServeOptions(base=args.base, adapters=dict(args.adapter), host=args.host,
                                           port=args.port, device=args.device))
    except LoadError as exc:
        print(f"distill-tui serving: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"distill-tui serving: error: cannot listen on {args.host}:{args.port} ({exc.strerror})", file=sys.stderr)
        return 1
    print(f"serving {', '.join(server.pool.names)} at {server.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
