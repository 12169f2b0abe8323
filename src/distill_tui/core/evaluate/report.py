"""The comparison table as text: cell formats shared by the CLI and the TUI, and the Markdown,
CSV and JSON exports (each written atomically)."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from distill_tui.core.common import atomic_file
from distill_tui.core.common.errors import UserError

if TYPE_CHECKING:
    from distill_tui.core.evaluate.calibration import GraderAgreement
    from distill_tui.core.evaluate.comparison import ComparisonTable, ModelRow
    from distill_tui.core.evaluate.scoring import GraderScore

FORMATS = ("md", "csv", "json")
DASH = "–"


def pct(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value * 100:.{digits}f}%"


def ci(row: "ModelRow") -> str:
    if row.ci_low is None or row.ci_high is None:
        return DASH
    return f"{row.ci_low * 100:.1f}–{row.ci_high * 100:.1f}"


def p_value(value: float | None) -> str:
    if value is None:
        return DASH
    if value < 0.001:
        return "<0.001"
    return f"{value:.3f}" if value < 0.995 else "1.00"


def seconds(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def money(value: float | None) -> str:
    if value is None:
        return DASH
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def accuracy(row: "ModelRow") -> str:
    """Accuracy, or why there is none (a model that failed every request shows FAILED, never 0 %)."""
    if row.status == "failed":
        return "FAILED"
    if row.status == "not run":
        return "not run"
    return pct(row.accuracy)


def n_cell(row: "ModelRow") -> str:
    return f"{row.n}" if row.n == row.eval_rows else f"{row.n}/{row.eval_rows}"


def row_note(row: "ModelRow", name: str | None = None) -> str | None:
    """The line under the table saying why a model has no score, or only part of one (after an
    evaluation run); None when it answered every eval row. `name`: how to write the model's name."""
    name = name or row.model
    if row.status == "failed":
        return f"{name}: FAILED, no row answered" + (f" ({row.last_error})" if row.last_error else "")
    if row.reason and row.status == "not run":
        return f"{name}: not run: {row.reason}"
    if row.reason:
        return f"{name}: {row.failed + row.missing} rows not asked: {row.reason}"
    if row.status == "not run":
        return f"{name}: not run (stopped before its turn); run eval again"
    if row.status == "partial":
        return (f"{name}: {row.failed} failed and {row.missing} missing rows are left out of n "
                f"(coverage {pct(row.coverage)}); run eval again to retry them")
    return None


def notes(table: "ComparisonTable") -> list[str]:
    """Every note of the table: the models without a full score, the models served here (how their
    answers were constrained), then the models left out."""
    return [n for n in (row_note(r) for r in table.rows) if n] + served_notes(table) + [
        m.skip for m in table.skipped if m.skip]


def served_notes(table: "ComparisonTable") -> list[str]:
    """One line per way of serving: which rows were served here and how their answers were constrained."""
    groups: dict[str, dict[str, int]] = {}
    for row in table.rows:
        if row.served:
            roles = groups.setdefault(row.served, {})
            roles[row.role] = roles.get(row.role, 0) + 1
    return [f"served here ({how}): " + ", ".join(role if n == 1 else f"{n} {PLURAL.get(role, role + 's')}"
                                                 for role, n in roles.items())
            for how, roles in groups.items()]


PLURAL = {"distilled": "distilled students"}  # "2 distilleds" is no word


def wins(row: "ModelRow") -> str:
    """Discordant pairs against the base student, as +wins/−losses."""
    if row.role == "base student" or row.paired_n == 0:
        return DASH
    return f"+{row.wins_vs_base}/-{row.losses_vs_base}"


def signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def score_line(name: str, score: "GraderScore") -> str:
    """One grader's result for one model: mean, interval, pass rate, n, and the comparison with the
    base student in plain words ("not significant" when it is not)."""
    head = f"{name} · {score.grader}"
    if score.error:
        return f"{head} not scored: {score.error}"
    if score.mean is None or score.ci_low is None or score.ci_high is None:
        return f"{head} no answer to grade"
    line = (f"{head} {score.mean:.3f} ({score.ci_low:.3f}–{score.ci_high:.3f}), "
            f"pass {pct(score.pass_rate, 0)} at {score.threshold:g}, n {score.n}")
    vs = score.vs_base
    if vs is not None and vs.n:
        p = "p < 0.001" if vs.p_value < 0.001 else f"p = {vs.p_value:.2g}"
        words = (f"{'better' if vs.diff > 0 else 'worse'}, {p}" if vs.significant else f"not significant, {p}")
        line += (f"; vs base {signed(vs.diff)} ({signed(vs.ci_low)} to {signed(vs.ci_high)}), {words}"
                 + ("" if vs.n == score.n else f", {vs.n} paired rows"))
    return line


