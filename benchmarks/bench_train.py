"""Training throughput: our local trainer against plain TRL `SFTTrainer` defaults, same data, same model.

Builds the tiny chat model of the tests (a tokenizers-trained BPE and a randomly initialised Llama from a
config: nothing is downloaded) and chat rows like an export of the bundled demo (system, user with the
review, assistant with the JSON answer), then trains, one after the other in this process on the CPU:

(a) ours: a job folder run by `distill_tui.trainer.train.run_job` with the spec's [finetune] defaults
    (LoRA r=16 on all linear layers, lr 2e-4, batch 8, loss on the assistant's tokens only, events.jsonl);
(b) TRL defaults: `SFTTrainer(model=folder, args=SFTConfig(output_dir, num_train_epochs, use_cpu))`,
    i.e. a full fine-tune with TRL's defaults (batch 8, lr 2e-5, loss on every token);
(c) TRL defaults plus the same LoRA config as (a), to tell the LoRA part of the difference from the rest.

Each is timed from the start of `train()` to the end of saving the result; tokens are the training set's
tokens (after truncation) times the epochs, counted the same way for all three. Printed: tokens/s per
variant, the best of `--repeats`, and the ratio of ours to each baseline.

    .venv/bin/python benchmarks/bench_train.py [--rows 64] [--epochs 2] [--hidden 64] [--layers 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/tiny_model.py builds the model
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SYSTEM = "You're a sommelier expert and you know everything about wine. You answer precisely with the variety."


def chat_rows(rows: int) -> list[dict]:
    """`rows` chat examples from the bundled demo reviews (cycled), shaped like an exported JSONL line."""
    with (ROOT / "src" / "distill_tui" / "assets" / "reviews.csv").open(encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    out = []
    for i in range(rows):
        record = records[i % len(records)]
        out.append({"messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Guess the grape variety of this wine: {record['description']}"},
            {"role": "assistant", "content": json.dumps({"variety": record["variety"]})},
        ]})
    return out


def lora_config(hyper: dict):
    from peft import LoraConfig

    return LoraConfig(r=int(hyper["lora_r"]), lora_alpha=int(hyper["lora_alpha"]),
                      lora_dropout=float(hyper["lora_dropout"]), target_modules=hyper["lora_targets"],
                      task_type="CAUSAL_LM")


def our_hyperparameters(epochs: int) -> dict:
    """What `finetune` would write into job.json for a spec with only backend = "local" (on the CPU)."""
    from types import SimpleNamespace

    from distill_tui.core.task.spec import FinetuneSpec
    from distill_tui.core.train.local import local_hyperparameters

    hyper = local_hyperparameters(FinetuneSpec(backend="local"), SimpleNamespace(n_epochs=epochs, batch_size="auto"))
    hyper["device"] = "cpu"
    return hyper


def run_ours(work: Path, model: Path, data: Path, epochs: int) -> tuple[int, float]:
    from distill_tui.trainer.train import run_job

    folder = work / f"ours-{time.monotonic_ns()}"
    folder.mkdir()
    job = {"id": folder.name, "model": str(model), "training_path": str(data), "validation_path": None,
           "seed": 42, "hyperparameters": our_hyperparameters(epochs), "created_at": time.time()}
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
    code = run_job(folder)
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    result = next((e for e in events if e["type"] == "result"), None)
    if code != 0 or result is None:
        raise SystemExit(f"our trainer failed (exit {code}): {[e for e in events if e['type'] == 'error']}")
    return int(result["trained_tokens"]), float(result["elapsed_s"])


def run_trl(work: Path, model: Path, rows: list[dict], epochs: int, lora: bool) -> tuple[int, float]:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    out = work / f"trl-{time.monotonic_ns()}"
    args = SFTConfig(output_dir=str(out), num_train_epochs=epochs, use_cpu=True, report_to="none", disable_tqdm=True)
    peft = lora_config(our_hyperparameters(epochs)) if lora else None
    trainer = SFTTrainer(model=str(model), args=args, train_dataset=Dataset.from_list(rows), peft_config=peft)
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"]) * epochs
    start = time.perf_counter()
    trainer.train()
    trainer.save_model(str(out / "final"))
    return tokens, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64, help="hidden size of the tiny model")
    parser.add_argument("--layers", type=int, default=2, help="layers of the tiny model")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant; the best is kept")
    args = parser.parse_args()
    try:
        import peft, torch, trl  # noqa: E401, F401
    except ImportError as exc:
        raise SystemExit(f"bench_train needs the [train] extra ({exc.name} missing): pip install 'distill-tui[train]'")
    import logging

    from tests.tiny_model import build_tiny_model
    from transformers.utils import logging as hf_logging

    import warnings

    import datasets

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("distill_tui").setLevel(logging.ERROR)
    rows = chat_rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "model", extra_text=[m["content"] for r in rows for m in r["messages"]],
                                 hidden=args.hidden, layers=args.layers)
        data = work / "train.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        variants = {
            "ours (LoRA, assistant-only loss)": lambda: run_ours(work, model, data, args.epochs),
            "TRL SFTTrainer defaults (full)": lambda: run_trl(work, model, rows, args.epochs, lora=False),
            "TRL defaults + our LoRA": lambda: run_trl(work, model, rows, args.epochs, lora=True),
        }
        rates: dict[str, float] = {}
        print(f"{args.rows} rows × {args.epochs} epochs, tiny Llama hidden={args.hidden} layers={args.layers}, "
              f"torch {torch.__version__}, trl {trl.__version__}, {os.cpu_count()} CPUs")
        for _ in range(args.repeats):
            for name, fn in variants.items():
                tokens, seconds = fn()
                rates[name] = max(rates.get(name, 0.0), tokens / seconds)
                print(f"  {name:34} {tokens:>9,} tokens in {seconds:6.2f} s = {tokens / seconds:>9,.0f} tokens/s")
        ours = rates["ours (LoRA, assistant-only loss)"]
        print(f"best of {args.repeats}: ours {ours:,.0f} tokens/s")
        for name in list(variants)[1:]:
            print(f"  ours / {name}: {ours / rates[name]:.2f}×")


if __name__ == "__main__":
    main()
