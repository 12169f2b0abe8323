"""The TrainerCallback that turns the Trainer's logs into `events.jsonl` lines and obeys the job's
controls: the `pause` file and SIGTERM stop at a checkpoint."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from distill_tui.core.common.job_folder import PAUSE_FILE
from distill_tui.trainer.events import EventLog


class Controls:
    """What the job was asked to do from outside: pause (a file) or cancel (SIGTERM)."""

    def __init__(self, folder: Path) -> None:
        self.pause_file = Path(folder) / PAUSE_FILE
        self.cancelled = False
        self.halted = False  # training stopped early because some process was asked to

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum: int, frame: Any) -> None:
        self.cancelled = True

    @property
    def paused(self) -> bool:
        return self.pause_file.exists()

    @property
    def stopping(self) -> bool:
        return self.cancelled or self.paused


def agreed(flag: bool) -> bool:
    """True when any process of a distributed run says True (one tiny all-reduce a step): every process
    must stop at the same step, or the others would wait for it forever."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def make_callback(log: EventLog, controls: Controls, elapsed_before: float) -> Any:
    """A `transformers.TrainerCallback` writing metrics, eval loss and checkpoint events."""
    from transformers import TrainerCallback

    started = time.monotonic()

    def elapsed() -> float:
        return round(elapsed_before + time.monotonic() - started, 3)

    class EventsCallback(TrainerCallback):
        def __init__(self) -> None:
            self.tokens: int | None = None

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            if isinstance(logs.get("num_tokens"), (int, float)):
                self.tokens = int(logs["num_tokens"])
            base = {"step": state.global_step, "total_steps": state.max_steps,
                    "epoch": round(float(state.epoch or 0), 4), "tokens": self.tokens, "elapsed_s": elapsed()}
            if "loss" in logs:
                log.write("metrics", **base, train_loss=float(logs["loss"]),
                          learning_rate=logs.get("learning_rate"),
                          train_mean_token_accuracy=logs.get("mean_token_accuracy"))
            if "eval_loss" in logs:
                log.write("metrics", **base, valid_loss=float(logs["eval_loss"]),
                          valid_mean_token_accuracy=logs.get("eval_mean_token_accuracy"))

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if agreed(controls.stopping):
                controls.halted = True
                control.should_save = True
                control.should_training_stop = True

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.is_world_process_zero:
                path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                log.write("checkpoint", step=state.global_step, path=str(path), elapsed_s=elapsed())

    return EventsCallback()
