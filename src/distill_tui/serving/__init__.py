"""A light OpenAI-compatible server for a student the user owns: a Hugging Face model folder (or a
model id already in the local cache) and any number of PEFT LoRA adapters, each served by name.

Used to evaluate a locally trained student where vLLM cannot run (no CUDA, or not installed):
`/v1/chat/completions` (the chat template, greedy or sampled, usage counted with the model's
tokenizer) and `/v1/models`. A `response_format` json_schema whose answer is an enum is answered by
scoring every allowed answer with the model and returning the likeliest, so the answer is always
valid (constrained to the labels by likelihood).

A separate product like `distill_tui.offline`: it may use `core.task` and `core.common` only, and
imports torch, transformers and peft when a server starts, never at import time.
Start it with `start_server(ServeOptions(base=..., adapters={name: path}))`.
"""

from distill_tui.serving.options import ServeOptions
from distill_tui.serving.server import start_server

__all__ = ["ServeOptions", "start_server"]
