"""Measure the offline models on the demo task, through the real SDK, end to end.

Teacher and base student answer the demo prompts; the student is fine-tuned on the teacher's
answers for a random 70 % of the rows; all three are scored on the other 30 %. Used by
`assets/measure_offline_models.py` and by the learning test.
"""

from __future__ import annotations

import io
import json
import random
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from distill_tui.core.task import filter_language, prompts


@dataclass
class Measurement:
    rows: int
    train_rows: int
    eval_rows: int
    labels: list[str]
    teacher_train: float  # teacher accuracy on the rows its answers train the student on
    teacher: float  # on the held-out rows, like the two below
    student: float
    distilled: float
    distilled_model: str

    @property
    def recovered(self) -> float:
        """The share of the teacher-student gap the fine-tune closed."""
        gap = self.teacher - self.student
        return (self.distilled - self.student) / gap if gap else 0.0

    def table(self) -> str:
        return "\n".join([
            f"rows {self.rows} (train {self.train_rows}, held out {self.eval_rows}), {len(self.labels)} labels",
            f"  teacher on train rows      {self.teacher_train:6.1%}",
            f"  teacher (held out)         {self.teacher:6.1%}",
            f"  base student (held out)    {self.student:6.1%}",
            f"  distilled student          {self.distilled:6.1%}   ({self.distilled_model})",
            f"  gap recovered              {self.recovered:6.1%}",
        ])


def demo_spec() -> tuple[dict[str, Any], Path]:
    """The bundled demo spec, parsed, and the folder its paths are relative to."""
    folder = Path(str(resources.files("distill_tui") / "assets"))
    return tomllib.loads((folder / "demo.toml").read_text("utf-8")), folder


def demo_rows(sample: int | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The demo dataset filtered as the spec says (filter, min_per_label, optional sample)."""
    import pandas as pd

    spec, folder = demo_spec()
    data = spec["dataset"]
    frame = pd.read_csv(folder / data["path"])
    if data.get("filter"):
        frame = filter_language.apply(frame, data["filter"], "demo.toml")
    counts = frame[data["label"]].value_counts()
    frame = frame[frame[data["label"]].isin(counts[counts >= data.get("min_per_label", 1)].index)]
    if sample:
        frame = frame.sample(n=min(sample, len(frame)), random_state=data.get("seed", 42))
    labels = sorted(frame[data["label"]].unique())
    return frame.to_dict("records"), labels


def measure(base_url: str, *, sample: int | None = None, split_seed: int = 42, workers: int = 4,
            poll: float = 0.2, timeout: float = 120.0) -> Measurement:
    """Run the whole distillation against an offline provider and score the three models."""
    import openai

    spec, _ = demo_spec()
    rows, labels = demo_rows(sample)
    prompt, label_column = spec["prompt"], spec["dataset"]["label"]
    field = prompt["answer_field"]
    response_format = prompts.response_format(field, labels)
    messages = [prompts.build_messages(prompt["system"], prompt["user"], row, labels) for row in rows]
    gold = [row[label_column] for row in rows]
    order = list(range(len(rows)))
    random.Random(split_seed).shuffle(order)
    cut = round(len(order) * 0.7)
    train, held_out = order[:cut], order[cut:]
    client = openai.OpenAI(base_url=base_url, api_key="offline", max_retries=2)

    def ask(model: str, indices: list[int]) -> dict[int, str | None]:
        def one(i: int) -> str | None:
            reply = client.chat.completions.create(model=model, messages=messages[i], response_format=response_format,
                                                   max_tokens=64)
            return prompts.parse_answer(reply.choices[0].message.content, field, labels, True).label

        with ThreadPoolExecutor(workers) as pool:
            return dict(zip(indices, pool.map(one, indices)))

    def accuracy(answers: dict[int, str | None], indices: list[int]) -> float:
        return sum(answers[i] == gold[i] for i in indices) / len(indices)

    teacher = ask("offline-teacher", order)
    student = ask("offline-student", held_out)
    lines = []
    for i in train:
        answer = prompts.assistant_content(field, teacher[i] or "", True)
        lines.append(json.dumps({"messages": messages[i] + [{"role": "assistant", "content": answer}]},
                                ensure_ascii=False))
    model = fine_tune(client, lines, "measure", timeout, poll)
    distilled = ask(model, held_out)
    return Measurement(
        rows=len(rows), train_rows=len(train), eval_rows=len(held_out), labels=labels,
        teacher_train=accuracy(teacher, train), teacher=accuracy(teacher, held_out),
        student=accuracy(student, held_out), distilled=accuracy(distilled, held_out),
        distilled_model=model,
    )


def fine_tune(client: Any, lines: list[str], suffix: str, timeout: float, poll: float) -> str:
    """Upload `lines` (training JSONL), fine-tune offline-student on them and wait; the model's name.

    Raises:
        TimeoutError: the job did not end within `timeout` seconds.
        RuntimeError: the job failed or was cancelled.
    """
    upload = client.files.create(file=("train.jsonl", io.BytesIO("\n".join(lines).encode())), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="offline-student", training_file=upload.id, suffix=suffix)
    deadline = time.monotonic() + timeout
    while job.status not in ("succeeded", "failed", "cancelled"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"fine-tuning job {job.id} still {job.status} after {timeout:.0f} s")
        time.sleep(poll)
        job = client.fine_tuning.jobs.retrieve(job.id)
    if job.status != "succeeded" or not job.fine_tuned_model:
        raise RuntimeError(f"fine-tuning job {job.id} {job.status}: {job.error}")
    return job.fine_tuned_model