def score_lines(table: "ComparisonTable") -> list[str]:
    """Every model's line per grader, after a line saying what the scores compare with."""
    rows = [r for r in table.rows if r.scores]
    if not rows:
        return []
    against = {s.against for r in rows for s in r.scores.values()}
    what = ("the teacher's answers (no reference column; the teacher is scored only by graders that need "
            "none: regex, rubric)" if "teacher" in against else "the reference answers")
    return [f"scores against {what}: mean (95% bootstrap interval), pass rate at the threshold, n; "
            "vs base: paired difference with the base student and its p-value:"] + [
        score_line(r.model, s) for r in rows for s in r.scores.values()]


# (header, short header for 80 columns, cell)
COLUMNS: list[tuple[str, str, Callable[["ModelRow"], str]]] = [
    ("model", "model", lambda r: r.model),
    ("role", "role", lambda r: r.role),  # the JSON's words ("base student", "distilled"), never a short form
    ("n", "n", n_cell),
    ("accuracy", "acc", accuracy),
    ("95% CI", "95% CI", ci),
    ("p vs base", "p(base)", lambda r: p_value(r.p_value_vs_base)),
    ("cost / 1k", "$/1k", lambda r: money(r.cost_per_1k_usd)),
    ("invalid", "inval", lambda r: pct(r.invalid_rate)),
    ("failed", "fail", lambda r: str(r.failed)),
    ("agree w/ teacher", "agree", lambda r: pct(r.agreement_with_teacher)),
    ("vs base +/-", "+/-base", wins),
    ("latency mean", "lat", lambda r: seconds(r.latency_mean_s)),
    ("latency p95", "p95", lambda r: seconds(r.latency_p95_s)),
    ("spent", "spent", lambda r: money(r.spent_usd)),
]

LEGEND = (
    "n: eval rows answered, out of all eval rows when some are missing (failed requests are counted under failed, not as wrong); accuracy over n with a 95 % "
    "Wilson interval; invalid: answers that are not one of the labels (counted as wrong); p vs base: exact McNemar "
    "test against the base student on the rows both answered, +/-base its discordant pairs; cost / 1k: 1,000 "
    "predictions at list price; spent: what the saved answers cost."
)


def text_table(table: "ComparisonTable", short: bool = True) -> str:
    """The table as aligned plain text, for the CLI."""
    from distill_tui.core.common.text_table import aligned, column_widths

    rows = [[c[1] if short else c[0] for c in COLUMNS], *([fn(r) for _, _, fn in COLUMNS] for r in table.rows)]
    header, *lines = aligned(rows, right=range(2, len(COLUMNS)))
    return "\n".join([header, "  ".join("-" * w for w in column_widths(rows)), *lines])


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


Agreements = Mapping[str, "GraderAgreement"]
"""Grader → its agreement with the person's grades (`calibration.calibrate`), for the exports."""


def _md_scores(table: "ComparisonTable", agreements: Agreements | None) -> list[str]:
    """The Scores section: each grader's line per model, the model's agreement with the person under it
    and the grader's pooled agreement (and its warnings) after them, as `eval` prints them."""
    scored = score_lines(table)
    if not scored:
        return []
    out = ["## Scores", "", scored[0], ""]
    for grader in dict.fromkeys(name for row in table.rows for name in row.scores):
        found = (agreements or {}).get(grader)
        for row in table.rows:
            if grader in row.scores:
                out.append(f"- {_md_escape(score_line(row.model, row.scores[grader]))}")
                own = found.models.get(row.model) if found is not None else None
                if own is not None and own.measures():
                    out.append(f"  - vs the person: {_md_escape(own.short())}")
        out += [f"- {_md_escape(line)}" for line in (found.lines() if found is not None else ())]
    return out + [""]


