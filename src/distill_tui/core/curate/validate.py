"""Check a chat fine-tuning file the way OpenAI does before it accepts one.

The format checks follow the cookbook's `Chat_finetuning_data_prep` (updated for tool calls, the
`tool` role and `weight`), plus the service's own limits: at least 10 examples, 512 MB per file and a
per-example token limit of the target model (65,536 for gpt-4o and gpt-4o-mini). An example over the
limit is an error here, not a warning: the service truncates it, which cuts off the assistant answer
that is the whole point of the example.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

MIN_EXAMPLES = 10
SUGGESTED_EXAMPLES = 50
MAX_FILE_BYTES = 512 * 1024 * 1024
ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "function_call", "weight", "tool_calls", "tool_call_id"})
TOP_LEVEL_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})

ERRORS = {
    "data_type": "{n} not a JSON object",
    "unrecognized_top_level_key": "{n}: a key other than messages, tools, parallel_tool_calls",
    "missing_messages_list": "{n}: no messages list",
    "message_missing_key": "{n}: a message without role or content",
    "message_unrecognized_key": "{n}: a message with an unknown key",
    "unrecognized_role": "{n}: a role other than system, user, assistant, tool, function",
    "missing_content": "{n}: a message whose content is missing, empty or not text",
    "empty_assistant_content": "{n}: an empty assistant message",
    "invalid_weight": "{n}: an assistant weight other than 0 or 1",
    "example_missing_assistant_message": "{n}: no assistant message",
    "example_too_long": "{n} longer than the {limit:,}-token limit of {model} (would be cut)",
    "too_few_examples": "only {examples}; at least {min} are needed",
    "file_too_large": "the file is {size}; the limit is 512 MB",
}


def plural(n: int, word: str) -> str:
    """`1 example`, `2 examples`."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class TokenCounter:
    """Tokens of chat examples, counted like `tokens.count_chat`, remembering repeated texts (system
    prompts and label answers recur on every row, user prompts do not)."""

    def __init__(self, model: str) -> None:
        from distill_tui.core.cost import tokens

        self._encode = tokens.encoding_for(model).encode_ordinary
        self._memo: dict[str, int] = {}
        self._t = tokens

    def text(self, value: str, remember: bool = True) -> int:
        n = self._memo.get(value)
        if n is None:
            n = len(self._encode(value))
            if remember:
                self._memo[value] = n
        return n

    def chat(self, messages: Sequence[Any]) -> tuple[int, int]:
        """(total tokens, assistant content tokens) of a list of messages.

        A training line carries its answer, so no reply priming is counted: the same rule as the
        estimate and the fine-tune cost plan, so every screen shows the same training tokens.
        """
        t = self._t
        total, assistant = 0, 0
        for message in messages:
            total += t.TOKENS_PER_MESSAGE
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            for key, value in message.items():
                if not isinstance(value, str):
                    continue
                n = self.text(value, remember=not (key == "content" and role == "user"))
                total += n + (t.TOKENS_PER_NAME if key == "name" else 0)
                if key == "content" and role == "assistant":
                    assistant += n
        return total, assistant

    def example(self, messages: Sequence[dict[str, Any]], answer: str) -> tuple[int, int]:
        """(total, assistant) tokens of `messages` followed by the assistant `answer`."""
        return self.chat([*messages, {"role": "assistant", "content": answer}])


@dataclass(frozen=True)
class Distribution:
    """min / max / mean / median / p10 / p90 (the cookbook's "p5/p95" are really 0.1 and 0.9)."""

    min: float
    max: float
    mean: float
    median: float
    p10: float
    p90: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Distribution | None":
        if not values:
            return None
        ordered = sorted(values)

        def q(p: float) -> float:
            k = (len(ordered) - 1) * p
            lo = int(k)
            hi = min(lo + 1, len(ordered) - 1)
            return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

        return cls(ordered[0], ordered[-1], statistics.fmean(ordered), statistics.median(ordered), q(0.1), q(0.9))

    def line(self) -> str:
        return (f"min {self.min:,.0f}, median {self.median:,.0f}, mean {self.mean:,.1f}, "
                f"p10 {self.p10:,.0f}, p90 {self.p90:,.0f}, max {self.max:,.0f}")


