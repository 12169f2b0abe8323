"""Filters, orders and corrections of the curation screen for any answer, free text included.

`CurationFreeText` is mixed into `CurateScreen`; it relies on the screen's `workspace`, `cur`,
`table`, `_changed` and `_filter`. It holds the search and the filter line, the refusal filter, the
order of the list, editing the teacher's answer in place, and putting in the gold label where the
teacher disagrees.
"""

from __future__ import annotations

from distill_tui.core.common.errors import UserError
from distill_tui.tui.widgets.curation_dialogs import AskDialog

FILTER_HINT = (
    "Space-separated key=value: agrees=yes|no|unknown valid=yes|no label=A,B answer=A,B finish=stop,length "
    "status=ok|failed source=generated|imported tokens=MIN..MAX text=WORDS dup=yes|no refusal=yes|no "
    "edited=yes|no length=MIN..MAX (answer tokens) score=GRADER:MIN..MAX sort=long|short|score|-score|row "
    "(quote values with spaces: 'label=Pinot Noir'). Empty: no filter. Near-duplicates: D on the list.")
SORT_NAMES = {"": "row order", "long": "longest answers first", "short": "shortest answers first",
              "score": "highest score first", "-score": "lowest score first"}


class CurationFreeText:
    """Search, filter line, refusals, order, edits and gold labels on the curation screen."""


    # filters and order ---------------------------------------------------------------------
    def action_search(self) -> None:
        def done(values: dict | None) -> None:
            if values is not None:
                self._filter(text=values["text"].strip())

        self.app.push_screen(AskDialog("Search", "Rows whose prompt or answer contains this text (any case). "
                                       "Empty: no search.", [("text", "text", self.cur.filters.text, "")]), done)

    def action_filter(self) -> None:
        from distill_tui.core.curate.filters import parse_filter_line

        def done(values: dict | None) -> None:
            if values is None:
                return
            try:
                filters, actions = parse_filter_line(values["filter"])
                self.cur.check_filters(filters)
            except UserError as exc:
                self._changed(str(exc).replace("--filter ", "filter "))
                return
            self.cur.set_filters(filters)
            notes = []
            if actions["dedupe"]:
                notes.append(f"dedupe deselected {self.cur.dedupe():,}")
            if actions["cap"]:
                notes.append(f"cap deselected {self.cur.apply_cap(actions['cap']):,}")
            self._changed(", ".join(notes), view=True)

        current = self.cur.filters.describe()
        self.app.push_screen(AskDialog("Filter", FILTER_HINT, [("filter", "filters", "" if current == "none" else current,
                                                                "agrees=yes")]), done)

    def action_cycle_refusal(self) -> None:
        order = [None, True, False]
        self._filter(refusal=order[(order.index(self.cur.filters.refusal) + 1) % len(order)])
        shown = len(self.cur.view())
        answers = f"{shown:,} answer{'s' if shown != 1 else ''}"
        what = {None: "", True: f"{answers} read as refusal{'s' if shown != 1 else ''}",
                False: f"{answers} that are not refusals"}
        self._changed(what[self.cur.filters.refusal])

    def action_cycle_sort(self) -> None:
        order = ["", "long", "short", *(("score", "-score") if self.cur.scores else ())]
        now = self.cur.filters.sort
        self._filter(sort=order[(order.index(now) + 1) % len(order)] if now in order else "")
        self._changed(f"sorted: {SORT_NAMES[self.cur.filters.sort]}")

    # corrections -----------------------------------------------------------------------------
    def action_edit_answer(self) -> None:
        from distill_tui.tui.widgets.answer_edit_dialog import REVERT, EditAnswerDialog

        row = self.table.current_row()
        if row is None:
            return
        p = self.cur.pos[row]
        answer, original = self.cur.answers[p], self.cur.originals.get(row)
        if answer.status != "ok":
            self._changed(f"row {row}: the request failed; there is no answer to correct")
            return
        labels = self.cur.context.labels
        hint = ("The student trains on this answer instead of the teacher's, which stays in the workspace. "
                + (f"It is read as the teacher's was: one of the {len(labels)} labels"
                   + (" as JSON." if self.workspace.spec.prompt.structured else ".") if labels else ""))

        def done(result: tuple[str, str] | None) -> None:
            from distill_tui.core.curate import edits

            if result is None:
                return
            what, text = result
            try:
                if what == REVERT:
                    edits.revert(self.cur, [row])
                    self._changed(f"row {row}: back to the teacher's original answer")
                    return
                new = edits.edit(self.cur, row, text, edits.parser(self.workspace))
            except UserError as exc:
                self._changed(str(exc))
                return
            if not self.cur.edited[self.cur.pos[row]]:
                self._changed(f"row {row}: unchanged; the teacher's answer is kept")
                return
            invalid = "" if new.valid else f" (not a valid answer, deselected: {new.problem or 'not a label'})"
            self._changed(f"row {row}: answer edited; the edit is exported, the original kept{invalid}")

        self.app.push_screen(EditAnswerDialog(row, answer.content or "",
                                              None if original is None else (original.content or ""), hint), done)

    def action_use_gold(self) -> None:
        from distill_tui.core.curate import edits
        from distill_tui.tui.widgets.confirm_dialog import ConfirmDialog

        if not self.cur.context.labels:
            self._changed("only a labelled classification task has gold labels to put in")
            return
        view = self.cur.view()
        count = len(edits.disagreeing(self.cur, view))
        if not count:
            self._changed("no teacher answer shown disagrees with its gold label")
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            changed = edits.use_gold(self.cur, self.workspace, view)
            self._changed(f"gold label put in {changed:,} answers (originals kept; edited=yes lists them)")

        self.app.push_screen(ConfirmDialog(
            "Use the gold label where the teacher disagrees?",
            f"{count:,} of the rows shown have a teacher answer other than their gold label. The student will "
            "train on the gold label instead; the teacher's answers stay in the workspace (E on a row puts one "
            "back).", yes="Use gold"), done)
