"""Curation: which teacher answers the student learns from.

The model holds every train-split teacher answer of the current prompt as parallel numpy arrays, so
a filter or a bulk action over 10k rows is a few vectorised operations. Rows are addressed by row id:
dataset rows keep their file position, and completions imported from a provider get negative ids
(-1, -2, … in import order; see `importer`).

Selection rules:
- A row's state is its explicit flag in the store's `selections` table, else the default: selected
  when the answer came back ("ok"), has content, is a valid answer and does not read as a refusal.
- Rows that cannot train (failed, empty) or that would leak the test set (their row is in today's
  eval split, or their prompt equals an eval row's prompt) are never selected, whatever their flag.
- A hand deselection (space, range, dedupe, cap) is an *exclusion*: "select all matching" skips it;
  "select all" and any hand selection lift it. Filters, cap, epochs and exclusions persist in the
  `curation` setting, so the TUI and the CLI see the same curation after a restart.
- A cap per teacher label holds whenever the selection grows (a bulk action, a load that brings
  imported or reloaded rows): rows over it are deselected as exclusions, rows selected by hand kept
  first. So the saved selection, and any export of it, never has more than the cap per label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from distill_tui.core.curate import free_text
from distill_tui.core.curate.filters import Filters, cap_drop, check_known, dedupe_drop
from distill_tui.core.curate.importer import Context, load_workspace, prompt_key
from distill_tui.core.curate.validate import TokenCounter
from distill_tui.core.curate.writer import Writer

if TYPE_CHECKING:
    from distill_tui.core.store.database import Answer, Store
    from distill_tui.core.workspace.workspace import Workspace

SETTING = "curation"


@dataclass(frozen=True)
class Totals:
    """What the current selection would cost to train on."""

    examples: int
    shown: int
    selected_shown: int
    tokens: int
    epochs: int
    cost_usd: float | None
    leaked: int  # rows the user selected that are held out for evaluation


def prompt_text(messages: Sequence[dict[str, Any]] | None) -> str:
    """The non-system message text of a prompt (what text search looks at)."""
    return "\n".join(str(m.get("content") or "") for m in messages or () if m.get("role") != "system")


def _codes(values: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Integer codes for values (like pandas.factorize, None included as a category)."""
    index: dict[Any, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int32, count=len(values))
    return codes, list(index)


