"""Where a student trained here is asked during evaluation: an OpenAI-compatible server serving the base
student (`[student] model`) and each local job's model by name (its `fine_tuned_model` path).

Three engines: the user's server (`[serve] url`), vLLM (`vllm serve BASE --enable-lora --lora-modules
NAME=PATH`, when installed and CUDA exists), else the light server (`distill_tui.serving`). Starting a
server is the edge's job: the commands register a starter with `use_serving_starter`, as they do for
the offline provider; the core only chooses the engine, builds the request and uses the base URL.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from distill_tui.core.common.errors import UserError
from distill_tui.core.evaluate.comparison import BASE

if TYPE_CHECKING:
    import openai

    from distill_tui.core.evaluate.comparison import EvalModel
    from distill_tui.core.store.jobs import JobRecord
    from distill_tui.core.task.spec import TaskSpec
    from distill_tui.core.workspace.workspace import Workspace

LOCAL = "local"
VLLM, LIGHT, URL = "vllm", "light", "url"
KEY_ENV = "DISTILL_TUI_SERVE_API_KEY"
"""The key sent to the serving endpoint (none by default: the provider's key never goes there)."""

NOTES = {
    LIGHT: "constrained to the labels by likelihood",
    VLLM: "constrained to the schema by vLLM guided decoding",
    URL: "structured output as the server at [serve] url constrains it",
}


@dataclass(frozen=True)
class ServeRequest:
    """What to serve: the base student under its own name, and adapters (or full models) by name."""

    base: str
    adapters: dict[str, str] = field(default_factory=dict)
    engine: str = LIGHT  # VLLM or LIGHT: the resolved engine, never "auto"
    device: str = "auto"


@dataclass
class Served:
    """A serving endpoint: its base URL, the model names it serves, and how to stop it (None: not ours).
    `urls` names another base URL for some models (a merged student needs its own vLLM process)."""

    base_url: str
    names: frozenset[str]
    engine: str
    stop: Callable[[], None] | None = None
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def note(self) -> str:
        return NOTES[self.engine]

    def client(self, name: str) -> openai.OpenAI:
        """An `openai` client for the model served as `name` (the provider's key is never sent here)."""
        import openai

        from distill_tui.core.provider.clients import NO_KEY

        # Generation on a CPU can be slow: a long timeout; the engine retries by itself.
        return openai.OpenAI(api_key=os.environ.get(KEY_ENV) or NO_KEY, base_url=self.urls.get(name, self.base_url),
                             max_retries=0, timeout=600.0)

    def close(self) -> None:
        if self.stop is not None:
            stop, self.stop = self.stop, None
            stop()


Starter = Callable[[ServeRequest], Served]
_starter: Starter | None = None
_lock = threading.Lock()


def use_serving_starter(start: Starter | None) -> None:
    """Say how to start a server for a `ServeRequest` (the commands register it; None forgets it)."""
    global _starter
    with _lock:
        _starter = start


def is_local(job: JobRecord) -> bool:
    return job.backend == LOCAL


def local_models(ws: Workspace) -> dict[str, str]:
    """Model name → job id of every model a local job produced (its result and its checkpoints)."""
    found: dict[str, str] = {}
    for job in ws.store.jobs():
        if not is_local(job):
            continue
        if job.status == "succeeded" and job.fine_tuned_model:
            found[job.fine_tuned_model] = job.id
        for point in ws.store.checkpoints(job.id):
            if point.get("model_name"):
                found[str(point["model_name"])] = job.id
    return found


def newest_is_local(ws: Workspace) -> bool:
    """Whether the workspace's newest distilled model comes from a local job (then the base student,
    a Hugging Face model, is served beside it)."""
    for job in ws.store.jobs():  # newest first
        if job.status == "succeeded" and job.fine_tuned_model:
            return is_local(job)
    return False


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether torch sees a CUDA GPU (asked once: importing torch takes seconds)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def choose_engine(spec: TaskSpec, *, vllm_installed: bool | None = None, cuda: bool | None = None) -> str:
    """URL when the spec names a server, else VLLM or LIGHT per `[serve] engine` ("auto": vLLM when it
    is installed and CUDA exists).

    Raises:
        UserError: engine = "vllm" where vLLM is missing or there is no CUDA.
    """
    if spec.serve.url:
        return URL
    if spec.serve.engine == LIGHT:
        return LIGHT
    installed = importlib.util.find_spec("vllm") is not None if vllm_installed is None else vllm_installed
    if spec.serve.engine == VLLM:
        if not installed:
            raise UserError("[serve] engine = \"vllm\" but vLLM is not installed: pip install 'distill-tui[serve]' "
                            "(it needs CUDA), or set engine = \"light\"")
        if not (cuda_available() if cuda is None else cuda):
            raise UserError("[serve] engine = \"vllm\" needs a CUDA GPU and none is visible; set engine = \"light\"")
        return VLLM
    return VLLM if installed and (cuda_available() if cuda is None else cuda) else LIGHT


def is_adapter(path: str) -> bool:
    return os.path.isfile(os.path.join(os.path.expanduser(path), "adapter_config.json"))


LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM accepts for --max-lora-rank."""


def lora_rank(path: str) -> int:
    """The rank `r` an adapter folder was trained with (16, the spec's default, when unreadable)."""
    import json

    try:
        with open(os.path.join(os.path.expanduser(path), "adapter_config.json"), encoding="utf-8") as config:
            rank = json.load(config).get("r")
    except (OSError, ValueError, AttributeError):
        return 16
    return rank if isinstance(rank, int) and rank > 0 else 16


def vllm_commands(request: ServeRequest, ports: Iterable[int]) -> list[list[str]]:
    """The `vllm serve` command lines for a request: one for the base with its LoRA adapters by name,
    and one more per full model (a merged or fully fine-tuned student), each on the next port."""
    ports = iter(ports)
    loras = {name: path for name, path in request.adapters.items() if is_adapter(path)}
    # Thinking off, as the light server does (distill_tui.serving.models.DEFAULT_TEMPLATE_KWARGS).
    common = ["--host", "127.0.0.1", "--default-chat-template-kwargs", '{"enable_thinking": false}']
    base = ["vllm", "serve", request.base, "--served-model-name", request.base, "--port", str(next(ports)), *common]
    if loras:
        rank = max(lora_rank(path) for path in loras.values())
        allowed = next((r for r in LORA_RANKS if r >= rank), rank)
        base += ["--enable-lora", "--max-lora-rank", str(allowed), "--max-loras", str(len(loras)), "--lora-modules",
                 *(f"{name}={path}" for name, path in loras.items())]
    commands = [base]
    for name, path in request.adapters.items():
        if name not in loras:
            commands.append(["vllm", "serve", path, "--served-model-name", name, "--port", str(next(ports)),
                             *common])
    return commands


def served_names(ws: Workspace, models: Iterable[EvalModel]) -> list[str]:
    """The names among `models` that are asked through a serving endpoint: each model a local job
    produced, and the base student when the newest distilled model is local."""
    local = local_models(ws)
    base_too = newest_is_local(ws)
    return [m.name for m in models
            if not m.skip and (m.name in local or (m.name == ws.spec.student.model and m.role == BASE and base_too))]


def served_label(ws: Workspace) -> str:
    """How the served models are reached and their structured answers constrained, for the table."""
    try:
        engine = choose_engine(ws.spec)
    except UserError:
        engine = VLLM
    where = {LIGHT: "light server", VLLM: "vLLM", URL: str(ws.spec.serve.url)}[engine]
    spec = ws.spec
    structured = spec.kind == "extraction" or (spec.kind == "classification" and spec.prompt.structured)
    return f"{where}, {NOTES[engine]}" if structured else f"{where}, free text"


def open_served(ws: Workspace, names: Iterable[str]) -> dict[str, Served]:
    """Model name → the endpoint that serves it, for `names` (see `served_names`); {} for none.

    Starts a server through the registered starter unless the spec names one (`[serve] url`); the
    caller stops it with `close_served` when evaluation ends.

    Raises:
        UserError: no starter is registered (the core used without the commands), the engine asked
            for cannot run here, or the starter could not start it.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    engine = choose_engine(ws.spec)
    if engine == URL:
        served = Served(str(ws.spec.serve.url).rstrip("/"), frozenset(wanted), URL)
        return {name: served for name in wanted}
    with _lock:
        start = _starter
    if start is None:
        raise UserError("evaluating a student trained here needs a server: run it through distill-tui, "
                        "or set [serve] url")
    base = ws.spec.student.model
    request = ServeRequest(base=base, adapters={n: n for n in wanted if n != base}, engine=engine,
                           device=getattr(ws.spec.finetune, "device", "auto"))
    served = start(request)
    return {name: served for name in wanted}


def close_served(served: dict[str, Served]) -> None:
    """Stop every server `open_served` started (a user's server is left alone)."""
    for endpoint in {id(s): s for s in served.values()}.values():
        endpoint.close()
