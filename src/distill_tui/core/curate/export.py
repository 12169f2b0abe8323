"""Export the curated selection as chat fine-tuning JSONL (OpenAI's format, which other trainers
that read `messages` also take), optionally with a stratified validation file.

An export is planned first (`plan_export`: which rows, the lines, the validation reports) and
written only when every report passes (`write_export`), atomically: a crash never leaves half a file
and a rejected file is never written. Rows held out for evaluation are never exported, and the saved
cap per label holds in every export (a `cap=N` action replaces it for that export).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from distill_tui.core.common.errors import UserError
from distill_tui.core.curate.filters import Filters, cap_drop, dedupe_drop
from distill_tui.core.curate.near_curation import near_drop
from distill_tui.core.curate.near_duplicates import DEFAULT_THRESHOLD
from distill_tui.core.curate.selection import Curation, check_cap
from distill_tui.core.curate.validate import ValidationReport, plural, validate_examples

if TYPE_CHECKING:
    from distill_tui.core.store.database import Answer, Store
    from distill_tui.core.task.spec import TaskSpec

DEFAULT_VALIDATION_FRACTION = 0.1
_MESSAGE_KEYS = ("role", "content", "name")


def example_for(answer: "Answer") -> dict[str, Any]:
    """The training line of one answer: the prompt's messages, then exactly what the teacher said
    (for structured answers, its JSON string)."""
    messages = [{k: m[k] for k in _MESSAGE_KEYS if k in m} for m in answer.messages or ()]
    return {"messages": [*messages, {"role": "assistant", "content": answer.content}]}


@dataclass
class ExportPlan:
    """What an export would write, and whether the provider would accept it."""

    source: str  # "saved selection" or "filter: …"
    train: list[str]  # JSON lines, without newlines
    validation: list[str]
    train_rows: list[int]
    validation_rows: list[int]
    train_tokens: int
    report: ValidationReport
    validation_report: ValidationReport | None
    excluded_eval: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    edited: int = 0  # corrected answers exported in place of the teacher's (curate/edits.py)
    refusals: int = 0  # exported answers that read as refusals (selected by hand)

    @property
    def ok(self) -> bool:
        return self.report.ok and (self.validation_report is None or self.validation_report.ok)

    def lines(self) -> list[str]:
        """The whole report as text lines."""
        out = [f"exporting the {self.source}: {plural(len(self.train), 'training example')}"
               + (f", {plural(len(self.validation), 'validation example')}" if self.validation_report else "")]
        if self.excluded_eval:
            out.append(f"left out {plural(self.excluded_eval, 'row')} held out for evaluation (exporting them would "
                       "leak the test set into training)")
        for what, n in self.dropped.items():
            if n:
                out.append(f"{what} dropped {plural(n, 'row')}")
        if self.edited:
            out.append(f"{plural(self.edited, 'corrected answer')} exported in place of the teacher's (originals kept)")
        if self.refusals:
            out.append(f"warning: {plural(self.refusals, 'exported answer')} read as a refusal (u on the Curate "
                       "screen lists them)")
        out += self.report.lines()
        if self.validation_report is not None:
            out += self.validation_report.lines()
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "source": self.source, "examples": len(self.train),
            "validation_examples": len(self.validation), "tokens": self.train_tokens,
            "excluded_eval": self.excluded_eval, "dropped": self.dropped, "edited": self.edited,
            "refusals": self.refusals, "report": self.report.to_json(),
            "validation_report": None if self.validation_report is None else self.validation_report.to_json(),
        }


def _rows(cur: Curation, filters: Filters | None, actions: dict[str, Any] | None) -> tuple[np.ndarray, int, dict]:
    """The positions to export, how many held-out rows were left out, and what dedupe/cap dropped."""
    dropped: dict[str, int] = {}
    if filters is None:
        wanted = cur.selected & cur.trainable
    else:
        wanted = cur.mask(filters) & cur.trainable
    excluded = int((wanted & cur.leak).sum())
    rows = wanted & ~cur.leak
    actions = actions or {}
    if actions.get("dedupe"):
        drop = dedupe_drop(cur, rows)
        rows[drop] = False
        dropped["dedupe"] = len(drop)
    for what in actions.get("near") or ():
        drop = near_drop(cur, rows, what, actions.get("near_threshold") or DEFAULT_THRESHOLD)
        rows[drop] = False
        dropped[f"near-duplicate {what}"] = len(drop)
    check_cap(cur, actions.get("cap"))
    cap = actions.get("cap") or (cur.cap if cur.context.labels else None)  # a cap saved before it was refused
    if cap:
        drop = cap_drop(cur, rows, int(cap))
        rows[drop] = False
        dropped[f"{'' if actions.get('cap') else 'saved '}cap of {cap} per label"] = len(drop)
    return np.flatnonzero(rows), excluded, dropped


def split_validation(cur: Curation, positions: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Split positions into (train, validation), seeded: stratified by the teacher's label in a
    classification task; extraction and generation answers are not classes (each its own would hold
    none out), so their rows are one group."""
    from distill_tui.core.task.dataset import split_rows
    from distill_tui.core.task.kinds import CLASSIFICATION

    if fraction <= 0 or not len(positions):
        return positions, positions[:0]
    if cur.context.kind == CLASSIFICATION:
        labels = [str(cur.answer_values[c]) for c in cur.answer_codes[positions]]
    else:
        labels = [""] * len(positions)
    held, _ = split_rows(labels, positions.tolist(), fraction, cur.context.seed)
    is_val = np.isin(positions, np.fromiter(held, np.int64, len(held)))
    return positions[~is_val], positions[is_val]


