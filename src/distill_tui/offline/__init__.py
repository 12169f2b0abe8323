"""An OpenAI-compatible provider on loopback, for tests, the demo and rehearsals.

It answers the same SDK calls as the real service (models, chat completions with stored
completions, files, fine-tuning jobs with events and checkpoints) from small naive Bayes models
trained on data, and can add rate limits, latency and injected failures.

    server = start_server(OfflineOptions(rpm=600))
    client = openai.OpenAI(base_url=server.base_url, api_key="offline")
    ...
    server.shutdown()
"""

from distill_tui.offline.chat import prompt_hash
from distill_tui.offline.common import OfflineOptions
from distill_tui.offline.models import LEGACY, STUDENT, TEACHER, KnowledgeError
from distill_tui.offline.server import OfflineServer, add_arguments, run_from_args, start_server

__all__ = [
    "LEGACY",
    "STUDENT",
    "TEACHER",
    "KnowledgeError",
    "OfflineOptions",
    "OfflineServer",
    "add_arguments",
    "prompt_hash",
    "run_from_args",
    "start_server",
]