@dataclass
class ValidationReport:
    """What a validation found: errors (the file would be rejected), warnings and statistics."""

    name: str
    model: str
    token_limit: int
    min_examples: int = MIN_EXAMPLES
    examples: int = 0
    file_bytes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_lines: dict[str, list[int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    missing_system: int = 0
    missing_user: int = 0
    duplicate_examples: int = 0
    distinct_answers: int = 0
    billed_tokens: int = 0
    tokens_per_example: Distribution | None = None
    assistant_tokens: Distribution | None = None
    messages_per_example: Distribution | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def error_messages(self) -> list[str]:
        out = []
        for code, n in self.errors.items():
            text = ERRORS.get(code, code + ": {n}").format(
                n=plural(n, "line" if code == "data_type" else "example"), limit=self.token_limit, model=self.model,
                examples=plural(self.examples, "example"), min=self.min_examples, size=_size(self.file_bytes),
            )
            lines = self.error_lines.get(code)
            if lines:
                text += " (line " + ", ".join(map(str, lines[:5])) + (", …" if len(lines) > 5 else "") + ")"
            out.append(text)
        return out

    def lines(self) -> list[str]:
        """The report as plain text lines, verdict first."""
        out = [f"{self.name} file: {plural(self.examples, 'example')}, {_size(self.file_bytes)}, "
               f"limit {self.token_limit:,} tokens per example ({self.model})"]
        if self.ok:
            out.append("OK: the provider would accept this file")
        else:
            out.append(f"REJECTED: {len(self.errors)} problem{'s' if len(self.errors) > 1 else ''}")
            out += [f"  error: {m}" for m in self.error_messages()]
        out += [f"  warning: {w}" for w in self.warnings]
        for title, dist in (("tokens per example", self.tokens_per_example),
                            ("assistant tokens", self.assistant_tokens),
                            ("messages per example", self.messages_per_example)):
            if dist:
                out.append(f"  {title}: {dist.line()}")
        if self.examples:
            out.append(f"  billed tokens per epoch: {self.billed_tokens:,}; distinct answers: {self.distinct_answers:,}")
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["error_messages"] = self.error_messages()
        return data


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


def _message_errors(message: Any, errors: set[str]) -> str | None:
    """Check one message; returns its role when it is usable."""
    if not isinstance(message, dict) or "role" not in message:
        errors.add("message_missing_key")
        return None
    role = message["role"]
    calls = message.get("tool_calls") or message.get("function_call")
    if "content" not in message and not calls:
        errors.add("message_missing_key")
    if set(message) - MESSAGE_KEYS:
        errors.add("message_unrecognized_key")
    if role not in ROLES:
        errors.add("unrecognized_role")
    content = message.get("content")
    if not calls and (not isinstance(content, str) or not content.strip()):
        errors.add("empty_assistant_content" if role == "assistant" else "missing_content")
    elif content is not None and not isinstance(content, str):
        errors.add("missing_content")
    if "weight" in message and (role != "assistant" or message["weight"] not in (0, 1)
                                or isinstance(message["weight"], bool)):
        errors.add("invalid_weight")
    return role if isinstance(role, str) else None


def example_errors(example: Any) -> set[str]:
    """The format error codes of one decoded line (empty when it is a valid chat example)."""
    errors: set[str] = set()
    if not isinstance(example, dict):
        return {"data_type"}
    if set(example) - TOP_LEVEL_KEYS:
        errors.add("unrecognized_top_level_key")
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        errors.add("missing_messages_list")
        return errors
    roles = {_message_errors(m, errors) for m in messages}
    if "assistant" not in roles:
        errors.add("example_missing_assistant_message")
    return errors


def validate_examples(
    examples: Sequence[Any],
    *,
    model: str,
    token_limit: int,
    name: str = "training",
    min_examples: int = MIN_EXAMPLES,
    file_bytes: int | None = None,
    token_counts: Sequence[tuple[int, int]] | None = None,
) -> ValidationReport:
    """Validate decoded examples (one per line, in order).

    Args:
        examples: the decoded JSON lines; anything that is not a dict is a `data_type` error.
        model: the model to fine-tune (named in the report; its encoding counts tokens).
        token_limit: the most tokens one example may have.
        name: "training" or "validation", for the report.
        min_examples: fewer examples than this is an error.
        file_bytes: the size of the file as written (computed from the examples when None).
        token_counts: (total, assistant) tokens per example when already known.
    """
    report = ValidationReport(name=name, model=model, token_limit=token_limit, min_examples=min_examples,
                              examples=len(examples))
    counter = TokenCounter(model) if token_counts is None else None
    totals, assistants, n_messages, answers = [], [], [], []
    seen: set[str] = set()
    size = 0
    for line_no, example in enumerate(examples, start=1):
        text = json.dumps(example, ensure_ascii=False, sort_keys=True)
        size += len(text.encode("utf-8")) + 1
        for code in sorted(example_errors(example)):
            report.errors[code] = report.errors.get(code, 0) + 1
            report.error_lines.setdefault(code, []).append(line_no)
        if text in seen:
            report.duplicate_examples += 1
        seen.add(text)
        messages = example.get("messages") if isinstance(example, dict) else None
        if not isinstance(messages, list):
            continue
        roles = [m.get("role") for m in messages if isinstance(m, dict)]
        report.missing_system += "system" not in roles
        report.missing_user += "user" not in roles
        answers += [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
        total, assistant = token_counts[line_no - 1] if token_counts is not None else counter.chat(messages)
        if total > token_limit:
            report.errors["example_too_long"] = report.errors.get("example_too_long", 0) + 1
            report.error_lines.setdefault("example_too_long", []).append(line_no)
        totals.append(total)
        assistants.append(assistant)
        n_messages.append(len(messages))
    report.file_bytes = size if file_bytes is None else file_bytes
    if len(examples) < min_examples:
        report.errors["too_few_examples"] = 1
    if report.file_bytes > MAX_FILE_BYTES:
        report.errors["file_too_large"] = 1
    report.tokens_per_example = Distribution.of(totals)
    report.assistant_tokens = Distribution.of(assistants)
    report.messages_per_example = Distribution.of(n_messages)
    report.billed_tokens = sum(min(token_limit, t) for t in totals)
    report.distinct_answers = len({a for a in answers if isinstance(a, str)})
    _warn(report, answers)
    return report


def _warn(report: ValidationReport, answers: list[Any]) -> None:
    w = report.warnings
    if report.missing_system:
        w.append(f"{plural(report.missing_system, 'example')} without a system message")
    if report.missing_user:
        w.append(f"{plural(report.missing_user, 'example')} without a user message")
    if report.duplicate_examples:
        w.append(f"{plural(report.duplicate_examples, 'example')} repeating an earlier one exactly")
    if len(answers) > 1 and report.distinct_answers == 1:
        w.append("every assistant answer is the same: the student would learn a constant")
    if report.name == "training" and report.min_examples <= report.examples < SUGGESTED_EXAMPLES:
        w.append(f"OpenAI suggests starting with at least {SUGGESTED_EXAMPLES} examples")


def validate_lines(lines: Iterable[str], **kwargs: Any) -> ValidationReport:
    """Validate JSONL text lines; a line that is not JSON is a `data_type` error."""
    examples: list[Any] = []
    size = 0
    for line in lines:
        size += len(line.encode("utf-8")) + (0 if line.endswith("\n") else 1)
        if not line.strip():
            continue
        try:
            examples.append(json.loads(line))
        except json.JSONDecodeError:
            examples.append(None)
    kwargs.setdefault("file_bytes", size)
    return validate_examples(examples, **kwargs)


def validate_file(path: str | Path, **kwargs: Any) -> ValidationReport:
    """Validate a JSONL file on disk (see `validate_examples` for the keyword arguments)."""
    with open(path, encoding="utf-8") as handle:
        return validate_lines(handle, **kwargs)
