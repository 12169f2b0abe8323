"""Serving a student trained here while evaluation asks it: vLLM as a subprocess, or the light server
in this process. Registered by the CLI (`register`) as the core's serving starter
(`core.evaluate.serving.use_serving_starter`); evaluation stops what it started when it ends.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from distill_tui.core.common.errors import UserError, WorkFailed

if TYPE_CHECKING:
    from distill_tui.core.evaluate.serving import Served, ServeRequest

VLLM_READY_S = 900.0
"""How long vLLM may take to load a model and answer /v1/models (large students, cold disks)."""


def start(request: ServeRequest, ready_s: float = VLLM_READY_S) -> Served:
    """Start the engine `request` names; return its endpoint (raises UserError or WorkFailed, one line)."""
    from distill_tui.core.evaluate.serving import VLLM

    return start_vllm(request, ready_s) if request.engine == VLLM else start_light(request)


def start_light(request: ServeRequest) -> Served:
    from distill_tui.core.evaluate.serving import LIGHT, Served

    try:
        import peft  # noqa: F401 - the adapters need it: say so now rather than on the first row
        import transformers  # noqa: F401

        from distill_tui.serving import ServeOptions, start_server
        from distill_tui.serving.models import LoadError
    except ImportError as exc:
        raise UserError(f"serving the student needs {exc.name}: pip install 'distill-tui[train]'") from None
    try:
        server = start_server(ServeOptions(base=request.base, adapters=dict(request.adapters),
                                           device=request.device))
    except LoadError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise WorkFailed(f"the light server could not listen on loopback ({exc})") from None
    return Served(server.base_url, frozenset(server.pool.names), LIGHT, stop=server.shutdown)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_vllm(request: ServeRequest, ready_s: float = VLLM_READY_S) -> Served:
    """One `vllm serve` per full model (the base with its adapters, each merged student); a single
    process is the usual case. Their output goes to a log in the data folder."""
    from distill_tui import locations
    from distill_tui.core.evaluate.serving import VLLM, Served, vllm_commands

    commands = vllm_commands(request, iter(free_port, None))
    logs = locations.make_private_dir(locations.data_dir() / "serve-logs")
    processes: list[tuple[subprocess.Popen, str, Path]] = []

    def stop() -> None:
        for process, _, _ in processes:
            if process.poll() is None:
                process.terminate()
        for process, _, _ in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    try:
        for number, command in enumerate(commands):
            log = logs / f"vllm-{int(time.time())}-{number}.log"
            with log.open("wb") as out:
                try:
                    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                except OSError as exc:
                    raise UserError(f"cannot run vllm ({exc.strerror}): pip install 'distill-tui[serve]'") from None
            processes.append((process, f"http://127.0.0.1:{command[command.index('--port') + 1]}/v1", log))
        names: dict[str, str] = {}
        for process, url, log in processes:
            for name in _wait_ready(process, url, log, ready_s):
                names[name] = url
    except BaseException:
        stop()
        raise
    return Served(processes[0][1], frozenset(names), VLLM, stop=stop, urls=names)


def _wait_ready(process: subprocess.Popen, url: str, log: Path, ready_s: float) -> list[str]:
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
            last = lines[-1].strip() if lines else f"exit code {process.returncode}"
            raise WorkFailed(f"vllm serve stopped before serving ({last}); see {log}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5) as reply:
                return [m["id"] for m in json.load(reply).get("data", [])]
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(1.0)
    raise WorkFailed(f"vllm serve did not answer {url}/models within {ready_s:.0f} s; see {log}")


def register() -> None:
    """Make evaluation start a server for a student trained here (once per evaluation run)."""
    from distill_tui.core.evaluate.serving import use_serving_starter

    use_serving_starter(start)