class Curation:
    """The selection model over a list of teacher answers (see the module docstring).

    Changes are written to the store as they happen; with `background_writes` they are written on a
    background thread instead (call `flush` before closing the store).
    """

    def __init__(self, answers: Sequence["Answer"], context: Context | None = None, store: "Store | None" = None,
                 progress: Callable[[int, int], None] | None = None, *, background_writes: bool = False) -> None:
        self.context = context or Context()
        self.store = store
        self._writer = Writer(store, SETTING) if store is not None and background_writes else None
        ordered = sorted(answers, key=lambda a: (a.row_id < 0, abs(a.row_id)))
        self.answers = list(ordered)
        n = self.n = len(ordered)
        self.ids = np.fromiter((a.row_id for a in ordered), dtype=np.int64, count=n)
        self.pos = {int(r): i for i, r in enumerate(self.ids.tolist())}
        self.gold_codes, self.gold_values = _codes([a.gold for a in ordered])
        self.answer_codes, self.answer_values = _codes([a.label for a in ordered])
        self.finish_codes, self.finish_values = _codes([a.finish_reason for a in ordered])
        self.valid = np.fromiter((bool(a.valid) for a in ordered), dtype=bool, count=n)
        self.ok = np.fromiter((a.status == "ok" for a in ordered), dtype=bool, count=n)
        self.imported = np.fromiter((a.source == "imported" for a in ordered), dtype=bool, count=n)
        self.trainable = self.ok & np.fromiter((bool(a.content and a.content.strip()) for a in ordered), bool, n)
        self.agrees = np.full(n, -1, dtype=np.int8)
        self.cost = np.fromiter((a.cost_usd or 0.0 for a in ordered), dtype=np.float64, count=n)
        keys = [prompt_key(a.messages) for a in ordered]
        self.group_codes, group_keys = _codes(keys)
        self.group_size = np.bincount(self.group_codes, minlength=len(group_keys))[self.group_codes]
        ctx = self.context
        self.leak = np.fromiter(
            (a.split != "train" or a.row_id in ctx.eval_ids or k in ctx.eval_keys for a, k in zip(ordered, keys)),
            dtype=bool, count=n,
        )
        self._search = [(prompt_text(a.messages) + "\n" + (a.content or "")).lower() for a in ordered]
        self.tokens = np.zeros(n, dtype=np.int64)
        self.assistant_tokens = np.zeros(n, dtype=np.int64)
        counter = TokenCounter(ctx.student)
        for i, a in enumerate(ordered):
            if self.trainable[i]:
                self.tokens[i], self.assistant_tokens[i] = counter.example(a.messages or [], a.content or "")
            if progress and i % 1000 == 999:
                progress(i + 1, n)
        self.refusal = free_text.refusal_column(ordered)
        self.originals: dict[int, "Answer"] = {}  # row id → the teacher's answer an edit replaced (edits.py)
        self.edited = np.zeros(n, dtype=bool)
        self.scores: dict[str, np.ndarray] = {}  # grader → score per position, NaN unscored (free_text.py)
        self.scorer: Callable[["Answer"], dict[str, float]] | None = None  # re-scores an edited answer
        self.judges: list[str] = []  # graders in `scores` that are a judge's saved verdicts (NaN: not judged)
        self.pass_mark: tuple[str, float] | None = None  # (grader, threshold) whose pass is "agrees" (free text)
        free_text.agreement(self)
        self.default = self.trainable & self.valid & ~self.refusal  # a refusal is not worth distilling
        self.selected = self.default.copy()
        self.excluded: set[int] = set()
        self.filters = Filters()
        self.cap: int | None = None
        self.capped = 0  # rows the cap deselected in the last change (for the status line)
        self.epochs: int | None = None
        self._text_cache: tuple[str, np.ndarray] | None = None
        self._view: np.ndarray | None = None
        self._load_state()

    # loading ----------------------------------------------------------------------------------
    @classmethod
    def from_workspace(cls, ws: "Workspace", progress: Callable[[int, int], None] | None = None, *,
                       background_writes: bool = False) -> "Curation":
        """The curation of a workspace: its teacher answers for today's prompts, plus imported ones."""
        from distill_tui.core.curate.edits import with_edits

        answers, context = load_workspace(ws)
        answers, originals = with_edits(answers, ws.store.edits())
        cur = cls(answers, context, ws.store, progress, background_writes=background_writes)
        cur.originals, cur.edited = originals, np.isin(cur.ids, list(originals))
        return cur

    def _load_state(self) -> None:
        if self.store is None:
            return
        state = self.store.setting(SETTING, {}) or {}
        self.filters = Filters.from_dict(state.get("filters"))
        self.cap = state.get("cap")
        self.epochs = state.get("epochs")
        self.excluded = {int(r) for r in state.get("excluded", ()) if int(r) in self.pos}
        flags = self.store.selections()
        if flags:
            ids = [r for r in flags if r in self.pos]
            where = np.fromiter((self.pos[r] for r in ids), dtype=np.int64, count=len(ids))
            self.selected[where] = np.fromiter((flags[r] for r in ids), dtype=bool, count=len(ids))
        # Rows new since the cap was set (imported, or answered since) come in selected by default.
        self._enforce_cap()

    def save_state(self) -> None:
        """Persist filters, cap, epochs and exclusions (selection flags are written as they change)."""
        self._persist({}, True)

    def _persist(self, flags: dict[int, bool], state: bool) -> None:
        if self.store is None:
            return
        snapshot = None
        if state:
            snapshot = {"filters": self.filters.to_dict(), "cap": self.cap, "epochs": self.epochs,
                        "excluded": sorted(self.excluded)}
        if self._writer is not None:
            self._writer.submit(flags, snapshot)
            return
        if flags:
            self.store.set_selections(flags)
        if snapshot is not None:
            self.store.set_setting(SETTING, snapshot)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every change is in the store (immediate without background writes); False
        when that timed out or a write failed."""
        return True if self._writer is None else self._writer.flush(timeout)

    # views ------------------------------------------------------------------------------------
    @property
    def selectable(self) -> np.ndarray:
        return self.trainable & ~self.leak

    @property
    def effective(self) -> np.ndarray:
        """Rows that would be exported: selected, trainable and not held out."""
        return self.selected & self.selectable

    def mask(self, filters: Filters | None = None) -> np.ndarray:
        """The rows a filter matches, as a boolean array in model order."""
        f = self.filters if filters is None else filters
        m = np.ones(self.n, dtype=bool)
        if f.agrees:
            m &= self.agrees == {"yes": 1, "no": 0, "unknown": -1}[f.agrees]
        if f.valid is not None:
            m &= self.valid == f.valid
        for values, codes, known in ((f.labels, self.gold_codes, self.gold_values),
                                     (f.answers, self.answer_codes, self.answer_values),
                                     (f.finish, self.finish_codes, self.finish_values)):
            if values:
                wanted = [i for i, v in enumerate(known) if v in values]
                m &= np.isin(codes, wanted)
        if f.status:
            m &= self.ok == (f.status == "ok")
        if f.source:
            m &= self.imported == (f.source == "imported")
        if f.min_tokens is not None:
            m &= self.tokens >= f.min_tokens
        if f.max_tokens is not None:
            m &= self.tokens <= f.max_tokens
        if f.dups is not None:
            m &= (self.group_size > 1) == f.dups
        if f.text:
            m &= self._text_mask(f.text)
        return m & free_text.mask(self, f)

    def _text_mask(self, text: str) -> np.ndarray:
        needle = text.lower()
        if self._text_cache is None or self._text_cache[0] != needle:
            hits = np.fromiter((needle in s for s in self._search), dtype=bool, count=self.n)
            self._text_cache = (needle, hits)
        return self._text_cache[1]

    def view(self) -> np.ndarray:
        """Positions of the rows the current filters show, in list order (cached)."""
        if self._view is None:
            self._view = free_text.order(self, np.flatnonzero(self.mask()), self.filters)
        return self._view

    def check_filters(self, filters: Filters) -> None:
        """Refuse a label, answer or finish reason no row can have.

        Raises:
            UserError: naming the unknown value and the closest known ones.
        """
        check_known(filters, [*self.context.labels, *self.gold_values],
                    [*self.context.labels, *self.answer_values],
                    ["stop", "length", "content_filter", "tool_calls", *self.finish_values])
        free_text.check(self, filters)

    def set_filters(self, filters: Filters) -> None:
        self.filters = filters
        self._view = None
        self.save_state()

    def positions(self, row_ids: Iterable[int]) -> np.ndarray:
        return np.fromiter((self.pos[int(r)] for r in row_ids), dtype=np.int64)

    # selection --------------------------------------------------------------------------------
    def _apply(self, where: np.ndarray, value: np.ndarray | bool, *, exclude: bool = False,
               lift: bool = True, by_hand: bool = False) -> int:
        """Set the selection of positions `where`, write the changes, track exclusions, and hold
        the cap (keeping rows selected `by_hand`). Returns how many rows changed before the cap."""
        value = np.asarray(value, dtype=bool)
        keep = self.selectable[where]
        where = where[keep]
        new = value[keep] if value.ndim else np.broadcast_to(value, where.shape)
        changed = where[self.selected[where] != new]
        self.selected[where] = new
        before = len(self.excluded)
        if exclude:
            self.excluded.update(self.ids[where[~new]].tolist())
        if lift and self.excluded:  # skipped when there is none: invert over 100k rows stays under 50 ms
            self.excluded.difference_update(self.ids[where[new]].tolist())
        flags = dict(zip(self.ids[changed].tolist(), self.selected[changed].tolist())) if len(changed) else {}
        if flags or len(self.excluded) != before:
            self._persist(flags, len(self.excluded) != before)
        self.capped = 0
        if new.any():
            prefer = None
            if by_hand:
                prefer = np.zeros(self.n, dtype=bool)
                prefer[where[new]] = True
            self.capped = self._enforce_cap(prefer)
        return int(len(changed))

    def _enforce_cap(self, prefer: np.ndarray | None = None) -> int:
        """Deselect (as exclusions) the rows over the cap per teacher label; returns how many."""
        if not self.cap:
            return 0
        eff = self.effective
        if np.bincount(self.answer_codes[eff], minlength=1).max() <= self.cap:
            return 0  # the common case, without ranking every row
        return self._apply(cap_drop(self, eff, self.cap, prefer), False, exclude=True)

    def toggle(self, row_id: int) -> bool:
        """Flip one row by hand; returns its new state (unchanged when it cannot be selected)."""
        p = self.pos[int(row_id)]
        self._apply(np.array([p]), not self.selected[p], exclude=True, by_hand=True)
        return bool(self.effective[p])

    def set_rows(self, row_ids: Iterable[int], value: bool) -> int:
        """Select or deselect rows by hand (a range); returns how many changed."""
        return self._apply(self.positions(row_ids), value, exclude=True, by_hand=True)

    def range_value(self, row_id: int) -> bool:
        """What a range starting at this row does: deselect when the row is selected, else select."""
        return not bool(self.effective[self.pos[int(row_id)]])

    def select_all(self) -> int:
        """Select every row shown, lifting exclusions."""
        return self._apply(self.view(), True)

    def select_none(self) -> int:
        """Deselect every row shown (not recorded as exclusions)."""
        return self._apply(self.view(), False, lift=False)

    def invert(self) -> int:
        """Flip every row shown."""
        where = self.view()
        return self._apply(where, ~self.selected[where])

    def select_matching(self) -> int:
        """Select every row shown except those excluded by hand (or by dedupe and cap)."""
        where = self.view()
        keep = ~np.isin(self.ids[where], np.fromiter(self.excluded, np.int64, len(self.excluded)))
        return self._apply(where[keep], True, lift=False)

    def dedupe(self) -> int:
        """Keep one selected row per exactly repeated prompt (preferring agreement with gold, then a
        valid answer, then the lowest id); the others are excluded. Returns how many were dropped."""
        return self._apply(dedupe_drop(self, self.effective), False, exclude=True)

    def apply_cap(self, cap: int | None) -> int:
        """Keep at most `cap` selected rows per teacher label (preferring agreement with gold, then a
        seeded random order) from now on; the others are excluded. Returns how many were dropped.

        Raises:
            UserError: a cap on a task without labels (each distinct free-text or JSON answer would count
                as a label of its own).
        """
        check_cap(self, cap)
        self.cap = cap or None
        self.save_state()
        self.capped = self._enforce_cap()
        return self.capped

    def set_epochs(self, epochs: int | None) -> None:
        self.epochs = epochs
        self.save_state()

    # summaries --------------------------------------------------------------------------------
    def chosen_epochs(self, n_examples: int) -> int:
        from distill_tui.core.cost.pricing import auto_epochs

        if self.epochs:
            return self.epochs
        if isinstance(self.context.n_epochs, int):
            return self.context.n_epochs
        return auto_epochs(n_examples)

    def totals(self) -> Totals:
        eff = self.effective
        n = int(eff.sum())
        tokens = int(np.minimum(self.tokens[eff], self.context.token_limit).sum())
        epochs = self.chosen_epochs(n)
        price = self.context.training_price
        view = self.view()
        return Totals(
            examples=n, shown=len(view), selected_shown=int(eff[view].sum()), tokens=tokens, epochs=epochs,
            cost_usd=None if price is None else tokens * epochs * price / 1_000_000,
            leaked=int((self.selected & self.leak & self.trainable).sum()),
        )

    def distribution(self) -> list[tuple[str, int, int]]:
        """(teacher label, rows selected, rows in the whole set), most frequent first. Invalid
        answers count under "(invalid)"."""
        codes = np.where(self.valid, self.answer_codes, -1)
        names = {i: str(v) for i, v in enumerate(self.answer_values)}
        names[-1] = "(invalid)"
        everything = dict(zip(*np.unique(codes, return_counts=True)))
        chosen = dict(zip(*np.unique(codes[self.effective], return_counts=True)))
        rows = [(names[int(c)], int(chosen.get(c, 0)), int(t)) for c, t in everything.items()]
        return sorted(rows, key=lambda r: (-r[2], r[0]))

    def row(self, position: int) -> "Answer":
        return self.answers[position]


def check_cap(cur: Curation, cap: int | None) -> None:
    """Refuse a cap per label on a task whose answers are not labels (extraction, generation)."""
    if cap and not cur.context.labels:
        from distill_tui.core.common.errors import UserError

        raise UserError(f"cap={cap}: a cap per label is for classification; a free-text or JSON answer is not a "
                        "label (dedupe or near-duplicates thin repeated answers)")
