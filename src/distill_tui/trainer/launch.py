"""Starting the training: in this process on one device, or through `accelerate launch` (DDP, or the
user's accelerate config for DeepSpeed, FSDP or several machines) when more than one GPU is used. The
processes are accelerate's; this module only builds its command line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from distill_tui.core.common.job_folder import JOB_FILE

UNDER_LAUNCHER = "DISTILL_TUI_TRAINER_LAUNCHED"
"""Set for the processes `accelerate launch` starts, so they train instead of launching again."""


def launch_command(job_folder: Path, num_processes: int, accelerate_config: str | None = None,
                   python: str | None = None) -> list[str] | None:
    """The `accelerate launch` command that runs the trainer on `num_processes` GPUs; None when one
    process on one device does (and no accelerate config asks for more).

    Args:
        job_folder: The job's folder.
        num_processes: The GPUs to use (one process each).
        accelerate_config: The user's accelerate config file (DeepSpeed, FSDP, multi-node); its
            process count wins over ours.
        python: The interpreter (this one by default).
    """
    if num_processes <= 1 and not accelerate_config:
        return None
    command = [python or sys.executable, "-m", "accelerate.commands.launch"]
    if accelerate_config:
        command += ["--config_file", str(accelerate_config)]
    else:
        command += ["--multi_gpu", "--num_processes", str(num_processes)]
    return command + ["-m", "distill_tui.trainer", str(job_folder)]


def gpus_to_use(hyper: dict[str, Any]) -> int:
    """How many CUDA GPUs this job trains on: 0 off CUDA, else `num_gpus` (0 = all visible)."""
    if hyper.get("device") in ("cpu", "mps"):
        return 0
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    wanted = int(hyper.get("num_gpus") or 0)
    return min(visible, wanted) if wanted else visible


def run_or_launch(job_folder: str | Path) -> int:
    """Train the job in this process, or replace this process by `accelerate launch` (same pid, so
    a SIGTERM for the job still reaches the launcher, which passes it on)."""
    folder = Path(job_folder).resolve()
    from distill_tui.trainer.train import run_job

    if os.environ.get(UNDER_LAUNCHER) or os.environ.get("LOCAL_RANK") is not None:
        return run_job(folder)
    try:
        job = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
        hyper = job.get("hyperparameters") or {}
        command = launch_command(folder, gpus_to_use(hyper), hyper.get("accelerate_config"))
    except Exception:  # no torch or no job.json: run_job says so in events.jsonl, in one line
        command = None
    if command is None:
        return run_job(folder)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, {**os.environ, UNDER_LAUNCHER: "1"})
    return 1  # pragma: no cover - execve does not return
