"""Where curation's answers come from: the workspace's own teacher answers (`load_workspace`), and
completions stored on a provider, made elsewhere with `store=true` (`import_stored`).

`chat.completions.list(metadata=…, model=…)` finds stored completions and
`chat.completions.messages.list(id)` gives each one's input messages (the list only carries the
output). Imported completions have no dataset row, so they get their own id space: negative row
ids, -1, -2, … in import order, with the completion id kept in `request_id` so a second import skips
what is already here. Their split is "train"; their gold label is known only when their prompt is
exactly a train row's prompt of the current spec (else None: "agrees" is unknown).

Skipped, and counted: completions already imported; this workspace's own answers (generation stores
the provider's `x-request-id`, not the completion id, so they are recognised by model and prompt);
and any prompt equal to a row held out for evaluation today (importing it would leak the test set).
The callers import the teacher's completions unless told otherwise (`model_filter`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from distill_tui.core.common.errors import UserError

PAGE_SIZE = 100
DEFAULT_TOKEN_LIMIT = 65_536
ANY_MODEL = ("any", "all", "*")

if TYPE_CHECKING:
    from distill_tui.core.store.database import Answer
    from distill_tui.core.workspace.workspace import Workspace


@dataclass
class Context:
    """What the model needs from the workspace (kept separate so tests can build one directly)."""

    student: str = "gpt-4o-mini"
    token_limit: int = DEFAULT_TOKEN_LIMIT
    training_price: float | None = None  # USD per 1M trained tokens
    n_epochs: int | str = "auto"
    seed: int = 42
    eval_ids: frozenset[int] = frozenset()
    eval_keys: frozenset[bytes] = frozenset()
    labels: list[str] = field(default_factory=list)
    kind: str = "classification"  # the task kind (core.task.kinds): only classification answers are classes


def prompt_key(messages: Sequence[dict[str, Any]] | None) -> bytes:
    """An identity for a prompt: equal for exactly equal messages (roles and contents)."""
    text = "\x00".join(f"{m.get('role')}\x01{m.get('content')}" for m in messages or ())
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


def load_workspace(ws: "Workspace") -> tuple[list["Answer"], Context]:
    """A workspace's answers to curate and the context (prices, limits, held-out rows) they need.

    The answers are the train-split teacher answers for today's prompts, and every imported
    completion. Today's prompts cover both splits, so a row answered as train but now held out (the
    split changed) still loads, and the leak guard can say it was left out.
    """
    from distill_tui.core.task import requests

    spec = ws.spec
    teacher, student = spec.teacher.model, spec.student.model
    hashes: dict[int, str] = {}
    eval_ids: set[int] = set()
    eval_keys: set[bytes] = set()
    for r in requests.iter_requests(spec, ws.data, teacher, None):
        hashes[r.row_id] = r.prompt_hash
        if r.split != "train":
            eval_ids.add(r.row_id)
            eval_keys.add(prompt_key(r.messages))
    # A teacher answer is listed when its row is a train row today (even if it was asked as an eval
    # row before eval_fraction changed), or when it was asked as a train row: a row held out since
    # then stays visible, never selectable, so the export can say it left it out.
    answers = [a for a in ws.store.answers()
               if a.source == "imported"
               or (a.model == teacher and hashes.get(a.row_id) == a.prompt_hash
                   and (a.row_id not in eval_ids or a.split == "train"))]
    price = ws.prices.price(student)
    context = Context(
        student=student,
        token_limit=(price.training_example_max_tokens if price and price.training_example_max_tokens
                     else DEFAULT_TOKEN_LIMIT),
        training_price=ws.prices.training_price(student),
        n_epochs=spec.finetune.n_epochs,
        seed=spec.dataset.seed,
        eval_ids=frozenset(eval_ids),
        eval_keys=frozenset(eval_keys),
        labels=list(ws.data.labels),
        kind=spec.kind,
    )
    return answers, context


@dataclass(frozen=True)
class ImportResult:
    imported: int
    already: int  # imported before, skipped
    unusable: int  # no input messages or no answer text
    with_gold: int  # matched a train row of the dataset
    read: int = 0  # completions listed
    own: int = 0  # this workspace's own answers (same model and prompt), skipped
    held_out: int = 0  # the prompt of a row held out for evaluation today, skipped

    def to_json(self) -> dict[str, int]:
        return {"read": self.read, "imported": self.imported, "already": self.already, "own": self.own,
                "held_out": self.held_out, "unusable": self.unusable, "with_gold": self.with_gold}

    def summary(self) -> str:
        """One line of counts, e.g. `imported 3 completions (2 matched a train row, …)`."""
        return (f"imported {self.imported:,} completions ({self.with_gold:,} matched a train row; skipped "
                f"{self.already:,} already here, {self.own:,} this workspace's own answers, {self.held_out:,} "
                f"held out for evaluation, {self.unusable:,} unusable)")


def model_filter(text: str | None, teacher: str) -> str | None:
    """The model to import: the teacher when not given, every model (None) for "any"."""
    text = (text or "").strip()
    if not text:
        return teacher
    return None if text.lower() in ANY_MODEL else text


def _same_model(stored: str, local: set[str]) -> bool:
    """The provider may name a dated snapshot (`gpt-4o-2024-08-06`) of the model that was asked for."""
    return stored in local or any(re.fullmatch(re.escape(m) + r"-\d{4}-\d{2}-\d{2}", stored) for m in local)


def parse_metadata(text: str) -> dict[str, str]:
    """`"key=value, key2=value2"` → dict (the metadata tag to import by).

    Raises:
        UserError: when a pair has no `=` or the tag is empty.
    """
    out: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"metadata {pair.strip()!r}: write key=value (e.g. distillation=wine)")
        out[key.strip()] = value.strip()
    if not out:
        raise UserError("give at least one metadata key=value to import by")
    return out


def _text(content: Any, parts: Any) -> str | None:
    if isinstance(content, str):
        return content
    texts = [getattr(p, "text", None) or (p.get("text") if isinstance(p, dict) else None) for p in parts or ()]
    return "".join(t for t in texts if t) or None


def _message(stored: Any) -> dict[str, Any]:
    # Fine-tuning takes no "developer" role; it plays the system prompt's part.
    role = "system" if stored.role == "developer" else stored.role
    message = {"role": role, "content": _text(stored.content, getattr(stored, "content_parts", None))}
    if getattr(stored, "name", None):
        message["name"] = stored.name
    return message


def import_stored(
    ws: "Workspace",
    metadata: dict[str, str],
    model: str | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportResult:
    """Import the stored completions tagged with `metadata` (and of `model`, if given; None: every
    model), skipping those described in the module docstring.

    Each is committed as it is read, so an interrupted import keeps what it got and resumes.
    `progress` gets the number of completions read so far.

    Raises:
        UserError: no metadata given or the key is missing; API errors propagate (see `core.provider.api_errors`).
    """
    from distill_tui.core.task import requests

    if not metadata:
        raise UserError("give at least one metadata key=value to import by")
    spec, store = ws.spec, ws.store
    client = ws.client()
    rows = store.execute("SELECT request_id, row_id FROM answers WHERE source='imported'")
    seen = {r[0] for r in rows if r[0]}
    next_id = min([int(r[1]) for r in rows] + [0]) - 1
    gold_by_key: dict[bytes, str | None] = {}
    eval_keys: set[bytes] = set()
    for r in requests.iter_requests(spec, ws.data, spec.teacher.model, None):
        if r.split == "train":
            gold_by_key[prompt_key(r.messages)] = r.gold
        else:
            eval_keys.add(prompt_key(r.messages))
    own: dict[bytes, set[str]] = {}
    for a in store.answers():
        if a.source != "imported":
            own.setdefault(prompt_key(a.messages), set()).add(a.model)
    kwargs: dict[str, Any] = {"metadata": metadata, "limit": PAGE_SIZE}
    if model:
        kwargs["model"] = model
    read = imported = already = unusable = with_gold = mine = held_out = 0
    for completion in client.chat.completions.list(**kwargs):
        if should_stop and should_stop():
            break
        read += 1
        if progress:
            progress(read)
        if completion.id in seen:
            already += 1
            continue
        messages = [_message(m) for m in client.chat.completions.messages.list(completion.id, limit=PAGE_SIZE)]
        choice = completion.choices[0] if completion.choices else None
        content = choice.message.content if choice else None
        key = prompt_key(messages)
        if key in eval_keys:
            held_out += 1
            continue
        if key in own and _same_model(completion.model, own[key]):
            mine += 1
            continue
        if not messages or not content:
            unusable += 1
            continue
        answer = _answer(ws, completion, messages, content, next_id, gold_by_key.get(key))
        store.record_answer(answer)
        seen.add(completion.id)
        next_id -= 1
        imported += 1
        with_gold += answer.gold is not None
    return ImportResult(imported, already, unusable, with_gold, read, mine, held_out)


def _answer(ws: "Workspace", completion: Any, messages: list[dict[str, Any]], content: str, row_id: int,
            gold: str | None) -> "Answer":
    """The Answer row of one stored completion."""
    from distill_tui.core.store.database import Answer
    from distill_tui.core.task import kinds, requests

    finish_reason = completion.choices[0].finish_reason if completion.choices else None
    parsed = kinds.parse_answer(ws.spec, content, ws.data.labels, finish_reason)
    usage = completion.usage
    prompt_tokens = usage.prompt_tokens if usage else 0
    completion_tokens = usage.completion_tokens if usage else 0
    price = ws.prices.price(completion.model)
    return Answer(
        model=completion.model, row_id=row_id, prompt_hash=requests.prompt_hash({"messages": messages}),
        split="train", status="ok", gold=gold, messages=messages, content=content, label=parsed.label,
        valid=parsed.valid, problem=parsed.problem, finish_reason=completion.choices[0].finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=price.cost(prompt_tokens, completion_tokens) if price else None,
        request_id=completion.id, source="imported", created_at=float(completion.created or 0) or 0.0,
    )
