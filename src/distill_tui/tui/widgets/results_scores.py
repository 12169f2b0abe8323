"""The Results screen's scores pane: every model's line per grader, as `distill-tui eval` prints them
(mean, 95 % interval, pass rate, n, and the paired comparison with the base student in words), with
the person's agreement beside each grader when rows were graded by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from distill_tui.core.evaluate import report
from distill_tui.tui.widgets.results_detail import short_model

if TYPE_CHECKING:
    from distill_tui.core.evaluate.comparison import ComparisonTable
    from distill_tui.core.workspace.workspace import Workspace

NO_GRADES = "No answer graded by a person yet: v, then y/n or 1-5 on a row, calibrates the graders."


def score_text(table: "ComparisonTable", agreement: Mapping[str, Sequence[str]] | None = None,
               per_model: Mapping[tuple[str, str], str] | None = None) -> Text:
    """The scores as the CLI writes them, model names cut to fit, each model's agreement with the person
    under its line (`per_model`) and each grader's pooled agreement after its lines (warnings bold)."""
    lines = report.score_lines(table)
    if not lines:
        return Text("No grader scores yet: they appear once the models have answered (press r).", style="dim")
    out = Text(lines[0] + "\n", style="dim")
    graders = list(dict.fromkeys(name for row in table.rows for name in row.scores))
    for grader in graders:
        for row in table.rows:
            score = row.scores.get(grader)
            if score is None:
                continue
            line = report.score_line(short_model(row.model, 30), score)
            style = "bold" if row.role == "distilled" else ""
            if score.error:
                style = "yellow"
            out.append(line + "\n", style=style)
            if (grader, row.model) in (per_model or {}):
                out.append(per_model[(grader, row.model)] + "\n", style="cyan")  # type: ignore[index]
        for note in (agreement or {}).get(grader, ()):
            warn = note.startswith("warning")
            out.append(note + "\n", style="bold yellow" if warn else "cyan")
    out.rstrip()
    return out


class _AgreementReady(Message):
    def __init__(self, lines: dict[str, list[str]], per_model: dict[tuple[str, str], str], mark: tuple) -> None:
        super().__init__()
        self.lines, self.per_model, self.mark = lines, per_model, mark


def grades_mark(workspace: "Workspace") -> tuple:
    """A cheap summary of the person's grades: while it is unchanged, the agreement is the same."""
    store = workspace.store
    if "human_grades" not in getattr(store, "tables", {"human_grades"}):
        return ()
    return tuple(store.execute("SELECT COUNT(*), MAX(graded_at), SUM(grade) FROM human_grades")[0])


class ScorePane(VerticalScroll):
    """The scores of every model under every grader, each grader followed by its agreement with the
    person's grades (computed in a worker: `load_agreement`); Tab moves into it to scroll."""

    DEFAULT_CSS = """
    ScorePane { height: 1fr; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.table: "ComparisonTable | None" = None
        self.agreement: dict[str, list[str]] = {}
        self.per_model: dict[tuple[str, str], str] = {}
        self.mark: tuple | None = None  # `grades_mark` of the agreement shown

    def compose(self) -> ComposeResult:
        yield Static("", id="score-lines")

    def show(self, table: "ComparisonTable | None") -> None:
        self.table = table
        text = Text("Loading…", style="dim") if table is None else score_text(table, self.agreement, self.per_model)
        if table is not None and not self.agreement and self.mark is not None and report.score_lines(table):
            text.append("\n" + NO_GRADES, style="dim")
        self.query_one("#score-lines", Static).update(text)

    def stale(self, workspace: "Workspace") -> bool:
        """Whether the person's grades changed since the agreement shown was computed."""
        return self.mark != grades_mark(workspace)

    @work(thread=True, exclusive=True, exit_on_error=False, group="results-agreement")
    def load_agreement(self, workspace: "Workspace") -> None:
        """Each grader's agreement with the person's grades of today's answers (a worker: it grades them)."""
        from distill_tui.core.common.errors import UserError
        from distill_tui.core.evaluate import calibration

        mark = grades_mark(workspace)
        try:
            found = calibration.calibrate(workspace)
        except UserError:  # no eval rows: the table says so
            found = {}
        self.post_message(_AgreementReady(calibration.lines_by_grader(found), calibration.model_lines(found), mark))

    @on(_AgreementReady)
    def _agreement_ready(self, message: _AgreementReady) -> None:
        self.agreement, self.per_model, self.mark = message.lines, message.per_model, message.mark
        self.show(self.table)
