"""Scores of every model under every grader, with honest statistics.

Pure: given the graders, each row's reference (or the teacher's answer when the data has none),
each model's answers and the base student's name, it returns per model and grader the mean score
with its bootstrap 95 % interval, the pass rate, n, and the paired comparison with the base student
(`score_stats`). Nothing here reads the workspace; `comparison.build_table` feeds it.

Definitions (`eval --json` `models[].scores`):

- **n**: rows the model answered (request status "ok") that have a reference; an answer with no
  usable content scores 0, failed and missing rows are left out, as for accuracy.
- **mean**, **ci_low**, **ci_high**: mean score over n and its percentile-bootstrap 95 % interval.
- **pass_rate**: share of the n answers scoring at least the grader's threshold.
- **against**: "reference" (the data's gold/reference column) or "teacher" (no reference: the
  teacher's answers are the targets, and the teacher is scored only by graders that need no target:
  `regex` and `rubric`, judged without a reference; its entries say "none").
- **pass_rate** of a pairwise grader: the share of wins (its default threshold is 1, a win; a tie
  scores 0.5 and does not pass unless the spec lowers the threshold).
- **vs_base**: over the rows both this model and the base student answered: `diff` = mean(model −
  base) with its paired-bootstrap interval, `p_value` (McNemar's exact test when every score is 0 or
  1, else the paired permutation test's), `significant` (p < 0.05), and the pass/fail counterpart:
  `pass_diff`, `wins`/`losses` (rows only one of the two passed) and McNemar's `p_value_pass`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

from distill_tui.core.evaluate import score_stats
from distill_tui.core.evaluate.graders import Embedder, Grade, grade
from distill_tui.core.task.graders_spec import GraderSpec

REFERENCE, TEACHER_ANSWERS, NO_TARGET = "reference", "teacher", "none"
REFERENCE_FREE = ("regex", "rubric")
"""Graders that score an answer without a target: they score the teacher when its answers are the targets."""
Judge = Callable[[GraderSpec, str, Mapping[int, Any], Mapping[int, Any]], Mapping[int, "float | None"]]
"""A model grader's saved verdicts: (grader, model, row → its answer, row → reference) → row → score or None."""
MODEL_GRADERS = ("rubric", "pairwise")


@dataclass(frozen=True)
class VsBase:
    """A model against the base student under one grader, over the rows both answered."""

    n: int
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    test: str  # "mcnemar" or "paired permutation"
    pass_diff: float
    wins: int  # rows this model passed and the base student did not
    losses: int  # rows the base student passed and this model did not
    p_value_pass: float

    def verdict(self) -> str:
        """'not significant (…)', or better/worse than the base student, in plain words."""
        return score_stats.PairedDifference(self.diff, self.ci_low, self.ci_high, self.p_value, self.n,
                                            self.test).verdict()


@dataclass(frozen=True)
class GraderScore:
    """One model's scores under one grader (see the module docstring for every definition)."""

    grader: str
    type: str
    threshold: float
    against: str
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    pass_rate: float | None
    vs_base: VsBase | None = None
    fields: dict[str, float] | None = None  # json_fields: field → share of answers matching it
    pairwise: dict[str, Any] | None = None  # pairwise: win/tie/loss/flip rates and intervals (agreement.py)
    error: str | None = None  # why the grader could not score (an embeddings request refused…)
    invalid: int = 0  # rubric: answers whose judge reply was not a grade (left out of n, never a score)

    def to_json(self) -> dict[str, Any]:
        # p-values keep every digit: a tiny p rounded to 0.0 would claim certainty.
        def rounded(data: dict[str, Any]) -> dict[str, Any]:
            return {k: rounded(v) if isinstance(v, dict) else
                    round(v, 6) if isinstance(v, float) and not k.startswith("p_value") else v
                    for k, v in data.items()}

        out = rounded(asdict(self))
        if self.pairwise:  # eval --json's contract: a pairwise entry carries the four rates itself
            out.update({k: out["pairwise"][k] for k in ("win_rate", "tie_rate", "loss_rate", "flip_rate")})
        return out


@dataclass
class _Graded:
    rows: list[int]
    grades: list[Grade]
    by_row: dict[int, Grade] = field(init=False)
    invalid: int = 0

    def __post_init__(self) -> None:
        self.by_row = dict(zip(self.rows, self.grades))


