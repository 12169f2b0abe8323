"""The local trainer: a process of its own (`python -m distill_tui.trainer JOB_FOLDER`) that fine-tunes the
student with TRL's SFTTrainer and PEFT on the exported chat JSONL, and writes its progress to
`events.jsonl` in the job folder (the shapes are in `events`).

Outside the core: it needs the `[train]` extra (torch, transformers, trl, peft, accelerate) and may use
`core.task` and `core.common` only. Nothing imports it; `core.train.local` starts it as a subprocess.
"""
