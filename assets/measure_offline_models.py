"""Print the accuracies of the offline models on the demo task, measured through the real SDK.

Run from the repository root:  .venv/bin/python assets/measure_offline_models.py [--sample N]
                               .venv/bin/python assets/measure_offline_models.py --task extraction|generation

It starts the offline provider in-process, asks the teacher about every French row of the demo
data, fine-tunes the student on the teacher's answers for a random 70 % of them and scores the
teacher, the base student and the distilled student on the other 30 %. Everything is seeded, so
the numbers repeat exactly. With --task, the same on the extraction demo (share of JSON fields right)
or the generation demo (token F1 and chrF with the reference answers).
"""

from __future__ import annotations

import argparse
import time

from distill_tui.offline import OfflineOptions, start_server
from distill_tui.offline.measure import demo_spec, measure
from distill_tui.offline.measure_tasks import measure_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=None,
                        help="rows after filtering (default: all, then also the demo spec's sample)")
    parser.add_argument("--job-seconds", type=float, default=1.0)
    parser.add_argument("--task", choices=("classification", "extraction", "generation"), default="classification")
    args = parser.parse_args()
    if args.task != "classification":
        measure_other(args.task, args.job_seconds)
        return
    samples = [args.sample] if args.sample else [None, demo_spec()[0]["dataset"].get("sample")]
    server = start_server(OfflineOptions(job_seconds=args.job_seconds))
    try:
        for sample in samples:
            started = time.monotonic()
            result = measure(server.base_url, sample=sample)
            print(("all French rows" if sample is None else f"sample of {sample}") + ":")
            print(result.table())
            print(f"  ({time.monotonic() - started:.1f} s)\n")
    finally:
        server.shutdown()


def measure_other(task: str, job_seconds: float) -> None:
    server = start_server(OfflineOptions(job_seconds=job_seconds))
    try:
        print(measure_task(server.base_url, task).table())
        if task == "generation":
            from sacrebleu.metrics import CHRF

            chrf = CHRF()
            print(measure_task(server.base_url, task, metric="chrF",
                               score=lambda a, r: chrf.sentence_score(a or "", [r]).score / 100).table())
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
