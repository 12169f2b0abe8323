"""The comparison table: every model of interest scored on the same held-out eval rows.

Definitions (the table, the exports and `eval --json` all use these):

- **eval rows**: the rows of the current split marked "eval"; they are never training rows.
- **n**: eval rows the model answered (request status "ok"), valid or not. Failed requests and rows
  never asked are *not* in n and are *not* counted as wrong: they are reported as `failed` and
  `missing`, and `coverage` = n / eval rows says how much of the split the accuracy covers.
- **correct**: a valid answer (one of the labels) equal to the gold label. An invalid answer (not a
  label, unparsable, refusal) is a wrong answer and also counted in `invalid_rate` = invalid / n.
  Extraction and generation (`kind`): a valid answer equal to the row's target (`heldout.same_answer`:
  JSON by value, free text normalised), the target being the reference, or the teacher's answer when
  the data has none (`against` = "teacher": the teacher itself then gets no accuracy).
- **accuracy** = correct / n with its 95 % Wilson interval; `accuracy_all` = correct / eval rows
  (missing rows counted as wrong, as the cookbook did) is given alongside. None when n is 0: a
  model whose every request failed is reported with status "failed", never as 0 %.
- **agreement with the teacher**: share of rows both answered where both gave the same valid label.
- **p vs base**: exact two-sided McNemar test against the base student on the rows both answered
  (None for the base student itself).
- **latency**: mean and 95th percentile of request latency over answered rows.
- **cost per 1k**: 1,000 predictions of the model's mean prompt and answer tokens at the list
  (uncached, non-batch) price; None when the price is unknown.
- **spent**: the sum of what the saved answers cost.
- **reason**: why a model's missing rows are not asked and running again will not help (no price
  while a budget is set, the budget spent); a model left out of the table altogether (a job
  trained on another provider) is listed under `skipped` with its reason.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from distill_tui.core.evaluate import graded, heldout, stats
from distill_tui.core.evaluate.heldout import EvalRows as _EvalRows
from distill_tui.core.evaluate.heldout import eval_rows as _eval_rows
from distill_tui.core.evaluate.leak import LeakCheck, leak_check
from distill_tui.core.task import kinds

if TYPE_CHECKING:
    from distill_tui.core.evaluate.scoring import GraderScore
    from distill_tui.core.store.database import Answer
    from distill_tui.core.workspace.workspace import Workspace

TEACHER, BASE, DISTILLED, CHECKPOINT, EXTRA = "teacher", "base student", "distilled", "checkpoint", "extra"
ROLES = (TEACHER, BASE, DISTILLED, CHECKPOINT, EXTRA)
INVALID = "(invalid)"
"""How an answer that is not one of the labels shows among the confusions."""
TOP_CONFUSIONS = 10
NO_PRICE = ("no price for this model, so the budget cannot be held — add it to prices.toml "
            "or remove budget_usd")
"""Why a model is not asked while `budget_usd` is set (the engine refuses it, as in generation)."""


@dataclass(frozen=True)
class EvalModel:
    """A model to evaluate and why it is in the table."""

    name: str
    role: str
    note: str | None = None  # e.g. the job id or checkpoint step
    skip: str | None = None  # why it is left out of the run and the table (shown as a note)
    served: str | None = None  # a student served here for evaluation: how its answers were constrained


@dataclass
class ModelRow:
    """One line of the comparison table (see the module docstring for every definition)."""

    model: str
    role: str
    status: str  # "ok", "partial", "failed", "not run"
    eval_rows: int
    n: int
    correct: int
    invalid: int
    failed: int
    missing: int
    accuracy: float | None
    ci_low: float | None
    ci_high: float | None
    accuracy_all: float | None
    invalid_rate: float | None
    coverage: float
    agreement_with_teacher: float | None
    agreement_n: int
    p_value_vs_base: float | None
    paired_n: int
    wins_vs_base: int  # rows this model got right and the base student wrong
    losses_vs_base: int  # rows the base student got right and this model wrong
    latency_mean_s: float | None
    latency_p95_s: float | None
    cost_per_1k_usd: float | None
    spent_usd: float | None
    note: str | None = None
    last_error: str | None = None
    reason: str | None = None  # why the rows left are not asked (running again does not help)
    served: str | None = None  # served here for evaluation: how its structured answers were constrained
    scores: dict[str, "GraderScore"] = field(default_factory=dict)  # grader name → its scores (core.evaluate.scoring)

    def to_json(self) -> dict[str, Any]:
        # p-values keep every digit: a tiny p rounded to 0.0 would claim certainty.
        out = {k: round(v, 6) if isinstance(v, float) and k != "p_value_vs_base" else v
               for k, v in asdict(self).items() if k != "scores"}
        return {**out, "scores": {name: score.to_json() for name, score in self.scores.items()}}


@dataclass
class ClassReport:
    """Per-class accuracy and confusions of one model on the rows it answered."""

    model: str
    n: int
    classes: list[stats.ClassStats]
    confusions: list[tuple[str, str, int]]  # (gold, predicted, count), largest first
    matrix: dict[tuple[str, str], int]  # (gold, predicted) → count, the diagonal included
    gold_labels: list[str]  # matrix rows, most frequent first
    predicted_labels: list[str]  # matrix columns: the gold labels, then any others, then INVALID

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "n": self.n,
            "per_class": [
                {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(c).items()} for c in self.classes
            ],
            "top_confusions": [{"gold": g, "predicted": p, "count": n} for g, p, n in self.confusions],
        }


@dataclass
class ComparisonTable:
    """The whole comparison: one row per model, the per-class detail of each, and the leak check."""

    spec: str
    eval_rows: int
    labels: list[str]
    rows: list[ModelRow]
    details: dict[str, ClassReport]
    leak: LeakCheck
    prices_as_of: str
    created_at: float = field(default_factory=time.time)
    skipped: list[EvalModel] = field(default_factory=list)
    kind: str = kinds.CLASSIFICATION
    against: str = "label"  # what accuracy compares with: "label", "reference" or "teacher" (its answers)

    def measure(self) -> str:
        """What accuracy means in this table, in words."""
        if self.kind == kinds.CLASSIFICATION:
            return "accuracy: the answer is the gold label"
        how = "the JSON answer equals" if self.kind == kinds.EXTRACTION else "exact match (normalised) with"
        if self.against == heldout.TEACHER:
            return f"accuracy: {how} the teacher's answer (no reference column: the teacher's answers are the targets)"
        return f"accuracy: {how} the reference answer"

    def row(self, model: str) -> ModelRow | None:
        return next((r for r in self.rows if r.model == model), None)

    @property
    def complete(self) -> bool:
        """Every model answered every eval row."""
        return all(r.status == "ok" for r in self.rows)

    def to_json(self, *, details: bool = False) -> dict[str, Any]:
        """The `eval --json` object (with `details`, per-class results for every model too)."""
        out: dict[str, Any] = {
            "models": [r.to_json() for r in self.rows],
            "spec": self.spec,
            "eval_rows": self.eval_rows,
            "labels": len(self.labels),
            "complete": self.complete,
            "leak_check": {"ok": self.leak.ok, "leaked_rows": self.leak.leaked, "checked": self.leak.sources,
                           "problems": self.leak.problems,
                           "near_duplicates": self.leak.near.to_json() if self.leak.near else None},
            "prices_as_of": self.prices_as_of,
            "created_at": round(self.created_at, 3),
            "skipped": [{"model": m.name, "role": m.role, "note": m.note, "reason": m.skip} for m in self.skipped],
            "kind": self.kind,
            "against": self.against,
        }
        if details:
            out["details"] = {m: d.to_json() for m, d in self.details.items()}
        return out


def _prediction(answer: "Answer") -> str | None:
    return answer.label if answer.valid else None


def _is_correct(answer: "Answer", gold: str | None, kind: str = kinds.CLASSIFICATION) -> bool:
    if kind != kinds.CLASSIFICATION:
        return heldout.same_answer(kind, heldout.answer_text(answer), gold)
    return bool(answer.valid and answer.label == gold)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _cost_per_1k(ws: "Workspace", model: str, ok: Sequence["Answer"]) -> float | None:
    price = ws.prices.price(model)
    if price is None or not ok:
        return None
    mean_in = sum(a.prompt_tokens for a in ok) / len(ok)
    mean_out = sum(a.completion_tokens for a in ok) / len(ok)
    return price.cost(round(mean_in * 1000), round(mean_out * 1000))


def _spent(answers: Sequence["Answer"]) -> float | None:
    known = [a.cost_usd for a in answers if a.cost_usd is not None]
    # Answers with no recorded cost mean an unknown price; failed requests are not billed.
    if not known and any(a.status == "ok" for a in answers):
        return None
    return float(sum(known))


def _score(
    ws: "Workspace",
    model: EvalModel,
    answers: list["Answer"],
    rows: _EvalRows,
    teacher: dict[int, "Answer"] | None,
    base: dict[int, "Answer"] | None,
    failure: str | None = None,
    reason: str | None = None,
) -> ModelRow:
    total = len(rows.hashes)
    ok = [a for a in answers if a.status == "ok"]
    failed = [a for a in answers if a.status != "ok"]
    n = len(ok)
    kind = ws.spec.kind
    correct = sum(_is_correct(a, rows.gold[a.row_id], kind) for a in ok)
    invalid = sum(not a.valid for a in ok)
    # Without references the teacher's answers are the targets: the teacher has no accuracy of its own.
    own_target = model.role == TEACHER and against(ws) == heldout.TEACHER
    accuracy = None if own_target else _ratio(correct, n)
    low, high = stats.wilson_interval(correct, n) if n and not own_target else (None, None)
    by_row = {a.row_id: a for a in ok}

    agreement, agreement_n = None, 0
    if teacher is not None and model.role != TEACHER:
        shared = sorted(by_row.keys() & teacher.keys())
        agreement_n = len(shared)
        agreement = stats.agreement([_prediction(by_row[r]) for r in shared],
                                    [_prediction(teacher[r]) for r in shared])

    p_value, paired_n, wins, losses = None, 0, 0, 0
    if base is not None and model.role != BASE:
        shared = sorted(by_row.keys() & base.keys())
        paired_n = len(shared)
        if shared:
            wins, losses = stats.paired_counts([_is_correct(by_row[r], rows.gold[r], kind) for r in shared],
                                               [_is_correct(base[r], rows.gold[r], kind) for r in shared])
            p_value = stats.mcnemar_exact(wins, losses)

    latencies = [a.latency_s for a in ok if a.latency_s is not None]
    if n == 0:
        status = "failed" if failed or failure else "not run"
    else:
        status = "ok" if n == total else "partial"
    last_error = failure or next((a.error for a in reversed(failed) if a.error), None)
    return ModelRow(
        model=model.name, role=model.role, status=status, eval_rows=total, n=n, correct=correct,
        invalid=invalid, failed=len(failed), missing=total - n - len(failed), accuracy=accuracy,
        ci_low=low, ci_high=high, accuracy_all=None if own_target else _ratio(correct, total), invalid_rate=_ratio(invalid, n),
        coverage=n / total, agreement_with_teacher=agreement, agreement_n=agreement_n,
        p_value_vs_base=p_value, paired_n=paired_n, wins_vs_base=wins, losses_vs_base=losses,
        latency_mean_s=sum(latencies) / len(latencies) if latencies else None,
        latency_p95_s=stats.percentile(latencies, 95), cost_per_1k_usd=_cost_per_1k(ws, model.name, ok),
        spent_usd=_spent(answers), note=model.note, last_error=last_error,
        reason=reason if status != "ok" else None, served=model.served,
    )


def against(ws: "Workspace") -> str:
    """What accuracy compares answers with: "label" (classification), "reference" (the data's
    reference column) or "teacher" (no reference: the teacher's answers)."""
    if ws.spec.kind == kinds.CLASSIFICATION:
        return "label"
    return heldout.REFERENCE if ws.data.label_column is not None else heldout.TEACHER


def _targets(ws: "Workspace", rows: _EvalRows, teacher: dict[int, "Answer"] | None) -> _EvalRows:
    """`rows` with the teacher's answer texts as the gold when the data has no reference."""
    if against(ws) != heldout.TEACHER:
        return rows
    teacher = teacher or {}
    return _EvalRows(rows.hashes, {r: heldout.answer_text(teacher[r]) if r in teacher else None for r in rows.hashes})


def class_report(model: str, answers: Iterable["Answer"], gold: dict[int, str | None], k: int = TOP_CONFUSIONS,
                 kind: str = kinds.CLASSIFICATION) -> ClassReport:
    """Per-class scores and confusions over the rows a model answered (failed rows left out); empty
    for extraction and generation, whose answers are not classes."""
    if kind != kinds.CLASSIFICATION:
        return ClassReport(model, 0, [], [], {}, [], [])
    ok = [a for a in answers if a.status == "ok" and a.row_id in gold]
    golds = [gold[a.row_id] for a in ok]
    shown = [a.label if a.valid else INVALID for a in ok]  # type: ignore[misc]
    classes = stats.per_class(golds, [_prediction(a) for a in ok])
    matrix = {(g, p): c for (g, p), c in stats.confusion(golds, shown).items()}  # type: ignore[misc]
    gold_labels = [c.label for c in classes if c.n]
    others = sorted({p for _, p in matrix} - set(gold_labels) - {INVALID})
    predicted = gold_labels + others + ([INVALID] if any(p == INVALID for _, p in matrix) else [])
    return ClassReport(model, len(ok), classes, stats.top_confusions(golds, shown, k), matrix, gold_labels, predicted)


def build_table(ws: "Workspace", models: Sequence[EvalModel], failures: Mapping[str, str] | None = None,
                reasons: Mapping[str, str] | None = None) -> ComparisonTable:
    """Score every model on the eval rows from the answers saved in the workspace.

    Args:
        models: the models of interest; those with a `skip` reason go to `skipped`, not the rows.
        failures: model → why its last run stopped (a fatal error such as an unknown model, which
            saves no answer): such a model is reported as failed rather than not run.
        reasons: model → why the last run did not ask its rows (see `EvalRun.reasons`); a model
            without a known price while a budget is set gets `NO_PRICE` without a run.

    Raises:
        UserError: the spec holds out no eval rows (or the data cannot be prepared).
    """
    skipped = [m for m in models if m.skip]
    models = [m for m in models if not m.skip]
    rows = _eval_rows(ws)
    # The hashes of today's eval rows pick the answers: an answer saved while its row was a train row
    # (before eval_fraction changed) is the same paid answer to the same prompt.
    answers = {m.name: ws.store.answers(model=m.name, prompt_hashes=rows.hashes) for m in models}

    def answered(role: str) -> dict[int, "Answer"] | None:
        model = next((m for m in models if m.role == role), None)
        if model is None:
            return None
        return {a.row_id: a for a in answers[model.name] if a.status == "ok"}

    teacher, base = answered(TEACHER), answered(BASE)
    first = {m.role: m.name for m in reversed(models)}  # the first model of each role
    scores = graded.table_scores(ws, answers, rows.gold, first.get(TEACHER), first.get(BASE))
    rows = _targets(ws, rows, teacher)
    failures, reasons = failures or {}, dict(reasons or {})
    if ws.spec.generation.budget_usd is not None:  # the engine refuses these before asking anything
        reasons.update({m.name: NO_PRICE for m in models if m.name not in reasons and ws.prices.price(m.name) is None})
    table_rows = [_score(ws, m, answers[m.name], rows, teacher, base, failures.get(m.name), reasons.get(m.name))
                  for m in models]
    for row in table_rows:
        row.scores = scores.get(row.model, {})
    details = {m.name: class_report(m.name, answers[m.name], rows.gold, kind=ws.spec.kind) for m in models}
    return ComparisonTable(
        spec=str(ws.spec.source),
        eval_rows=len(rows.hashes),
        labels=list(ws.data.labels),
        rows=table_rows,
        details=details,
        leak=leak_check(ws, rows.hashes),
        prices_as_of=ws.prices.as_of,
        skipped=skipped,
        kind=ws.spec.kind,
        against=against(ws),
    )
