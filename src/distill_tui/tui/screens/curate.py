"""Screen 4: curation. Choose which teacher answers the student learns from, then export them.

The selection model is `core.curate.Curation` (pure, vectorised, saved in the workspace database);
this screen only draws it and maps keys to its methods. Loading, export and import run in thread
workers that post messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static

from distill_tui.tui.screens.base import BaseScreen
from distill_tui.tui.widgets.curation_dialogs import AskDialog, DetailDialog
from distill_tui.tui.widgets.curation_filter_keys import CurationFilterKeys
from distill_tui.tui.widgets.curation_free_text import CurationFreeText
from distill_tui.tui.widgets.curation_near import CurationNearDuplicates
from distill_tui.tui.widgets.curation_panes import (
    DetailPane,
    DistributionPane,
    detail_text,
    distribution_text,
    totals_text,
)
from distill_tui.tui.widgets.curation_table import CurationTable
from distill_tui.tui.widgets.curation_transfers import CurationTransfers, error_line

if TYPE_CHECKING:
    from distill_tui.core.curate.selection import Curation

EMPTY = "No teacher answers yet: run generation first (press 3), or import stored completions (I)."


class CurationLoaded(Message):
    """The load worker finished: a curation, or the one line saying why not."""

    def __init__(self, curation: "Curation | None", error: str | None = None) -> None:
        super().__init__()
        self.curation, self.error = curation, error


class CurateScreen(CurationFilterKeys, CurationFreeText, CurationNearDuplicates, CurationTransfers, BaseScreen):
    """Select, filter, balance and export the teacher's answers."""

    TITLE = "Curate"
    MODE = "curate"
    # Footer entries are short so that all of them, with "? Help" and "1-6 Screens", fit 80 columns;
    # invert and search are in the help (?) only.
    BINDINGS = [
        Binding("space", "toggle", "Select"),
        Binding("a", "select_all", "All"),
        Binding("n", "select_none", "None"),
        Binding("i", "invert", "Invert", show=False),
        Binding("m", "select_matching", "Match"),
        Binding("f", "filter", "Filter"),
        Binding("slash", "search", "Find", key_display="/", show=False),
        Binding("e", "export", "Export"),
        Binding("t", "finetune", "Tune"),
        Binding("v", "range", "Range: select or deselect (press twice)", show=False),
        Binding("shift+down", "extend(1)", "Range while moving down", show=False),
        Binding("shift+up", "extend(-1)", "Range while moving up", show=False),
        Binding("g", "cycle_agrees", "Filter: agrees with gold (any/yes/no/unknown)", show=False),
        Binding("x", "cycle_valid", "Filter: invalid answers (any/invalid/valid)", show=False),
        Binding("l", "cycle_label", "Filter: next gold label", show=False),
        Binding("u", "cycle_refusal", "Filter: refusals (any/refusals/not refusals)", show=False),
        Binding("s", "cycle_sort", "Order: row, longest, shortest answer (and by grader score)", show=False),
        Binding("c", "clear_filters", "Clear filters", show=False),
        Binding("E", "edit_answer", "Edit the teacher's answer (the original is kept)", show=False),
        Binding("G", "use_gold", "Use the gold label where the teacher disagrees (rows shown)", show=False),
        Binding("d", "dedupe", "Dedupe repeated prompts", show=False),
        Binding("D", "near_dedupe", "Drop near-duplicate prompts and answers (one kept per group)", show=False),
        Binding("b", "cap", "Cap examples per label", show=False),
        Binding("I", "import_stored", "Import stored completions", show=False),
        Binding("enter", "detail", "Whole row", show=False),
        Binding("p", "toggle_panes", "Show/hide detail panes", show=False),
        Binding("plus,equals_sign", "epochs(1)", "More epochs", show=False),
        Binding("minus", "epochs(-1)", "Fewer epochs (below 1: auto)", show=False),
        Binding("r", "reload", "Reload answers", show=False),
        Binding("escape", "cancel_range", "Cancel range", show=False),
    ]
    HELP = """
Decide what the student learns: every **train** answer of the teacher is listed with its gold
label, the teacher's answer, whether they agree (✓ ✗, ? without gold; free text: the first grader's pass, else the task's exact
match, – without a reference), whether the answer is a valid
label, its training tokens, cost and status. `●` selected, `○` not, `·` cannot be selected (failed,
or held out for evaluation: those rows are never exported).

- **space** selects or deselects the row. **v** on a row, move, **v** again: the range gets the opposite
  of its first row's state (from a selected row it deselects); **shift+↑/↓** does the same while moving.
- **a** all shown, **n** none shown, **i** invert shown, **m** all shown except rows you deselected by hand.
- Filters combine: **g** agrees with gold, **x** invalid answers, **l** gold label, **/** text in the
  prompt or answer, **f** any filter as `key=value` (agrees, valid, label, answer, finish, status,
  source, tokens=MIN..MAX, text, dup=yes, refusal, edited, length=MIN..MAX answer tokens,
  score=GRADER:MIN..MAX, sort), **c** clears them.
- **u** shows the answers that read as refusals (the provider's refusal, a content filter, "I'm sorry,
  I can't…" at the start; not selected by default), then the others; **s** orders by answer length,
  then by the score of the spec's graders against the reference (shown in the detail pane).
- **E** corrects the highlighted answer in place: the edit is saved, marked `edited`, exported instead
  of the teacher's answer, which is kept (**E** again, ctrl+r, puts it back). **G** puts the gold label
  in every shown answer that disagrees with it (labelled classification).
- **d** keeps one row per exactly repeated prompt (`×N` in the dup column); **D** deselects near-duplicate
  prompts, then answers (most words shared, as `export --near-dedupe`), keeping one per group; **b** caps
  rows per label: the cap holds from then on (select all, imports, reloads and every export keep at most
  that many).
- **e** validates the selection as the provider would and shows the report before writing the JSONL,
  with an optional stratified validation file (its share: 0 for none);
  **I** imports completions stored on the provider (`store=true`) by metadata tag, of the teacher
  model unless you name another (`any`: every model); this workspace's own answers and prompts held
  out for evaluation are skipped.
- **t** fine-tunes the student on the newest exported file: it opens the Jobs screen's confirm dialog
  with the estimated training cost.
- **enter** shows the whole row, **p** hides the panes, **+**/**-** change the epochs of the cost.

The pane on the right counts the selection by **teacher label** (the answer the student is trained
on, and what the cap counts) beside every row's; **l** and `label=` filter by gold label, `answer=`
by teacher label. For extraction and generation, whose answers are not labels, it counts the teacher's
answers by length in words and by the first grader's pass, and **l** does nothing (classification only).

The selection is saved as you go, and `distill-tui export SPEC -o FILE` writes the same one.
"""
    DEFAULT_CSS = """
    CurateScreen #filterbar { height: 1; padding: 0 1; background: $boost; text-wrap: nowrap; text-overflow: ellipsis; }
    CurateScreen #empty { height: 1fr; padding: 1 2; display: none; }
    CurateScreen #panes { height: 35%; min-height: 6; border-top: hkey $foreground 20%; }
    CurateScreen #totals { height: 1; padding: 0 1; background: $boost; text-wrap: nowrap; text-overflow: ellipsis; }
    CurateScreen.-empty #empty { display: block; }
    CurateScreen.-empty CurationTable, CurateScreen.-empty #panes, CurateScreen.-empty #totals { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.cur: Curation | None = None
        self.status = "loading teacher answers…"
        self.anchor: int | None = None
        self.range_value = True  # what the range being made does: select (True) or deselect
        self._extending: tuple[int, bool] | None = None  # (row the last shift+move ended on, its value)
        self._loaded_key: tuple | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="filterbar")
        yield Static(Text(EMPTY), id="empty")
        yield CurationTable(id="table")
        with Horizontal(id="panes"):
            yield DetailPane(id="detail")
            yield DistributionPane(id="dist")
        yield Static(id="totals")

    def on_mount(self) -> None:
        self.table.focus()
        self._show_bar()
        self.load()

    @property
    def table(self) -> CurationTable:
        return self.query_one(CurationTable)

    # loading ----------------------------------------------------------------------------------
    def _answers_key(self) -> tuple:
        """Changes when answers are added or the spec is edited: then the list must be reloaded."""
        count, newest = self.workspace.store.execute(
            "SELECT COUNT(*), MAX(created_at) FROM answers WHERE split='train'")[0]
        return count, newest, id(self.workspace.spec)

    @work(thread=True, exclusive=True, exit_on_error=False, group="curate-load")
    def load(self) -> None:
        from distill_tui.core.curate.selection import Curation
        from distill_tui.core.evaluate import answer_scores

        try:
            if self.cur is not None:
                self.cur.flush()  # the new load must see every change made so far
            key = self._answers_key()
            curation = Curation.from_workspace(self.workspace, background_writes=True)
            answer_scores.attach(self.workspace, curation)  # grader scores: score= and s
            self._loaded_key = key
            self.post_message(CurationLoaded(curation))
        except Exception as exc:  # one line on screen, never a traceback
            self.post_message(CurationLoaded(None, error_line(exc)))

    def on_unmount(self) -> None:
        if self.cur is not None:
            self.cur.flush(10.0)

    def on_screen_resume(self) -> None:
        if self.cur is not None and self._answers_key() != self._loaded_key:
            self.load()

    def on_curation_loaded(self, message: CurationLoaded) -> None:
        if message.curation is None:
            self.status = f"cannot load: {message.error}"
            self._show_bar()
            return
        self.cur = message.curation
        self.set_class(self.cur.n == 0, "-empty")
        if self.status in ("loading teacher answers…", "reloading…"):
            self.status = ""
        self.table.set_model(self.cur, keep_row=self.table.current_row())
        self._changed(view=False)
        self.refresh_bindings()

    # refreshing -------------------------------------------------------------------------------
    def _show_bar(self) -> None:
        """The filters, then the status; the status keeps its room and the filters give way."""
        bar = self.query_one("#filterbar", Static)
        if self.anchor is not None:
            action = "selects" if self.range_value else "deselects"
            note, style = f"range from row {self.anchor} {action}: move, v applies, esc cancels", "bold"
        else:
            note, style = self.status, ""
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.cur is not None and self.cur.n:
            described = self.cur.filters.describe()
            room = bar.content_size.width - len("filter: ") - (len(note) + 3 if note else 0)
            if len(described) > max(room, 1):
                described = described[: max(room - 1, 0)] + "…"
            text.append("filter: ", style="bold")
            text.append(described)
            if note:
                text.append(" │ ")
        text.append(note, style=style)
        bar.update(text)

    def _changed(self, status: str | None = None, *, view: bool = False) -> None:
        """Redraw after the selection (or with `view`, the filters) changed."""
        cur = self.cur
        if cur is None:
            return
        if status is not None:
            self.status = status
        if view:
            self.table.refresh_view()
        else:
            self.table.refresh()
        self._show_bar()
        self.query_one("#totals", Static).update(totals_text(cur.totals(), cur.cap, cur.n))
        if cur.context.kind == "classification":
            shown = distribution_text(cur.distribution())
        else:  # free text and JSON: each answer is its own, so count them by length and by the grader's pass
            from distill_tui.core.curate.free_text import answer_distribution

            shown = distribution_text(answer_distribution(cur), title="teacher answers")
        self.query_one("#dist", DistributionPane).update(shown)
        self._show_detail(self.table.position)

    def _show_detail(self, position: int | None) -> None:
        pane = self.query_one("#detail", DetailPane)
        pane.update(Text("") if self.cur is None or position is None else detail_text(self.cur, position))

    @on(CurationTable.Highlighted)
    def _highlighted(self, message: CurationTable.Highlighted) -> None:
        self._show_detail(message.position)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reload", "import_stored") or action.startswith("switch"):
            return True
        return self.cur is not None and self.cur.n > 0

    # selection --------------------------------------------------------------------------------
    def action_toggle(self) -> None:
        row = self.table.current_row()
        if row is None:
            return
        if not self.cur.selectable[self.cur.pos[row]]:
            self._changed(f"row {row} cannot be selected: "
                          + ("it failed" if not self.cur.trainable[self.cur.pos[row]] else "held out for evaluation"))
            return
        self.cur.toggle(row)
        self._extending = None
        self._changed(self._cap_note())

    def _cap_note(self, lead: str = "") -> str:
        """`lead`, and what the cap deselected in the last change (if anything)."""
        if not self.cur.capped:
            return lead
        note = f"cap {self.cur.cap}/label deselected {self.cur.capped:,} other rows"
        return f"{lead}; {note}" if lead else note

    def action_extend(self, step: int) -> None:
        row = self.table.current_row()
        if row is None:
            return
        # Consecutive shift+moves continue one range: its value is set by the row it started on.
        if self._extending is not None and self._extending[0] == row:
            value = self._extending[1]
        else:
            value = self.cur.range_value(row)
        self.table.cursor += step
        end = self.table.current_row()
        self.cur.set_rows(sorted({row, end}), value)
        self._extending = (end, value)
        self._changed(self._cap_note())

    def action_range(self) -> None:
        row = self.table.current_row()
        if row is None:
            return
        if self.anchor is None or self.anchor not in self.cur.pos:
            self.anchor = row
            self.range_value = self.cur.range_value(row)
            self._show_bar()
            return
        ids = self.cur.ids[self.table.view].tolist()
        start = ids.index(self.anchor) if self.anchor in ids else self.table.cursor
        low, high = sorted((start, self.table.cursor))
        self.anchor = self._extending = None
        changed = self.cur.set_rows(ids[low:high + 1], self.range_value)
        what = "selected" if self.range_value else "deselected"
        self._changed(self._cap_note(f"{what} {high - low + 1:,} rows ({changed:,} changed)"))

    def action_cancel_range(self) -> None:
        self.anchor = None
        self._show_bar()

    def _bulk(self, what: str, changed: int) -> None:
        self._changed(self._cap_note(f"{what}: {changed:,} rows changed"))

    def action_select_all(self) -> None:
        self._bulk("all shown", self.cur.select_all())

    def action_select_none(self) -> None:
        self._bulk("none shown", self.cur.select_none())

    def action_invert(self) -> None:
        self._bulk("inverted", self.cur.invert())

    def action_select_matching(self) -> None:
        self._bulk("all matching, minus your exclusions", self.cur.select_matching())

    def action_dedupe(self) -> None:
        self._changed(f"dedupe: {self.cur.dedupe():,} repeated prompts deselected")

    def action_cap(self) -> None:
        def done(values: dict | None) -> None:
            if values is None:
                return
            text = values["cap"].strip()
            if text and (not text.isdigit() or int(text) < 1):
                self._changed(f"cap must be a number of rows, not {text!r}")
                return
            from distill_tui.core.common.errors import UserError

            try:
                dropped = self.cur.apply_cap(int(text) if text else None)
            except UserError as exc:
                self._changed(str(exc))
                return
            self._changed(f"cap {text}: {dropped:,} rows deselected" if text else "no cap")

        self.app.push_screen(AskDialog(
            "Cap rows per label", "Keep at most this many selected rows per teacher label (rows agreeing with "
            "gold first), now and after later changes and in exports. Empty: no cap.", [("cap", "rows per label", str(self.cur.cap or ""), "e.g. 50")]), done)

    def action_epochs(self, step: int) -> None:
        current = self.cur.totals().epochs
        new = current + step
        self.cur.set_epochs(None if new < 1 else min(50, new))
        self._changed("epochs: auto" if new < 1 else f"epochs: {min(50, new)}")

    # detail -----------------------------------------------------------------------------------
    def action_detail(self) -> None:
        if self.table.position is not None:
            self.app.push_screen(DetailDialog(detail_text(self.cur, self.table.position)))

    def action_toggle_panes(self) -> None:
        panes = self.query_one("#panes")
        panes.display = not panes.display

    def action_reload(self) -> None:
        self.status = "reloading…"
        self._show_bar()
        self.load()