def score_models(
    graders: Sequence[GraderSpec],
    references: Mapping[int, Any],
    answers: Mapping[str, Mapping[int, Any]],
    base: str | None = None,
    *,
    against: str = REFERENCE,
    target_model: str | None = None,
    embedder: Callable[[str], Embedder] | None = None,
    describe_error: Callable[[BaseException], str] | None = None,
    judge: Judge | None = None,
    resamples: int = score_stats.RESAMPLES,
    seed: int = score_stats.SEED,
) -> dict[str, dict[str, GraderScore]]:
    """Model → grader name → `GraderScore`.

    Args:
        graders: the spec's graders.
        references: row id → reference (None or absent: the row is not graded).
        answers: model → row id → its answer (rows it answered; None for no usable answer).
        base: the base student's model name (no `vs_base` without it, nor for the base itself).
        against: what `references` are: REFERENCE, or TEACHER_ANSWERS when they are the teacher's.
        target_model: the model whose answers are the references; it is not scored against itself,
            only by the `REFERENCE_FREE` graders (without a reference, and with no `vs_base`).
        embedder: embedding model name → `Embedder`, for embedding graders.
        describe_error: when given, a grader that raises (an embeddings request refused) gets
            `error` = this line instead of stopping the table.
        judge: for model graders (rubric, pairwise): (grader, model, row → answer, references) → row →
            the judge's saved score (absent: not judged yet; None: the reply was not a verdict), see
            `judging.table_judge`.
    """
    out: dict[str, dict[str, GraderScore]] = {m: {} for m in answers if m != target_model}
    for spec in graders:
        try:
            graded = {m: _grade(spec, references, answers[m], embedder, judge, m) for m in out}
        except Exception as exc:  # noqa: BLE001 - reported per grader when the caller says how
            if describe_error is None:
                raise
            for model in out:
                out[model][spec.name] = GraderScore(spec.name, spec.type, spec.threshold, against, 0, None, None,
                                                    None, None, error=describe_error(exc))
            continue
        for model, result in graded.items():
            base_result = graded.get(base) if base and model != base else None
            out[model][spec.name] = _summary(spec, against, result, base_result, resamples, seed)
        if target_model in answers and spec.type in REFERENCE_FREE:
            own = answers[target_model]
            try:
                result = _grade(spec, dict.fromkeys(own, ""), own, embedder, judge, target_model, unreferenced=True)
            except Exception as exc:  # noqa: BLE001 - as above
                if describe_error is None:
                    raise
                continue
            out.setdefault(target_model, {})[spec.name] = _summary(spec, NO_TARGET, result, None, resamples, seed)
    return out


def _grade(spec: GraderSpec, references: Mapping[int, Any], answers: Mapping[int, Any],
           embedder: Callable[[str], Embedder] | None, judge: Judge | None = None, model: str = "", *,
           unreferenced: bool = False) -> _Graded:
    """`unreferenced`: every answered row is graded, with no reference (the judge is given none)."""
    rows = sorted(r for r in answers if unreferenced or references.get(r) is not None)
    if spec.type in MODEL_GRADERS:
        if judge is None:
            raise ValueError(f"the {spec.type} grader {spec.name!r} needs its judge's saved answers")
        found = judge(spec, model, {r: answers[r] for r in rows},
                      dict.fromkeys(rows) if unreferenced else references)
        judged = [r for r in rows if found.get(r) is not None]
        invalid = sum(1 for r in rows if r in found and found[r] is None)
        scores = [float(found[r]) for r in judged]  # type: ignore[arg-type]
        return _Graded(judged, [Grade(s, s >= spec.threshold) for s in scores], invalid)
    return _Graded(rows, grade(spec, [answers[r] for r in rows], [references[r] for r in rows], embedder))


def _summary(spec: GraderSpec, against: str, result: _Graded, base: _Graded | None, resamples: int,
             seed: int) -> GraderScore:
    scores = [g.score for g in result.grades]
    interval = score_stats.bootstrap_mean(scores, resamples=resamples, seed=seed)
    n = len(scores)
    vs_base = _vs_base(result, base, resamples, seed) if base is not None else None
    fields = None
    if spec.type == "json_fields" and n:
        names = dict.fromkeys(name for g in result.grades for name in (g.fields or {}))
        fields = {name: sum(bool((g.fields or {}).get(name)) for g in result.grades) / n for name in names}
    return GraderScore(
        grader=spec.name, type=spec.type, threshold=spec.threshold, against=against, n=n,
        mean=interval.mean if interval else None, ci_low=interval.low if interval else None,
        ci_high=interval.high if interval else None,
        pass_rate=sum(g.passed for g in result.grades) / n if n else None, vs_base=vs_base, fields=fields,
        invalid=result.invalid,
    )


def _vs_base(result: _Graded, base: _Graded, resamples: int, seed: int) -> VsBase | None:
    shared = [r for r in result.rows if r in base.by_row]
    mine = [result.by_row[r] for r in shared]
    theirs = [base.by_row[r] for r in shared]
    paired = score_stats.paired_comparison([g.score for g in mine], [g.score for g in theirs],
                                           resamples=resamples, seed=seed)
    if paired is None:
        return None
    wins, losses, p_pass = score_stats.mcnemar_pass([g.passed for g in mine], [g.passed for g in theirs])
    return VsBase(n=paired.n, diff=paired.diff, ci_low=paired.low, ci_high=paired.high, p_value=paired.p_value,
                  significant=paired.significant, test=paired.test, pass_diff=(wins - losses) / paired.n,
                  wins=wins, losses=losses, p_value_pass=p_pass)
