"""Corrected teacher answers in curation: an answer edited by hand, or the gold label put in where the
teacher disagreed with it.

An edit is kept in the store (`answer_edits`, beside the original, which stays), marked, and read in
place of the original by curation and export: the student trains on the corrected answer. It is read
as the teacher's answer was (a label must be one of the labels; a JSON answer must parse), so the
curation's columns (valid, agrees, tokens) describe what is exported.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import numpy as np

from distill_tui.core.common.errors import UserError
from distill_tui.core.curate import free_text
from distill_tui.core.store.edits import EDITED, GOLD, AnswerEdit, Key

if TYPE_CHECKING:
    from distill_tui.core.curate.selection import Curation
    from distill_tui.core.store.database import Answer
    from distill_tui.core.task.prompts import ParsedAnswer
    from distill_tui.core.workspace.workspace import Workspace

Parser = Callable[[str], "ParsedAnswer"]
"""Reads an answer's content as the run read the teacher's (label, valid, problem)."""


def _key(answer: "Answer") -> Key:
    return (answer.model, answer.row_id, answer.prompt_hash)


def with_edits(answers: Sequence["Answer"], edits: Mapping[Key, AnswerEdit]) -> tuple[list["Answer"], dict[int, "Answer"]]:
    """The answers with each edit in place of the answer it replaces, and row id → original answer."""
    out, originals = [], {}
    for answer in answers:
        edit = edits.get(_key(answer))
        if edit is None:
            out.append(answer)
            continue
        originals[answer.row_id] = answer
        out.append(replace(answer, content=edit.content, label=edit.label, valid=edit.valid, problem=edit.problem))
    return out, originals


def parser(ws: "Workspace") -> Parser:
    """How the workspace's task reads an answer (`kinds.parse_answer`: a label, a JSON object that
    follows the schema, or free text)."""
    from distill_tui.core.task import kinds

    spec, labels = ws.spec, list(ws.data.labels)
    return lambda text: kinds.parse_answer(spec, text, labels, "stop")


def gold_content(ws: "Workspace", gold: str) -> str:
    """What the teacher would have written had it answered `gold` (a strict JSON object when structured)."""
    pr = ws.spec.prompt
    return json.dumps({pr.answer_field: gold}, ensure_ascii=False) if pr.structured else gold


def _apply(cur: "Curation", positions: Sequence[int], answers: Sequence["Answer"], edited: bool) -> None:
    """Put answers at positions of the selection model and keep its columns in step."""
    from distill_tui.core.curate.validate import TokenCounter

    counter = TokenCounter(cur.context.student)
    for p, a in zip(positions, answers):
        cur.answers[p] = a
        if a.label not in cur.answer_values:
            cur.answer_values.append(a.label)
        cur.answer_codes[p] = cur.answer_values.index(a.label)
        cur.valid[p] = bool(a.valid)
        cur.trainable[p] = a.status == "ok" and bool(a.content and a.content.strip())
        cur.refusal[p] = free_text.is_refusal(a.content, a.finish_reason, a.problem)
        cur.edited[p] = edited
        prompt = "\n".join(str(m.get("content") or "") for m in a.messages or () if m.get("role") != "system")
        cur._search[p] = (prompt + "\n" + (a.content or "")).lower()
        cur.tokens[p], cur.assistant_tokens[p] = (counter.example(a.messages or [], a.content or "")
                                                  if cur.trainable[p] else (0, 0))
        if cur.scores:
            fresh = cur.scorer(a) if cur.scorer is not None else {}
            for name, column in cur.scores.items():
                column[p] = fresh.get(name, np.nan)
        free_text.agreement(cur, [p])
    cur._text_cache = None
    cur._view = None


def edit(cur: "Curation", row_id: int, content: str, parse: Parser, *, reason: str = EDITED) -> "Answer":
    """Replace the teacher's answer of one row with `content` (saved at once); returns the new answer.

    Raises:
        UserError: the row is not a teacher answer that can be corrected, or the content is empty.
    """
    return edit_many(cur, {row_id: content}, parse, reason=reason)[0]


def edit_many(cur: "Curation", contents: Mapping[int, str], parse: Parser, *, reason: str = EDITED) -> list["Answer"]:
    """Replace the answers of several rows in one commit (see `edit`). Content equal to the teacher's
    own answer is no edit: an earlier edit of that row is dropped instead."""
    positions, answers, edits = [], [], []
    done: dict[int, "Answer"] = {}
    for row_id, content in contents.items():
        if not content.strip():
            raise UserError(f"row {row_id}: an answer cannot be empty (to leave the row out, deselect it)")
        p = cur.pos[int(row_id)]
        original = cur.originals.get(int(row_id), cur.answers[p])
        if original.status != "ok":
            raise UserError(f"row {row_id}: the request failed; there is no answer to correct")
        if content == original.content:
            revert(cur, [int(row_id)])
            done[int(row_id)] = cur.answers[p]
            continue
        parsed = parse(content)
        edits.append(AnswerEdit(original.model, original.row_id, original.prompt_hash, content, parsed.label,
                                parsed.valid, parsed.problem, reason))
        positions.append(p)
        answers.append(with_edits([original], {edits[-1].key: edits[-1]})[0][0])
        done[int(row_id)] = answers[-1]
        cur.originals[int(row_id)] = original
    if cur.store is not None and edits:
        cur.store.save_edits(edits)
    was_good = _good(cur, positions)
    _apply(cur, positions, answers, True)
    _follow_default(cur, positions, was_good)
    return [done[int(row_id)] for row_id in contents]


def _good(cur: "Curation", positions: Sequence[int]) -> np.ndarray:
    """Whether each answer is one the default selection takes: valid and not a refusal."""
    return cur.valid[positions] & ~cur.refusal[positions]


def _follow_default(cur: "Curation", positions: Sequence[int], was_good: np.ndarray) -> None:
    """A row whose answer became one the default selection takes (valid, not a refusal) is selected,
    one that stopped being one is deselected; a row that did not change that way keeps its state."""
    positions = np.asarray(positions, dtype=np.int64)
    good = _good(cur, positions)
    for value in (True, False):
        changed = positions[(good == value) & (was_good != value)]
        if len(changed):
            cur.set_rows(cur.ids[changed].tolist(), value)


def revert(cur: "Curation", row_ids: Iterable[int]) -> int:
    """Put the teacher's original answers back (the edits are removed); returns how many rows."""
    row_ids = [int(r) for r in row_ids if int(r) in cur.originals]
    originals = [cur.originals.pop(r) for r in row_ids]
    if cur.store is not None and originals:
        cur.store.drop_edits(_key(a) for a in originals)
    positions = [cur.pos[r] for r in row_ids]
    was_good = _good(cur, positions)
    _apply(cur, positions, originals, False)
    _follow_default(cur, positions, was_good)
    return len(row_ids)


def disagreeing(cur: "Curation", where: np.ndarray | None = None) -> np.ndarray:
    """Positions (among `where`, default every row) where the teacher answered a label other than the
    gold one: what "use the gold label" corrects. Invalid answers count: the gold label is a valid one."""
    ok = np.fromiter((a.status == "ok" and a.gold is not None and a.source != "imported" for a in cur.answers),
                     dtype=bool, count=cur.n)
    differs = np.fromiter((a.label != a.gold for a in cur.answers), dtype=bool, count=cur.n)
    rows = np.flatnonzero(ok & differs)
    return rows if where is None else np.intersect1d(rows, where)


def use_gold(cur: "Curation", ws: "Workspace", where: np.ndarray | None = None) -> int:
    """Put the gold label in every teacher answer (among `where`) that disagrees with it; returns how many.

    Raises:
        UserError: the task has no labels (only labelled classification has a gold label to put in).
    """
    if not cur.context.labels:
        raise UserError("only a labelled classification task has gold labels to put in")
    positions = disagreeing(cur, where)
    contents = {int(cur.ids[p]): gold_content(ws, str(cur.answers[p].gold)) for p in positions}
    edit_many(cur, contents, parser(ws), reason=GOLD)
    return len(contents)
