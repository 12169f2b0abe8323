"""The comparison table: every model of interest scored on the same held-out eval rows.

Definitions (the table, the exports and `eval --json` all use these):

- **eval rows**: the rows of the current split marked "eval"; they are never training rows.
- **n**: eval rows the model answered (request status "ok"), valid or not. Failed requests and rows
  never asked are *not* in n and are *not* counted as wrong: they are reported as `failed` and
  `missing`, and `coverage` = n / eval rows says how much of the split the accuracy covers.
- **correct**: a valid answer (one of the labels) equal to the gold label. An invalid answer (not a
  label, unparsable, refusal) is a wrong answer and also counted in `invalid_rate` = invalid / n.
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

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from distill_tui.core.common.errors import UserError
from distill_tui.core.evaluate import stats

if TYPE_CHECKING:
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

    def to_json(self) -> dict[str, Any]:
        # p-values keep every digit: a tiny p rounded to 0.0 would claim certainty.
        return {k: round(v, 6) if isinstance(v, float) and k != "p_value_vs_base" else v
                for k, v in asdict(self).items()}


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
class LeakCheck:
    """Whether any eval row is among the rows used (or about to be used) for training."""

    eval_rows: int
    leaked: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # what was checked, in words
    problems: list[str] = field(default_factory=list)  # where leaked rows were found, in words

    @property
    def ok(self) -> bool:
        return not self.leaked

    def line(self) -> str:
        """One line for the table's header."""
        if self.ok:
            checked = f" (checked: {', '.join(self.sources)})" if self.sources else ""
            return f"{self.eval_rows:,} eval rows, disjoint from training rows{checked}"
        return (f"WARNING: {len(self.leaked)} of {self.eval_rows:,} eval rows are in training data "
                f"({'; '.join(self.problems)}): the distilled scores are optimistic")


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
                           "problems": self.leak.problems},
            "prices_as_of": self.prices_as_of,
            "created_at": round(self.created_at, 3),
            "skipped": [{"model": m.name, "role": m.role, "note": m.note, "reason": m.skip} for m in self.skipped],
        }
        if details:
            out["details"] = {m: d.to_json() for m, d in self.details.items()}
        return out


@dataclass(frozen=True)
class _EvalRows:
    hashes: dict[int, str]
    gold: dict[int, str]


def _eval_rows(ws: "Workspace") -> _EvalRows:
    from distill_tui.core.task.requests import iter_requests

    # The prompt hash leaves the model out by design, so one pass serves every model.
    hashes, gold = {}, {}
    for request in iter_requests(ws.spec, ws.data, ws.spec.teacher.model, "eval"):
        hashes[request.row_id] = request.prompt_hash
        gold[request.row_id] = request.gold
    if not hashes:
        raise UserError(f"{ws.spec.source}: no held-out eval rows: set [dataset] eval_fraction above 0")
    return _EvalRows(hashes, gold)


def _prediction(answer: "Answer") -> str | None:
    return answer.label if answer.valid else None


def _is_correct(answer: "Answer", gold: str) -> bool:
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
    correct = sum(_is_correct(a, rows.gold[a.row_id]) for a in ok)
    invalid = sum(not a.valid for a in ok)
    accuracy = _ratio(correct, n)
    low, high = stats.wilson_interval(correct, n) if n else (None, None)
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
            wins, losses = stats.paired_counts([_is_correct(by_row[r], rows.gold[r]) for r in shared],
                                               [_is_correct(base[r], rows.gold[r]) for r in shared])
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
        ci_low=low, ci_high=high, accuracy_all=_ratio(correct, total), invalid_rate=_ratio(invalid, n),
        coverage=n / total, agreement_with_teacher=agreement, agreement_n=agreement_n,
        p_value_vs_base=p_value, paired_n=paired_n, wins_vs_base=wins, losses_vs_base=losses,
        latency_mean_s=sum(latencies) / len(latencies) if latencies else None,
        latency_p95_s=stats.percentile(latencies, 95), cost_per_1k_usd=_cost_per_1k(ws, model.name, ok),
        spent_usd=_spent(answers), note=model.note, last_error=last_error,
        reason=reason if status != "ok" else None, served=model.served,
    )