def plan_export(cur: Curation, *, filters: Filters | None = None, actions: dict[str, Any] | None = None,
                validation_fraction: float = 0.0) -> ExportPlan:
    """Plan an export of the saved selection (or of the rows `filters` match) and validate it.

    Args:
        cur: the curation.
        filters: export what these match (trainable, not held out) instead of the saved selection.
        actions: `{"dedupe": bool, "cap": int | None}` applied to the rows before export (the
            saved cap applies when no cap is given), and optionally `"near"`: fields of
            `near_curation.FIELDS` to keep one row per near-duplicate group of, at `"near_threshold"`.
        validation_fraction: share of the rows for a validation file (0: no validation file).
    """
    positions, excluded, dropped = _rows(cur, filters, actions)
    train_pos, val_pos = split_validation(cur, positions, validation_fraction)
    ctx = cur.context

    def build(where: np.ndarray, name: str, minimum: int) -> tuple[list[str], ValidationReport]:
        examples = [example_for(cur.answers[p]) for p in where.tolist()]
        lines = [json.dumps(e, ensure_ascii=False) for e in examples]
        size = sum(len(line.encode("utf-8")) + 1 for line in lines)
        counts = list(zip(cur.tokens[where].tolist(), cur.assistant_tokens[where].tolist()))
        report = validate_examples(examples, model=ctx.student, token_limit=ctx.token_limit, name=name,
                                   min_examples=minimum, file_bytes=size, token_counts=counts)
        return lines, report

    train, report = build(train_pos, "training", 10)
    validation, val_report = ([], None)
    if validation_fraction > 0:
        validation, val_report = build(val_pos, "validation", 1)
    source = "saved selection" if filters is None else f"rows matching {filters.describe()}"
    cap = (actions or {}).get("cap") or cur.cap
    return ExportPlan(
        source=source + (f", at most {cap} per label" if cap else ""),
        train=train, validation=validation,
        train_rows=cur.ids[train_pos].tolist(), validation_rows=cur.ids[val_pos].tolist(),
        train_tokens=int(np.minimum(cur.tokens[train_pos], ctx.token_limit).sum()),
        report=report, validation_report=val_report, excluded_eval=excluded, dropped=dropped,
        edited=int(cur.edited[positions].sum()), refusals=int(cur.refusal[positions].sum()),
    )


def default_path(spec: "TaskSpec", now: dt.datetime | None = None) -> Path:
    """A new file name in the workspace's export folder, e.g. `demo-20261121-153000.jsonl`."""
    from distill_tui import locations

    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return locations.exports_dir(spec.source) / f"{spec.source.stem}-{stamp}.jsonl"


def validation_path_for(output: str | Path) -> Path:
    """The validation file written beside a training file: `train.jsonl` → `train-validation.jsonl`."""
    path = Path(output).expanduser()
    return path.with_name(path.stem + "-validation.jsonl")


def check_paths(output: str | Path, validation: str | Path | None) -> tuple[Path, Path | None]:
    """Resolve and check output paths (".jsonl", distinct, not folders).

    Raises:
        UserError: naming the path that cannot be used.
    """
    out = Path(output).expanduser()
    val = Path(validation).expanduser() if validation else None
    for path in (out, val):
        if path is None:
            continue
        if path.suffix.lower() != ".jsonl":
            raise UserError(f"{path}: fine-tuning files must end in .jsonl")
        if path.is_dir():
            raise UserError(f"{path}: is a folder, not a file")
    if val is not None and val.resolve() == out.resolve():
        raise UserError(f"{out}: the training and validation files must differ")
    return out, val


def _write_temp(path: Path, lines: list[str]) -> Path:
    from distill_tui import locations

    locations.make_output_dir(path.parent)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for line in lines:
                handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return Path(temp)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    validation_path: Path | None
    examples: int
    validation_examples: int
    tokens: int


def write_export(plan: ExportPlan, output: str | Path, validation: str | Path | None = None,
                 store: "Store | None" = None) -> ExportResult:
    """Write a planned export (and record it in the store).

    Raises:
        UserError: the plan would be rejected (nothing is written), or a path cannot be used.
    """
    if not plan.ok:
        raise UserError("the export would be rejected; nothing written: " + "; ".join(
            plan.report.error_messages() + (plan.validation_report.error_messages() if plan.validation_report else [])
        ))
    out, val = check_paths(output, validation if plan.validation_report is not None else None)
    temps: list[tuple[Path, Path]] = []
    try:
        temps.append((_write_temp(out, plan.train), out))
        if val is not None:
            temps.append((_write_temp(val, plan.validation), val))
    except OSError as exc:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)
        raise UserError(f"{out.parent}: cannot write the export ({exc.strerror or exc})") from None
    for temp, final in temps:
        os.replace(temp, final)
    if store is not None and not getattr(store, "read_only", False):
        store.record_export(str(out.resolve()), len(plan.train), plan.train_tokens,
                            str(val.resolve()) if val else None, len(plan.validation))
    return ExportResult(out, val, len(plan.train), len(plan.validation), plan.train_tokens)
