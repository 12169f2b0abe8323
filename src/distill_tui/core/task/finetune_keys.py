"""Validation of the [finetune] keys of the local trainer (backend = "local"), one SpecError line each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from distill_tui.core.common.errors import SpecError

if TYPE_CHECKING:
    from distill_tui.core.task.spec import FinetuneSpec

FINETUNE_CHOICES = {"backend": ("openai", "local"), "method": ("lora", "qlora", "full"),
                    "device": ("auto", "cuda", "mps", "cpu")}


def check_local_finetune(ft: "FinetuneSpec", where: str) -> None:
    """The [finetune] keys of the local trainer (backend = "local")."""
    for key, choices in FINETUNE_CHOICES.items():
        if getattr(ft, key) not in choices:
            names = " | ".join(f'"{c}"' for c in choices)
            raise SpecError(f"{where}: [finetune] {key} must be {names}, not {getattr(ft, key)!r}")
    for key, low, high in (("lora_r", 1, 4096), ("lora_alpha", 1, 65536), ("max_seq_length", 16, 1 << 20),
                           ("gradient_accumulation", 1, 4096), ("num_gpus", 0, 4096), ("logging_steps", 1, 1 << 20),
                           ("save_steps", 1, 1 << 20)):
        if not low <= getattr(ft, key) <= high:
            raise SpecError(f"{where}: [finetune] {key} must be {low} to {high}, not {getattr(ft, key)}")
    if not 0 <= ft.lora_dropout < 1:
        raise SpecError(f"{where}: [finetune] lora_dropout must be at least 0 and below 1, not {ft.lora_dropout}")
    if not 0 < ft.learning_rate < 1:
        raise SpecError(f"{where}: [finetune] learning_rate must be above 0 and below 1 (e.g. 2e-4), "
                        f"not {ft.learning_rate}")
    targets = ft.lora_targets
    if (isinstance(targets, str) and not targets.strip()) or (
        isinstance(targets, list) and (not targets or not all(isinstance(t, str) and t.strip() for t in targets))
    ):
        raise SpecError(f'{where}: [finetune] lora_targets must be "all-linear" or a list of module names '
                        f'like ["q_proj", "v_proj"], not {targets!r}')
    if ft.gpu_hour_usd is not None and not 0 <= ft.gpu_hour_usd < float("inf"):
        raise SpecError(f"{where}: [finetune] gpu_hour_usd must be 0 or more, not {ft.gpu_hour_usd}")
    if ft.accelerate_config is not None and not ft.accelerate_config.strip():
        raise SpecError(f"{where}: [finetune] accelerate_config is empty (remove the key to use all visible GPUs "
                        "with DDP)")
