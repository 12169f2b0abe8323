"""An OpenAI-compatible provider on loopback, for tests, the demo and rehearsals.

It answers the same SDK calls as the real service (models, chat completions with stored
completions, files, fine-tuning jobs with events and checkpoints, batches, embeddings) from small
learners trained on data (naive Bayes for labels and JSON fields, TF-IDF retrieval for free text), and can
add rate limits, latency and injected failures.

    server = start_server(OfflineOptions(rpm=600))
    client = openai.OpenAI(base_url=server.base_url, api_key="offline")
    ...
    server.shutdown()

Names are imported on first use, so `import distill_tui.offline.cli` (for `--help`) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distill_tui.offline.chat import prompt_hash
    from distill_tui.offline.cli import add_arguments, run_from_args
    from distill_tui.offline.common import OfflineOptions
    from distill_tui.offline.models import LEGACY, STUDENT, TEACHER, KnowledgeError
    from distill_tui.offline.server import OfflineServer, start_server

_EXPORTS = {
    "prompt_hash": "chat",
    "add_arguments": "cli",
    "run_from_args": "cli",
    "OfflineOptions": "common",
    "LEGACY": "models",
    "STUDENT": "models",
    "TEACHER": "models",
    "KnowledgeError": "models",
    "OfflineServer": "server",
    "start_server": "server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'distill_tui.offline' has no attribute '{name}'")
    return getattr(importlib.import_module(f"distill_tui.offline.{module}"), name)
