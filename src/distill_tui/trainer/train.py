"""One run of a local job: read `job.json`, train (resuming from the newest checkpoint), save the
adapter (and the merged model), and say everything in `events.jsonl`. Exit 0 when the run ended as asked
(succeeded, paused, cancelled), 2 for bad input, 1 for failed work."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from distill_tui.core.common.job_folder import CHECKPOINTS, JOB_FILE, elapsed_before, newest_checkpoint, read_events
from distill_tui.trainer.callback import Controls, make_callback
from distill_tui.trainer.events import EventLog
from distill_tui.trainer.setup import INSTALL, MEMORY_KNOBS, TrainerProblem

HEAVY = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")


def run_job(folder: Path) -> int:
    folder = Path(folder)
    main_process = int(os.environ.get("RANK", "0")) == 0
    log = EventLog(folder, writer=main_process)
    controls = Controls(folder)
    controls.install()
    try:
        job = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.status("failed", f"cannot read {folder / JOB_FILE}: {exc}")
        return 2
    log.status("running", f"starting: {job.get('model')} on {job.get('training_path')}")
    try:
        return _train(folder, job, log, controls)
    except TrainerProblem as exc:
        log.error(str(exc))
        log.status("failed", str(exc))
        return exc.exit_code
    except Exception as exc:
        if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
            log.error(MEMORY_KNOBS)
            log.status("failed", MEMORY_KNOBS)
            return 1
        traceback.print_exc(file=sys.stderr)
        line = f"training failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]} (see train.log)"
        log.error(line)
        log.status("failed", line)
        return 1


def _check_extras() -> None:
    import importlib.util

    missing = [name for name in HEAVY if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainerProblem(f"local training needs {', '.join(missing)}: {INSTALL}")


def _check_base(checkpoint: Path, model_source: str, model: str) -> None:
    """Refuse a checkpoint trained from another base model (a copied or reused job folder)."""
    config = checkpoint / "adapter_config.json"
    if not config.is_file():
        return
    base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if base and base not in (model, model_source):
        raise TrainerProblem(f"{checkpoint.parent.parent}: its checkpoints were trained from {base}, not {model}: "
                             "start a new job (or set [student] model back)")


def _train(folder: Path, job: dict[str, Any], log: EventLog, controls: Controls) -> int:
    _check_extras()
    from distill_tui.trainer import setup

    hyper = job.get("hyperparameters") or {}
    model_name = str(job["model"])
    method = hyper.get("method", "lora")
    device = setup.pick_device(hyper.get("device", "auto"))
    tokenizer = setup.load_tokenizer(model_name)
    training_path = Path(job["training_path"])
    rows = setup.read_rows(training_path, "training")
    limit = int(hyper.get("max_seq_length", 1024))
    warning = setup.too_long_warning(setup.check_template(tokenizer, rows, training_path, model_name), limit,
                                     "training")
    if warning:
        log.status("running", warning)
    valid_path = Path(job["validation_path"]) if job.get("validation_path") else None
    valid_rows = setup.read_rows(valid_path, "validation") if valid_path else None
    if valid_rows:
        setup.check_template(tokenizer, valid_rows, valid_path, model_name)
    assistant_only = setup.has_generation_marks(tokenizer)
    if not assistant_only:
        log.status("running", "the model's chat template has no {% generation %} marks: the loss falls on the "
                   "last assistant message of each example (prompt-completion)")
        rows = setup.as_prompt_completion(rows, training_path)
        valid_rows = setup.as_prompt_completion(valid_rows, valid_path) if valid_rows else None
    if controls.stopping:
        return _stopped(folder, log, controls, 0)
    model, precision = setup.load_model(model_name, method, device)
    source = setup._model_source(model_name)
    resume = newest_checkpoint(folder)
    if resume is not None:
        _check_base(resume, source, model_name)
    trainer = _trainer(folder, job, hyper, model, tokenizer, rows, valid_rows, assistant_only, device, log, controls)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    where = f"{device} x{world}" if device == "cuda" and world > 1 else device
    log.status("running", (f"resuming from {resume.name}" if resume else "training") +
               f" on {where} ({precision}, {method}, {'assistant tokens' if assistant_only else 'completion'} loss)")
    started = time.monotonic()
    before = elapsed_before(read_events(folder))
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if controls.halted or controls.stopping:
        return _stopped(folder, log, controls, trainer.state.global_step)
    if not trainer.is_world_process_zero():
        return 0
    adapter = folder / "adapter"
    trainer.save_model(str(adapter))
    tokenizer.save_pretrained(str(adapter))
    merged = _merge(source, adapter, tokenizer, folder / "merged") if hyper.get("merge") and method != "full" else None
    if hyper.get("merge") and method == "full":
        merged = None  # a full fine-tune is already a whole model: adapter/ is it
    hours = (before + time.monotonic() - started) / 3600
    gpus = world if device == "cuda" else 0
    log.write("result", adapter=str(adapter), merged=str(merged) if merged else None,
              trained_tokens=_trained_tokens(trainer), gpu_hours=round(hours * gpus, 6), gpus=gpus,
              device=device, wall_hours=round(hours, 6), elapsed_s=round(hours * 3600, 3))
    log.status("succeeded", f"adapter saved to {adapter}" + (f", merged model to {merged}" if merged else ""))
    return 0


def _stopped(folder: Path, log: EventLog, controls: Controls, step: int) -> int:
    if controls.cancelled:
        log.status("cancelled", f"cancelled at step {step}")
    else:
        controls.pause_file.unlink(missing_ok=True)
        log.status("paused", f"paused at step {step}: resume continues from its checkpoint")
    return 0


def _trainer(folder: Path, job: dict[str, Any], hyper: dict[str, Any], model: Any, tokenizer: Any,
             rows: list[dict[str, Any]], valid_rows: list[dict[str, Any]] | None, assistant_only: bool,
             device: str, log: EventLog, controls: Controls) -> Any:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    peft_config = None
    if hyper.get("method", "lora") in ("lora", "qlora"):
        from peft import LoraConfig

        peft_config = LoraConfig(r=int(hyper.get("lora_r", 16)), lora_alpha=int(hyper.get("lora_alpha", 32)),
                                 lora_dropout=float(hyper.get("lora_dropout", 0.05)),
                                 target_modules=hyper.get("lora_targets", "all-linear"), task_type="CAUSAL_LM")
    save_steps = int(hyper.get("save_steps", 50))
    config = SFTConfig(
        output_dir=str(folder / CHECKPOINTS),
        num_train_epochs=float(hyper.get("epochs", 3)),
        per_device_train_batch_size=int(hyper.get("batch_size", 8)),
        per_device_eval_batch_size=int(hyper.get("batch_size", 8)),
        gradient_accumulation_steps=int(hyper.get("gradient_accumulation", 1)),
        learning_rate=float(hyper.get("learning_rate", 2e-4)),
        max_length=int(hyper.get("max_seq_length", 1024)),
        packing=bool(hyper.get("packing", False)),
        assistant_only_loss=assistant_only,
        logging_steps=int(hyper.get("logging_steps", 5)),
        save_strategy="steps", save_steps=save_steps,
        eval_strategy="steps" if valid_rows else "no", eval_steps=save_steps if valid_rows else None,
        bf16=device == "cuda" and _bf16_ok(), use_cpu=device == "cpu",
        seed=int(job.get("seed") or 42), report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, save_total_limit=None,
    )
    callback = make_callback(log, controls, elapsed_before(read_events(folder)))
    return SFTTrainer(
        model=model, args=config, processing_class=tokenizer, peft_config=peft_config,
        train_dataset=Dataset.from_list(rows), eval_dataset=Dataset.from_list(valid_rows) if valid_rows else None,
        callbacks=[callback],
    )


def _bf16_ok() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _trained_tokens(trainer: Any) -> int | None:
    """Tokens of the training set (after truncation) times the epochs: what the run trained on."""
    try:
        lengths = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    except Exception:  # a dataset without input_ids (an engine that tokenizes on the fly)
        return None
    return int(lengths * float(trainer.args.num_train_epochs))


def _merge(source: str, adapter: Path, tokenizer: Any, target: Path) -> Path:
    """The base model with the adapter folded in, as an ordinary model folder."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if _bf16_ok() else torch.float32
    base = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    if target.exists():
        shutil.rmtree(target)
    merged.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    return target
