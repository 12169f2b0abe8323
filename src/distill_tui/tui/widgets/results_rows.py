"""The per-row results browser, opened from the Results screen: every held-out row with each model's
answer and whether it is right, sortable by disagreement and filterable, and the highlighted row's
answers, reference and full prompt underneath."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from distill_tui.core.common.errors import UserError
from distill_tui.core.evaluate.rows import FILTERS, SORTS, score_sorts
from distill_tui.tui.widgets.results_detail import short_model
from distill_tui.tui.widgets.table_fill import fill_table

if TYPE_CHECKING:
    from distill_tui.core.evaluate.comparison import EvalModel
    from distill_tui.core.evaluate.rows import ModelAnswer, RowView
    from distill_tui.core.store.human_grades import HumanGrade
    from distill_tui.core.workspace.workspace import Workspace

CUT = 14
"""Answers and references are cut to at least this in the table; three models and the reference fit
80 columns at 14, fewer models get the room (`cut_width`)."""
LISTED = 500
"""Rows put in the table at most (the first of the chosen order): a DataTable takes about 0.4 ms a row
to fill, so 5,000 rows would make each sort or filter key wait two seconds; disagreements come first,
and f and / narrow the rest."""
LISTED = 500
"""Rows put in the table at most (the first of the chosen order): a DataTable takes about 0.4 ms a row
to fill, so 5,000 rows would make each sort or filter key wait two seconds; disagreements come first,
and f and / narrow the rest."""
_ROLE = {"teacher": "teacher", "base student": "base", "distilled": "distilled", "checkpoint": "ckpt", "extra": "extra"}
_MARK_STYLE = {"✓": "green", "✗": "bold red", "!": "yellow", "·": "dim", "?": "dim"}


def _cut(text: str | None, width: int = CUT) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _headers(models: Sequence["EvalModel"]) -> list[str]:
    """Short distinct column names: 'teacher', 'base', 'distilled', 'distilled 2', …"""
    out: list[str] = []
    for model in models:
        name = _ROLE.get(model.role, model.role)
        n = sum(h.split(" ")[0] == name for h in out)
        out.append(name if n == 0 else f"{name} {n + 1}")
    return out


def cut_width(models: int, width: int = 80) -> int:
    """How long answers and references may be in the table so the row, the reference and `models`
    answer columns (each with its mark) fit `width` columns beside the scroll bar."""
    room = width - 2 - 7 - 2 * (models + 1) - 2 * models
    return max(CUT, room // (models + 1))


def _cell(answer: "ModelAnswer", width: int = CUT) -> Text:
    shown = {"failed": "failed", "missing": "not asked"}.get(answer.status) or _cut(answer.text, width)
    return Text.assemble((answer.mark, _MARK_STYLE[answer.mark]), " ", (shown, "dim" if answer.status != "ok" else ""))


def detail_text(row: "RowView", headers: Sequence[str], focus: int | None = None,
                grades: "dict[tuple[str, int], HumanGrade] | None" = None) -> Text:
    """The highlighted row in full: each model's answer with every grader's score and the person's
    grade (the model in `focus`, the one y/n/1-5 grade, marked ▸), the reference, then every prompt message."""
    reference = row.reference if row.reference is not None else "none (answers are judged against the teacher's)"
    out = Text.assemble((f"row {row.row_id}", "bold"), "  reference: ", (reference, "bold"), "\n")
    for i, (header, answer) in enumerate(zip(headers, row.answers)):
        what = answer.text if answer.status == "ok" else (answer.error or answer.status)
        if answer.status == "missing":
            what = "not asked yet (r on the Results screen asks it)"
        out.append("▸" if i == focus else " ", style="bold reverse" if i == focus else "")
        out.append_text(Text.assemble((answer.mark, _MARK_STYLE[answer.mark]), f" {header} ",
                                      (short_model(answer.model, 30), "dim"), ": ", what or ""))
        if answer.status == "ok" and not answer.valid and answer.error:
            out.append(f"  ({answer.error})", style="dim")
        if answer.scores:
            out.append("  [" + " · ".join(f"{name} {score:.2f}" for name, score in answer.scores.items()) + "]",
                       style="dim")
        grade = (grades or {}).get((answer.model, row.row_id))
        if grade is not None and grade.prompt_hash == answer.prompt_hash:
            out.append(f"  person: {grade.shown}", style="bold cyan")
        out.append("\n")
    for message in row.messages:
        out.append(f"\n{message.get('role', '?')}\n", style="bold underline")
        out.append(str(message.get("content", "")) + "\n")
    return out


class _RowsLoaded(Message):
    def __init__(self, rows: list["RowView"] | None, error: str | None = None,
                 grades: "dict[tuple[str, int], HumanGrade] | None" = None) -> None:
        super().__init__()
        self.rows, self.error, self.grades = rows, error, grades or {}


def _focus_of(models: Sequence["EvalModel"]) -> int:
    """The model a person grades first: the newest distilled student, else the last model."""
    distilled = [i for i, m in enumerate(models) if m.role == "distilled"]
    return distilled[-1] if distilled else max(0, len(models) - 1)


class RowBrowser(Screen[None]):
    """Every eval row with each model's answer; `s` sorts, `f` filters, `/` searches, y/n/1-5 grade, Esc goes back."""

    TITLE = "Per-row results"
    HELP = """
Every **held-out eval row** with each model's answer to today's prompt: **✓** right, **✗** wrong
(an invalid answer is wrong), **!** the request failed, **·** not asked yet, **?** nothing to judge
it against. Right means the spec's first grader passes it (exact match for classification); the
pane below lists every grader's score. Without references in the data, answers are judged against
the teacher's.

- **s** sorts: by *disagreement* (rows where the distilled student is wrong first, then rows where
  the models' answers differ, then rows most models got wrong), by *row*, by *reference*, or by a
  grader's *score* of the model in focus (lowest first).
- **f** filters: all rows, rows where the models disagree, where the distilled student, the teacher
  or any model is wrong.
- **/** searches the prompt, the reference and the answers (Enter keeps it, Esc clears it).

**g** grades a sample: a seeded random sample of 30 rows the model in focus answered (the same
rows after a restart), listed alone with the progress in the title ("12 of 30 graded") and the cursor
on the first not graded; **g** again lists every row. **Grading by a person** calibrates the graders and judges: **m** picks the model in focus (marked
▸ below), **y** or **n** grades its answer pass or fail, **1**–**5** gives it a score (here they do
not switch screens: Esc goes back to the Results screen, then 1–6 switch), **Backspace**
removes the grade; the cursor then moves to the next row. Grades are saved in the workspace at once
(with who gave them and when). The Results screen's scores pane (**c**) and `distill-tui eval` show
each grader's agreement with them: Cohen's kappa for pass/fail, Spearman for scores, with n and a
warning when it is low or rests on fewer than 30 rows. `eval --json` has them under `human_grades`;
`eval --human-grades FILE.csv|.jsonl` writes them out.

The pane below shows the highlighted row in full: each model's answer, the reference and every
message of the prompt. Tab moves into it to scroll; Esc goes back to the Results screen.
"""
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("f", "cycle_filter", "Filter"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("m", "cycle_focus", "Model"),
        Binding("y", "grade('pass_fail', 1)", "Grade", key_display="y/n", tooltip="grade the answer: pass"),
        Binding("n", "grade('pass_fail', 0)", "fail", show=False, tooltip="grade the answer: fail"),
        *(Binding(str(k), f"grade('1-5', {k})", "Score" if k == 1 else f"score {k}", show=k == 1,
                  key_display="1-5" if k == 1 else None, tooltip=f"score the answer {k} of 5") for k in range(1, 6)),
        Binding("backspace,delete", "ungrade", "remove the grade", show=False),
        Binding("g", "sample", "Sample"),
    ]
    DEFAULT_CSS = """
    RowBrowser #rows-title { height: 1; padding: 0 1; color: $text-muted; }
    RowBrowser #rows { height: auto; max-height: 10; }
    RowBrowser #row-detail { height: 1fr; border-top: solid $panel-lighten-2; padding: 0 1; }
    RowBrowser #row-search { dock: bottom; display: none; margin-bottom: 1; }
    RowBrowser #row-search.shown { display: block; }
    """

    def __init__(self, workspace: "Workspace", models: Sequence["EvalModel"]) -> None:
        from distill_tui.core.evaluate.rows import LOCAL_GRADERS

        super().__init__()
        self._workspace = workspace
        self._models = [m for m in models if not m.skip]
        self._headers = _headers(self._models)
        self.rows: list["RowView"] = []
        self.shown: list["RowView"] = []
        self.sorts = score_sorts([g.name for g in workspace.spec.graders if g.type in (*LOCAL_GRADERS, "rubric")])
        self.sort, self.filter, self.search = SORTS[0], FILTERS[0], ""
        self.focus_index = _focus_of(self._models)
        self.grades: dict[tuple[str, int], "HumanGrade"] = {}
        self._highlighted: int | None = None
        self.sample: list[int] | None = None  # the rows of the sample being graded, in order (g)

    def compose(self) -> ComposeResult:
        yield Static("Loading the eval rows…", id="rows-title")
        yield DataTable(id="rows", cursor_type="row", fixed_columns=1)
        with VerticalScroll(id="row-detail"):
            yield Static("", id="row-text")
        yield Input(placeholder="search prompt, reference and answers (Enter keeps, Esc clears)", id="row-search")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="result-rows")
    def _load(self) -> None:
        from distill_tui.core.evaluate.rows import load_rows

        try:
            rows = load_rows(self._workspace, self._models)
            grades = {(g.model, g.row_id): g for g in self._workspace.store.human_grades().values()}
            self.post_message(_RowsLoaded(rows, grades=grades))
        except UserError as exc:
            self.post_message(_RowsLoaded(None, str(exc)))

    @on(_RowsLoaded)
    def _loaded(self, message: _RowsLoaded) -> None:
        if message.rows is None:
            self.query_one("#rows-title", Static).update(Text(message.error or "", style="bold"))
            return
        self.rows, self.grades = message.rows, message.grades
        self._refill()

    def _refill(self) -> None:
        from distill_tui.core.evaluate.rows import arrange

        self.shown = arrange(self.rows, self.sort, self.filter, self.search, self.focus_index)
        if self.sample is not None:  # the sample alone, in its own order
            by_id = {r.row_id: r for r in self.rows}
            self.shown = [by_id[i] for i in self.sample if i in by_id]
        table = self.query_one("#rows", DataTable)
        columns: list[tuple[str, Any]] = [("row", "row"), ("reference", "reference"),
                                          *((f"m{i}", h) for i, h in enumerate(self._headers))]
        cut = cut_width(len(self._models), self.app.size.width)
        fill_table(table, columns, [(str(r.row_id), [str(r.row_id), Text(_cut(r.reference, cut)),
                                                     *(_cell(a, cut) for a in r.answers)])
                                  for r in self.shown[:LISTED]])
        ids = [r.row_id for r in self.shown[:LISTED]]
        if self._highlighted in ids:
            table.move_cursor(row=ids.index(self._highlighted), animate=False)
        self._highlighted = ids[table.cursor_row] if ids else None
        self._show_title()
        self._show_detail()

    def graded_count(self) -> int:
        """Answers of the model in focus graded by the person, among the rows loaded (today's answers)."""
        if not self._models:
            return 0
        focus = self.focus_index
        return sum(1 for r in self.rows if self._grade_of(r, focus) is not None)

    def _grade_of(self, row: "RowView", index: int) -> "HumanGrade | None":
        answer = row.answers[index]
        grade = self.grades.get((answer.model, row.row_id))
        return grade if grade is not None and grade.prompt_hash == answer.prompt_hash else None

    def _show_title(self) -> None:
        search = f" · “{self.search}”" if self.search else ""
        listed = f" · first {LISTED:,} listed" if len(self.shown) > LISTED else ""
        focus = f" · {self.graded_count()} graded ({self._headers[self.focus_index]})" if self._models else ""
        if self.sample is not None:
            done = sum(1 for r in self.shown if self._grade_of(r, self.focus_index) is not None)
            self.query_one("#rows-title", Static).update(Text(
                f"sample: {done} of {len(self.sample)} graded ({self._headers[self.focus_index]}) · "
                "y/n or 1-5 grades · g: all rows", style="bold"))
            return
        self.query_one("#rows-title", Static).update(Text(
            f"{len(self.shown):,} of {len(self.rows):,} rows{listed} · sort: {self.sort} · filter: {self.filter}{focus}{search}"))

    def _show_detail(self) -> None:
        row = next((r for r in self.shown if r.row_id == self._highlighted), None)
        text = detail_text(row, self._headers, self.focus_index, self.grades) if row is not None else Text(
            "No row matches: f changes the filter, / the search." if self.rows else "", style="dim")
        self.query_one("#row-text", Static).update(text)
        self.query_one("#row-detail", VerticalScroll).scroll_home(animate=False)

    @on(DataTable.RowHighlighted, "#rows")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        row_id = int(event.row_key.value or 0)
        if row_id != self._highlighted:
            self._highlighted = row_id
            self._show_detail()

    def action_cycle_sort(self) -> None:
        self.sort = self.sorts[(self.sorts.index(self.sort) + 1) % len(self.sorts)]
        self._refill()

    def action_cycle_filter(self) -> None:
        self.filter = FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)]
        self._refill()

    def action_cycle_focus(self) -> None:
        if self._models:
            self.focus_index = (self.focus_index + 1) % len(self._models)
            self._refill()

    def _focused_answer(self) -> "tuple[RowView, ModelAnswer] | None":
        row = next((r for r in self.shown if r.row_id == self._highlighted), None)
        if row is None or not self._models:
            return None
        return row, row.answers[self.focus_index]

    def action_grade(self, scale: str, value: int) -> None:
        from distill_tui.core.store.human_grades import HumanGrade

        found = self._focused_answer()
        if found is None:
            return
        row, answer = found
        if answer.status != "ok" or answer.prompt_hash is None:
            self.notify(f"{self._headers[self.focus_index]} has no answer to grade on row {row.row_id}.")
            return
        try:
            saved = self._workspace.store.save_human_grade(
                HumanGrade(answer.model, row.row_id, answer.prompt_hash, scale, value))
        except UserError as exc:  # a read-only workspace
            self.notify(str(exc), severity="error")
            return
        self.grades[(answer.model, row.row_id)] = saved
        self._next_row()
        if self.sample is not None and all(self._grade_of(r, self.focus_index) for r in self.shown):
            self.notify(f"Every row of the sample is graded ({len(self.sample)}): Esc shows the agreement.")

    def action_ungrade(self) -> None:
        found = self._focused_answer()
        if found is None or self._grade_of(found[0], self.focus_index) is None:
            return
        row, answer = found
        self._workspace.store.drop_human_grade((answer.model, row.row_id, answer.prompt_hash or ""))
        self.grades.pop((answer.model, row.row_id), None)
        self._show_title()
        self._show_detail()

    def _next_row(self) -> None:
        table = self.query_one("#rows", DataTable)
        self._show_title()
        if table.cursor_row + 1 < table.row_count:
            table.move_cursor(row=table.cursor_row + 1, animate=False)
        else:
            self._show_detail()

    def action_sample(self) -> None:
        from distill_tui.core.evaluate.calibration import sample_rows

        if self.sample is not None or not self._models:
            self.sample = None
            self._refill()
            return
        answered = [r.row_id for r in self.rows if r.answers[self.focus_index].status == "ok"]
        if not answered:
            self.notify(f"{self._headers[self.focus_index]} has no answer to grade: m picks another model.")
            return
        self.sample = sample_rows(answered, seed=self._workspace.spec.dataset.seed)
        by_id = {r.row_id: r for r in self.rows}
        todo = [i for i in self.sample if self._grade_of(by_id[i], self.focus_index) is None]
        self._highlighted = todo[0] if todo else self.sample[0]
        self._refill()
        if not todo:
            self.notify(f"Every row of the sample is graded ({len(self.sample)}).")

    def action_search(self) -> None:
        field = self.query_one("#row-search", Input)
        field.add_class("shown")
        field.value = self.search
        field.focus()

    @on(Input.Submitted, "#row-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self._end_search(event.value)

    def _end_search(self, value: str) -> None:
        field = self.query_one("#row-search", Input)
        field.remove_class("shown")
        self.search = value.strip()
        self.query_one("#rows", DataTable).focus()
        self._refill()

    def action_close(self) -> None:
        if self.query_one("#row-search", Input).has_focus:
            self._end_search("")  # Esc in the search field clears it and stays
            return
        self.dismiss(None)