def markdown(table: "ComparisonTable", selected: str | None = None, confusions: int = 5,
             agreements: Agreements | None = None) -> str:
    """The comparison as Markdown: the table, the leak check, the scores (with each grader's agreement
    with the person, when `agreements` are given), the largest confusions of every model and the
    per-class accuracy of `selected` (default: the last distilled model, else the base)."""
    out = [
        "# Model comparison",
        "",
        f"Spec `{table.spec}` · {table.eval_rows:,} eval rows · {len(table.labels)} labels · prices as of "
        f"{table.prices_as_of} · {time.strftime('%Y-%m-%d %H:%M', time.localtime(table.created_at))}",
        "",
        table.leak.line(),
        "",
        "| " + " | ".join(c[0] for c in COLUMNS) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    for row in table.rows:
        out.append("| " + " | ".join(_md_escape(fn(row)) for _, _, fn in COLUMNS) + " |")
    out += ["", LEGEND, ""]
    out += _md_scores(table, agreements)
    lines = notes(table)
    out += [f"- {_md_escape(line)}" for line in lines] + ([""] if lines else [])
    shown = [r for r in table.rows if table.details.get(r.model) and table.details[r.model].confusions]
    if shown:
        out += ["## Largest confusions", "", "| model | gold | answered | count |", "|---|---|---|---:|"]
        for row in shown:
            for gold, pred, count in table.details[row.model].confusions[:confusions]:
                out.append(f"| {_md_escape(row.model)} | {_md_escape(gold)} | {_md_escape(pred)} | {count} |")
        out.append("")
    chosen = selected or default_selected(table)
    detail = table.details.get(chosen) if chosen else None
    if detail and detail.n:
        out += [f"## Per-class accuracy: {_md_escape(detail.model)}", "", "| label | n | correct | accuracy | precision |",
                "|---|---:|---:|---:|---:|"]
        for c in detail.classes:
            out.append(f"| {_md_escape(c.label)} | {c.n} | {c.correct} | {pct(c.accuracy)} | {pct(c.precision)} |")
        out.append("")
    return "\n".join(out)


def default_selected(table: "ComparisonTable") -> str | None:
    """The model whose detail is shown first: the newest distilled model with answers, else the base
    student, else the teacher, else the first row."""
    for role in ("distilled", "base student", "teacher"):
        found = [r for r in table.rows if r.role == role and r.n]
        if found:
            return found[-1].model
    return table.rows[0].model if table.rows else None


CSV_FIELDS = (
    "model", "role", "status", "eval_rows", "n", "correct", "accuracy", "ci_low", "ci_high", "accuracy_all",
    "invalid", "invalid_rate", "failed", "missing", "coverage", "agreement_with_teacher", "p_value_vs_base",
    "paired_n", "wins_vs_base", "losses_vs_base", "latency_mean_s", "latency_p95_s", "cost_per_1k_usd", "spent_usd",
)


SCORE_FIELDS = ("mean", "ci_low", "ci_high", "pass_rate", "n")
VS_BASE_FIELDS = ("diff", "p_value")


HUMAN_FIELDS = ("kappa", "kappa_n", "spearman", "spearman_n")


def csv_text(table: "ComparisonTable", agreements: Agreements | None = None) -> str:
    """One CSV line per model with the raw numbers (empty cell: not defined); each grader adds
    `<grader>_mean`, `_ci_low`, `_ci_high`, `_pass_rate`, `_n`, `_diff_vs_base` and `_p_value_vs_base`, and
    with `agreements` the model's agreement with the person: `_human_kappa`, `_human_kappa_n`,
    `_human_spearman`, `_human_spearman_n` (empty where none of its answers was graded on that scale)."""
    graders = list(dict.fromkeys(name for row in table.rows for name in row.scores))
    human = [g for g in graders if g in (agreements or {})]
    extra = [f"{g}_{f}" for g in graders for f in (*SCORE_FIELDS, *(f"{v}_vs_base" for v in VS_BASE_FIELDS))]
    extra += [f"{g}_human_{f}" for g in human for f in HUMAN_FIELDS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*CSV_FIELDS, *extra], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        data = row.to_json()
        for name, score in data.pop("scores", {}).items():
            data.update({f"{name}_{f}": score.get(f) for f in SCORE_FIELDS})
            data.update({f"{name}_{v}_vs_base": (score.get("vs_base") or {}).get(v) for v in VS_BASE_FIELDS})
        for name in human:
            own = agreements[name].models.get(row.model)  # type: ignore[index]
            for kind in ("kappa", "spearman"):
                measure = getattr(own, kind, None) if own is not None else None
                if measure is not None and measure.n:
                    data[f"{name}_human_{kind}"] = None if measure.value is None else round(measure.value, 4)
                    data[f"{name}_human_{kind}_n"] = measure.n
        writer.writerow({k: ("" if v is None else v) for k, v in data.items()})
    return buffer.getvalue()


def json_text(table: "ComparisonTable") -> str:
    return json.dumps(table.to_json(details=True), indent=2, ensure_ascii=False) + "\n"


def format_of(path: Path, fmt: str | None = None) -> str:
    """The export format named, or implied by the file's suffix.

    Raises:
        UserError: when neither names md, csv or json.
    """
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    fmt = {"markdown": "md"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise UserError(f"{path}: export format must be .md, .csv or .json, not {path.suffix or 'no suffix'!r}")
    return fmt


def render(table: "ComparisonTable", fmt: str, selected: str | None = None,
           agreements: Agreements | None = None) -> str:
    if fmt == "md":
        return markdown(table, selected, agreements=agreements)
    if fmt == "csv":
        return csv_text(table, agreements)
    return json_text(table)


def export(table: "ComparisonTable", path: str | Path, fmt: str | None = None, selected: str | None = None,
           agreements: Agreements | None = None) -> Path:
    """Write the table to `path` (format from `fmt` or the suffix), atomically; `agreements` (the
    graders' agreement with the person, `calibration.calibrate`) add their lines and columns.

    Raises:
        UserError: unknown format, or the file cannot be written.
    """
    target = Path(path).expanduser()
    text = render(table, format_of(target, fmt), selected, agreements)
    return atomic_file.write_text(target, text, "the export")


def default_export_path(spec_source: Path, fmt: str) -> Path:
    """`<exports dir>/comparison-<date-time>.<fmt>` for a spec."""
    from distill_tui import locations

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return locations.exports_dir(spec_source) / f"comparison-{stamp}.{fmt}"
