"""Calibration of graders and judges by a person: how well each grader agrees with the grades a person
gave to held-out answers (`store.human_grades`).

Pass/fail grades are compared with the grader's verdict (its score at or above its threshold) by
Cohen's kappa; 1–5 grades with the grader's score by Spearman's rho (`agreement`). Both are pooled
over every model's graded answers (a person grades answers, whoever wrote them), and each carries its
n and, when it is low or n is small, `agreement`'s warning line.

Only the graded answers are scored here, and only by graders that need no request: the local graders
and the saved verdicts of rubric judges. An embedding grader (a request per text) and a pairwise judge
(which compares two answers, not one) are not calibrated, and say so.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from distill_tui.core.common import atomic_file
from distill_tui.core.common.errors import UserError
from distill_tui.core.evaluate.agreement import LOW_KAPPA, LOW_N, LOW_RHO, Agreement, as_dict, cohen_kappa, spearman
from distill_tui.core.store.human_grades import PASS_FAIL, SCORE, HumanGrade

if TYPE_CHECKING:
    from distill_tui.core.task.graders_spec import GraderSpec
    from distill_tui.core.workspace.workspace import Workspace

LOCAL = ("exact", "contains", "regex", "fuzzy", "chrf", "bleu", "rouge_l", "json_fields")
NOT_CALIBRATED = {
    "embedding": "an embedding grader is not calibrated here (it would ask the provider for every text)",
    "pairwise": "a pairwise judge compares two answers; a person's grade is of one",
}
EXPORT_FORMATS = ("csv", "jsonl")

Scored = Mapping[tuple[str, int], "tuple[float, bool] | None"]
"""(model, row id) → the grader's (score, passed) for that answer (None: the judge's reply was invalid)."""


@dataclass(frozen=True)
class GraderAgreement:
    """One grader against the person: kappa over pass/fail grades, Spearman over 1–5 grades."""

    grader: str
    kappa: Agreement | None = None
    spearman: Agreement | None = None
    note: str | None = None  # why the grader is not calibrated
    models: dict[str, "GraderAgreement"] = field(default_factory=dict)  # the same over one model's answers

    def measures(self) -> list[Agreement]:
        return [a for a in (self.kappa, self.spearman) if a is not None and (a.n or a.invalid)]

    def short(self) -> str:
        """'kappa 0.62, n 12' / 'Spearman 0.48, n 9, uncertain' (both when the person used both scales;
        'poor', 'uncertain' or 'not defined' where `Agreement.warning` has a warning)."""
        parts = []
        for a in self.measures():
            name = "kappa" if a.kind == "kappa" else "Spearman"
            low = LOW_KAPPA if a.kind == "kappa" else LOW_RHO
            flag = ("not defined" if a.value is None else "poor" if a.value < low
                    else "uncertain" if a.n < LOW_N else "")
            parts.append(f"{name} {'–' if a.value is None else f'{a.value:.2f}'}, n {a.n}" + (f", {flag}" if flag else ""))
        return "; ".join(parts)

    def lines(self) -> list[str]:
        """The agreement in words, then one warning line per measure that is low or rests on few rows."""
        if self.note:
            return [f"vs the person: {self.grader} not calibrated: {self.note}"]
        out = []
        for a in self.measures():
            name, scale = ("kappa", "pass/fail") if a.kind == "kappa" else ("Spearman", "1-5")
            value = "not defined" if a.value is None else f"{a.value:.2f}"
            interval = (f" ({a.ci_low:.2f} to {a.ci_high:.2f})" if a.ci_low is not None and a.ci_high is not None
                        else "")
            invalid = f", {a.invalid} without a grader score" if a.invalid else ""
            out.append(f"vs the person: {self.grader} {name} {value}{interval}, n {a.n} {scale} grades{invalid}")
            warning = a.warning()
            if warning:
                out.append(f"warning: {self.grader}: {warning}")
        return out

    def to_json(self) -> dict[str, Any]:
        out = {"kappa": as_dict(self.kappa) if self.kappa else None,
               "spearman": as_dict(self.spearman) if self.spearman else None,
               "note": self.note,
               "warnings": [w for w in (a.warning() for a in self.measures()) if w]}
        if self.models:
            out["by_model"] = {m: a.to_json() for m, a in self.models.items()}
        return out


def agreement_of(grader: str, grades: Sequence[HumanGrade], scored: Scored) -> GraderAgreement:
    """A grader's agreement with the person's `grades`, given its scores of the graded answers."""
    person_pass, grader_pass, person_score, grader_score = [], [], [], []
    for g in grades:
        got = scored.get((g.model, g.row_id))
        if g.scale == PASS_FAIL:
            person_pass.append(bool(g.grade))
            grader_pass.append(None if got is None else bool(got[1]))
        elif g.scale == SCORE:
            person_score.append(float(g.grade))
            grader_score.append(None if got is None else float(got[0]))
    return GraderAgreement(
        grader,
        kappa=cohen_kappa(person_pass, grader_pass) if person_pass else None,
        spearman=spearman(person_score, grader_score) if person_score else None,
    )


def current_grades(ws: "Workspace") -> list[HumanGrade]:
    """The person's grades of answers to today's held-out prompts (a grade of an answer to an older
    prompt is kept but not counted: that answer is no longer the row's)."""
    from distill_tui.core.evaluate.heldout import eval_rows

    saved = ws.store.human_grades()
    if not saved:  # the usual case: no pass over the eval rows' prompts
        return []
    hashes = eval_rows(ws).hashes
    return [g for g in saved.values() if hashes.get(g.row_id) == g.prompt_hash]


def _scored(ws: "Workspace", spec: "GraderSpec", grades: Sequence[HumanGrade]) -> Scored:
    """The grader's (score, passed) of each graded answer that has a target."""
    from distill_tui.core.evaluate import heldout

    held = heldout.gather(ws, sorted({g.model for g in grades}))
    targets, answers = held.targets(), held.answers()
    keys = [(g.model, g.row_id) for g in grades
            if targets.get(g.row_id) is not None and g.row_id in answers.get(g.model, {})]
    if spec.type == "rubric":
        from distill_tui.core.evaluate import judging

        found = judging.verdicts(ws, judging.plan_held(ws, spec, held))
        out: dict[tuple[str, int], tuple[float, bool] | None] = {}
        for key in keys:
            if key in found:
                score = found[key].score
                out[key] = None if score is None else (score, score >= spec.threshold)
        return out
    from distill_tui.core.evaluate.graders import grade

    got = grade(spec, [answers[m][r] for m, r in keys], [targets[r] for _, r in keys])
    return {key: (g.score, g.passed) for key, g in zip(keys, got)}


def calibrate(ws: "Workspace", grades: Sequence[HumanGrade] | None = None) -> dict[str, GraderAgreement]:
    """Grader name → its agreement with the person's grades of today's held-out answers ({} when
    nobody graded any)."""
    grades = current_grades(ws) if grades is None else list(grades)
    if not grades:
        return {}
    out = {}
    for spec in ws.spec.graders:
        if spec.type in NOT_CALIBRATED:
            out[spec.name] = GraderAgreement(spec.name, note=NOT_CALIBRATED[spec.type])
            continue
        scored = _scored(ws, spec, grades)
        models = {m: agreement_of(spec.name, [g for g in grades if g.model == m], scored)
                  for m in dict.fromkeys(g.model for g in grades)}
        pooled = agreement_of(spec.name, grades, scored)
        out[spec.name] = GraderAgreement(spec.name, pooled.kappa, pooled.spearman, models=models)
    return out


SAMPLE_SIZE = 30
"""Rows a person is asked to grade in a sample: `agreement.LOW_N`, below which a figure is uncertain."""


def sample_rows(row_ids: Sequence[int], n: int = SAMPLE_SIZE, seed: int = 0) -> list[int]:
    """A seeded random sample of `n` rows (all of them when there are fewer), in the order to grade
    them: the same rows and order for the same rows and seed, so a sample resumes after a restart."""
    import random

    ids = sorted(set(row_ids))
    return random.Random(seed).sample(ids, min(n, len(ids)))


def lines_by_grader(agreements: Mapping[str, GraderAgreement]) -> dict[str, list[str]]:
    return {name: a.lines() for name, a in agreements.items()}


def add_to_json(payload: dict[str, Any], grades: Sequence[HumanGrade],
                agreements: Mapping[str, GraderAgreement]) -> dict[str, Any]:
    """`eval --json` with the person's grades (`human_grades`) and each grader's agreement with them:
    pooled over every model at the top (`calibration`, with `by_model`), and beside every model's score
    over that model's graded answers (`scores[grader].human_agreement`; null when none of them was graded)."""
    payload["human_grades"] = [g.to_json() for g in grades]
    payload["calibration"] = {name: a.to_json() for name, a in agreements.items()}
    for model in payload.get("models", []):
        for name, score in (model.get("scores") or {}).items():
            if name in agreements and isinstance(score, dict):
                own = agreements[name].models.get(model.get("model", ""))
                score["human_agreement"] = own.to_json() if own is not None else None
    return payload


def model_lines(agreements: Mapping[str, GraderAgreement]) -> dict[tuple[str, str], str]:
    """(grader, model) → '  vs the person: kappa 0.67, n 6, uncertain', for the models a person graded."""
    return {(name, model): f"  vs the person: {a.short()}"
            for name, ga in agreements.items() for model, a in ga.models.items() if a.measures()}


def export_text(grades: Sequence[HumanGrade], fmt: str) -> str:
    """The grades as CSV (a header line) or JSON Lines, one grade a line."""
    if fmt == "jsonl":
        return "".join(json.dumps(g.to_json(), ensure_ascii=False) + "\n" for g in grades)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(HumanGrade.__dataclass_fields__), lineterminator="\n")
    writer.writeheader()
    for g in grades:
        writer.writerow(g.to_json())
    return buffer.getvalue()


def export(grades: Sequence[HumanGrade], path: str | Path) -> Path:
    """Write the grades to `path` (.csv or .jsonl), atomically.

    Raises:
        UserError: another suffix, or the file cannot be written.
    """
    target = Path(path).expanduser()
    fmt = target.suffix.lstrip(".").lower()
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"{target}: human grades export must be .csv or .jsonl, not {target.suffix or 'no suffix'!r}")
    return atomic_file.write_text(target, export_text(grades, fmt), "the human grades")
