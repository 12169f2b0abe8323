"""Measure the offline models on the extraction and generation demos, through the real SDK, end to end.

As `measure.py` does for classification: the teacher answers every row of the demo's data, the
base student the held-out 30 %; the student is fine-tuned on the teacher's answers for the other
70 % and answers the held-out rows again. Scores: extraction, the share of fields equal to the
reference's (exact per field); generation, token F1 with the reference answer (and whatever
`score` the caller passes, e.g. chrF). Used by `tests/test_offline_tasks.py` and
`assets/measure_offline_models.py --task`.
"""

from __future__ import annotations

import csv
import json
import random
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from distill_tui.core.task import prompts
from distill_tui.offline.measure import fine_tune
from distill_tui.offline.retrieval import token_f1

SPECS = {"extraction": "extraction.toml", "generation": "generation.toml"}


@dataclass
class TaskMeasurement:
    task: str
    metric: str
    train_rows: int
    eval_rows: int
    teacher: float  # on the held-out rows, like the two below
    student: float
    distilled: float
    distilled_model: str

    def table(self) -> str:
        gap = self.teacher - self.student
        recovered = (self.distilled - self.student) / gap if gap else 0.0
        return "\n".join([
            f"{self.task}: train {self.train_rows}, held out {self.eval_rows}; {self.metric} on held-out rows",
            f"  teacher                    {self.teacher:6.1%}",
            f"  base student               {self.student:6.1%}",
            f"  distilled student          {self.distilled:6.1%}   ({self.distilled_model})",
            f"  gap recovered              {recovered:6.1%}",
        ])


def _assets() -> Path:
    return Path(str(resources.files("distill_tui") / "assets"))


def task_spec(task: str) -> dict[str, Any]:
    """The bundled demo spec of a task, parsed."""
    return tomllib.loads((_assets() / SPECS[task]).read_text("utf-8"))


def field_accuracy(answer: str | None, reference: str) -> float:
    """The share of the reference's fields the JSON answer has equal (0 for an answer that is not JSON)."""
    expected = json.loads(reference)
    try:
        got = json.loads(answer or "")
    except ValueError:
        return 0.0
    if not isinstance(got, dict):
        return 0.0
    return sum(got.get(k) == v for k, v in expected.items()) / len(expected)


def measure_task(base_url: str, task: str, *, score: Callable[[str | None, str], float] | None = None,
                 metric: str | None = None,
                 split_seed: int = 42, workers: int = 4, poll: float = 0.2, timeout: float = 120.0) -> TaskMeasurement:
    """Run the distillation of a demo task against an offline provider and score the three models."""
    import openai

    spec = task_spec(task)
    with open(_assets() / spec["dataset"]["path"], encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    prompt, reference = spec["prompt"], spec["dataset"]["reference"]
    response_format = None
    if task == "extraction":
        schema = json.loads((_assets() / prompt["schema"]).read_text("utf-8"))
        response_format = {"type": "json_schema", "json_schema": {"name": "wine_fields", "schema": schema,
                                                                  "strict": True}}
    metric = metric or ("fields right" if task == "extraction" else "token F1")
    score = score or (field_accuracy if task == "extraction" else lambda a, r: token_f1(a or "", r))
    messages = [prompts.build_messages(prompt.get("system", ""), prompt["user"], row) for row in rows]
    order = list(range(len(rows)))
    random.Random(split_seed).shuffle(order)
    cut = round(len(order) * 0.7)
    train, held_out = order[:cut], order[cut:]
    client = openai.OpenAI(base_url=base_url, api_key="offline", max_retries=2)
    budget = spec.get("generation", {}).get("max_tokens", 256)

    def ask(model: str, indices: list[int]) -> dict[int, str | None]:
        def one(i: int) -> str | None:
            extra = {"response_format": response_format} if response_format else {}
            reply = client.chat.completions.create(model=model, messages=messages[i], max_completion_tokens=budget,
                                                   **extra)
            return reply.choices[0].message.content

        with ThreadPoolExecutor(workers) as pool:
            return dict(zip(indices, pool.map(one, indices)))

    def mean(answers: dict[int, str | None]) -> float:
        return sum(score(answers[i], rows[i][reference]) for i in held_out) / len(held_out)

    teacher = ask("offline-teacher", order)
    student = ask("offline-student", held_out)
    lines = [json.dumps({"messages": messages[i] + [{"role": "assistant", "content": teacher[i] or ""}]},
                        ensure_ascii=False) for i in train if teacher[i]]
    model = fine_tune(client, lines, task[:10], timeout, poll)
    distilled = ask(model, held_out)
    return TaskMeasurement(task, metric, len(train), len(held_out), mean(teacher), mean(student), mean(distilled),
                           model)