def class_report(model: str, answers: Iterable["Answer"], gold: dict[int, str], k: int = TOP_CONFUSIONS) -> ClassReport:
    """Per-class scores and confusions over the rows a model answered (failed rows left out)."""
    ok = [a for a in answers if a.status == "ok" and a.row_id in gold]
    golds = [gold[a.row_id] for a in ok]
    shown = [a.label if a.valid else INVALID for a in ok]  # type: ignore[misc]
    classes = stats.per_class(golds, [_prediction(a) for a in ok])
    matrix = {(g, p): c for (g, p), c in stats.confusion(golds, shown).items()}  # type: ignore[misc]
    gold_labels = [c.label for c in classes if c.n]
    others = sorted({p for _, p in matrix} - set(gold_labels) - {INVALID})
    predicted = gold_labels + others + ([INVALID] if any(p == INVALID for _, p in matrix) else [])
    return ClassReport(model, len(ok), classes, stats.top_confusions(golds, shown, k), matrix, gold_labels, predicted)


def leak_check(ws: "Workspace", eval_ids: Iterable[int]) -> LeakCheck:
    """Look for eval rows among the rows selected for training and in the exported training files.

    Exported files carry no row ids, so their user messages are compared with the eval rows' user
    messages as the current template renders them (a file written under another template cannot be
    checked this way, and says so).
    """
    from distill_tui.core.task.requests import iter_requests

    eval_set = set(eval_ids)
    check = LeakCheck(eval_rows=len(eval_set))
    leaked: set[int] = set()
    selected = {r for r, on in ws.store.selections().items() if on}
    check.sources.append("curated selection")
    in_selection = selected & eval_set
    if in_selection:
        leaked |= in_selection
        check.problems.append(f"{len(in_selection)} selected for training")
    exports = ws.store.exports()
    if exports:
        by_text: dict[str, int] = {}
        for request in iter_requests(ws.spec, ws.data, ws.spec.student.model, "eval"):
            user = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), None)
            if user is not None:
                by_text[user] = request.row_id
        files = 0
        # An export written twice to the same file is one file to check (and to name).
        paths = dict.fromkeys(p for r in exports for p in (r.get("path"), r.get("validation_path")) if p)
        for path in paths:
            found = _rows_in_file(path, by_text)
            if found is None:
                continue
            files += 1
            if found:
                leaked |= found
                check.problems.append(f"{len(found)} in {path}")
        if files:
            check.sources.append(f"{files} exported file{'s' if files != 1 else ''}")
    check.leaked = sorted(leaked)
    return check


def _rows_in_file(path: str | None, by_text: dict[str, int]) -> set[int] | None:
    """Eval row ids whose user message appears in a training JSONL file; None if it cannot be read."""
    if not path:
        return None
    found: set[int] = set()
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    messages = json.loads(line).get("messages") or []
                except (json.JSONDecodeError, AttributeError):
                    continue
                for message in messages:
                    if isinstance(message, dict) and message.get("role") == "user":
                        row = by_text.get(message.get("content"))  # type: ignore[arg-type]
                        if row is not None:
                            found.add(row)
    except OSError:
        return None
    return found


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
    failures, reasons = failures or {}, dict(reasons or {})
    if ws.spec.generation.budget_usd is not None:  # the engine refuses these before asking anything
        reasons.update({m.name: NO_PRICE for m in models if m.name not in reasons and ws.prices.price(m.name) is None})
    table_rows = [_score(ws, m, answers[m.name], rows, teacher, base, failures.get(m.name), reasons.get(m.name))
                  for m in models]
    details = {m.name: class_report(m.name, answers[m.name], rows.gold) for m in models}
    return ComparisonTable(
        spec=str(ws.spec.source),
        eval_rows=len(rows.hashes),
        labels=list(ws.data.labels),
        rows=table_rows,
        details=details,
        leak=leak_check(ws, rows.hashes),
        prices_as_of=ws.prices.as_of,
        skipped=skipped,
    )
