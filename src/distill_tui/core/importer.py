"""Import stored chat completions (made elsewhere with `store=true`) as teacher answers to curate.

`chat.completions.list(metadata=…, model=…)` finds them and `chat.completions.messages.list(id)`
gives each one's input messages (the list only carries the output). Imported completions have no
dataset row, so they get their own id space: negative row ids, -1, -2, … in import order, with the
completion id kept in `request_id` so a second import skips what is already here. Their split is
"train"; their gold label is known only when their prompt is exactly a train row's prompt of the
current spec (else None: "agrees" is unknown). A prompt equal to an eval row's is caught at export
by the leak guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from distill_tui.core.errors import UserError

if TYPE_CHECKING:
    from distill_tui.core.store import Answer
    from distill_tui.core.workspace import Workspace


@dataclass(frozen=True)
class ImportResult:
    imported: int
    already: int  # imported before, skipped
    unusable: int  # no input messages or no answer text
    with_gold: int  # matched a train row of the dataset


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
    """Import the stored completions tagged with `metadata` (and of `model`, if given).

    Each is committed as it is read, so an interrupted import keeps what it got and resumes.

    Raises:
        UserError: no metadata given or the key is missing; API errors propagate (see `apierrors`).
    """
    from distill_tui.core import requests
    from distill_tui.core.curate import prompt_key

    if not metadata:
        raise UserError("give at least one metadata key=value to import by")
    spec, store = ws.spec, ws.store
    client = ws.client()
    rows = store.execute("SELECT request_id, row_id FROM answers WHERE source='imported'")
    seen = {r[0] for r in rows if r[0]}
    next_id = min([int(r[1]) for r in rows] + [0]) - 1
    gold_by_key = {prompt_key(r.messages): r.gold
                   for r in requests.iter_requests(spec, ws.data, spec.teacher.model, "train")}
    kwargs: dict[str, Any] = {"metadata": metadata, "limit": 100}
    if model:
        kwargs["model"] = model
    imported = already = unusable = with_gold = 0
    for completion in client.chat.completions.list(**kwargs):
        if should_stop and should_stop():
            break
        if completion.id in seen:
            already += 1
            continue
        messages = [_message(m) for m in client.chat.completions.messages.list(completion.id, limit=100)]
        choice = completion.choices[0] if completion.choices else None
        content = choice.message.content if choice else None
        if not messages or not content:
            unusable += 1
            continue
        answer = _answer(ws, completion, messages, content, next_id, gold_by_key.get(prompt_key(messages)))
        store.record_answer(answer)
        seen.add(completion.id)
        next_id -= 1
        imported += 1
        with_gold += answer.gold is not None
        if progress:
            progress(imported)
    return ImportResult(imported, already, unusable, with_gold)


def _answer(ws: "Workspace", completion: Any, messages: list[dict[str, Any]], content: str, row_id: int,
            gold: str | None) -> "Answer":
    """The Answer row of one stored completion."""
    from distill_tui.core import prompts, requests
    from distill_tui.core.store import Answer

    pr = ws.spec.prompt
    parsed = prompts.parse_answer(content, pr.answer_field, ws.data.labels, pr.structured)
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
