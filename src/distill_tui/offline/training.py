"""Fine-tuning data and training: read a chat JSONL file, train a learner on it step by step.

Losses and accuracies are measured: before each step learns its batch, the model being trained
scores that batch (train_*) and, at evaluation steps, the validation file (valid_*).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any, Iterator

from distill_tui.offline import billing
from distill_tui.offline.learner import features
from distill_tui.offline.mind import LABEL, Mind, example_kind, plain_kind
from distill_tui.offline.retrieval import token_f1

MIN_EXAMPLES = 10
_LOSS_FLOOR = 0.01  # probability floor, so an unseen label costs a finite loss (~4.6)
_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


class FileProblem(ValueError):
    """A training or validation file OpenAI would reject; the message names the line."""


@dataclass
class Example:
    features: set[str]
    label: str
    content: str = ""  # the assistant's message as written (the label for plain classification)


@dataclass
class TrainingData:
    examples: list[Example]
    tokens_per_epoch: int
    plain: str = LABEL  # what its plain-text answers are (see `mind.plain_kind`)


def answer_label(content: str) -> str:
    """The label an assistant message teaches: the single value of a JSON object, else the text."""
    text = content.strip()
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict) and value:
        value = next(iter(value.values()))
    return value.strip() if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def read_examples(data: bytes, model: str, what: str = "Training") -> TrainingData:
    """Parse and check a chat fine-tuning file.

    Every assistant message (not marked `"weight": 0`) becomes one example: the text of the user
    message before it, labelled with what the assistant said.

    Raises:
        FileProblem: as OpenAI's validation would (too few lines, bad JSON, no assistant message,
            empty assistant content).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileProblem(f"{what} file could not be decoded as UTF-8.") from None
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) < MIN_EXAMPLES:
        raise FileProblem(f"{what} file has {len(lines)} example(s), but must have at least {MIN_EXAMPLES} examples.")
    examples: list[Example] = []
    total_tokens = 0
    for number, line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            raise FileProblem(f"Invalid file format. Line {number} is not valid JSON.") from None
        messages = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(messages, list) or not messages:
            raise FileProblem(f"Invalid file format. Line {number}, key \"messages\": expected a non-empty list.")
        last_user = None
        taught = 0
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in _ROLES:
                raise FileProblem(f"Invalid file format. Line {number}: a message has no valid role.")
            role = message["role"]
            if role == "user":
                last_user = _text(message.get("content"))
            elif role == "assistant":
                content = message.get("content")
                if not isinstance(content, str) or not content.strip():
                    raise FileProblem(f"Line {number}: an assistant message has empty content.")
                if message.get("weight", 1) == 0:
                    continue
                if last_user is None:
                    raise FileProblem(f"Line {number}: an assistant message has no user message before it.")
                examples.append(Example(features(last_user), answer_label(content), content))
                taught += 1
        if not taught:
            raise FileProblem(f"Line {number}: the example has no assistant message to train on.")
        plain = [{k: v for k, v in m.items() if isinstance(v, str)} for m in messages]
        total_tokens += billing.training_tokens(plain, model)
    plain = plain_kind([e.content for e in examples if example_kind(e.content)[0] == LABEL
                        and not e.content.strip().startswith("{")])
    return TrainingData(examples, total_tokens, plain)


def auto_epochs(n_examples: int) -> int:
    """OpenAI's rule for `n_epochs = "auto"`, the same one the app's estimates use."""
    from distill_tui.core.cost.pricing import auto_epochs as rule

    return max(1, rule(n_examples))


def auto_batch_size(n_examples: int) -> int:
    """About 0.2 % of the examples, between 1 and 256 (OpenAI's documented default)."""
    return max(1, min(256, round(n_examples * 0.002)))


@dataclass
class Step:
    step: int
    total: int
    epoch: int
    epoch_end: bool
    metrics: dict[str, float]


def _score(model: Mind, examples: list[Example], plain: str = LABEL) -> tuple[float, float]:
    """Mean cross-entropy of the true answers and the share answered right.

    A label's probability is the classifier's posterior; a JSON object's is the mean of its fields'
    posteriors (its accuracy the share of fields right); free text's is the token F1 of the
    remembered answer with the true one.
    """
    loss = correct = 0.0
    for example in examples:
        kind, value = example_kind(example.content or example.label, plain)
        if kind == "fields":
            shares = []
            hits = 0
            for name, item in value.items():
                field = model.fields.get(name)
                posterior = field.posterior(example.features) if field else {}
                shares.append(posterior.get(item, 0.0))
                hits += bool(posterior) and max(posterior, key=posterior.get) == item  # type: ignore[arg-type]
            p, right = sum(shares) / len(shares), hits / len(shares)
        elif kind == "label":
            posterior = model.labels.posterior(example.features)
            p = posterior.get(value, 0.0)
            right = float(bool(posterior) and max(posterior, key=posterior.get) == value)  # type: ignore[arg-type]
        else:
            found = model.memory.nearest(example.features)
            p = right = token_f1(found[0], value) if found else 0.0
        loss -= math.log(max(p, _LOSS_FLOOR))
        correct += right
    n = max(1, len(examples))
    return round(loss / n, 4), round(correct / n, 4)


def train_steps(
    model: Mind, train: TrainingData, valid: TrainingData | None, *, n_epochs: int, batch_size: int,
    learning_rate: float, seed: int,
) -> Iterator[Step]:
    """Train `model` in place, one batch per step, yielding each step's measured metrics.

    Each epoch visits the examples in a fresh seeded order; each example adds its features with
    weight `learning_rate`, so epochs and the multiplier both strengthen what was learned.
    """
    rng = random.Random(seed)
    examples = train.examples
    per_epoch = math.ceil(len(examples) / batch_size)
    total = per_epoch * n_epochs
    eval_every = max(1, total // 10)
    step = 0
    for epoch in range(1, n_epochs + 1):
        order = list(range(len(examples)))
        rng.shuffle(order)
        for b in range(per_epoch):
            batch = [examples[i] for i in order[b * batch_size : (b + 1) * batch_size]]
            loss, accuracy = _score(model, batch, train.plain)
            for example in batch:
                model.learn(example.features, example.content or example.label, learning_rate, train.plain)
            step += 1
            metrics: dict[str, float] = {"step": step, "train_loss": loss, "train_mean_token_accuracy": accuracy,
                                         "total_steps": total}
            epoch_end = b == per_epoch - 1
            if valid is not None and (step % eval_every == 0 or epoch_end):
                valid_loss, valid_accuracy = _score(model, valid.examples, valid.plain)
                metrics["valid_loss"] = valid_loss
                metrics["valid_mean_token_accuracy"] = valid_accuracy
                if epoch_end:
                    metrics["full_valid_loss"] = valid_loss
                    metrics["full_valid_mean_token_accuracy"] = valid_accuracy
            yield Step(step, total, epoch, epoch_end, metrics)
