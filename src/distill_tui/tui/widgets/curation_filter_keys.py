"""The curation screen's filter keys: `g` agrees with gold, `x` invalid answers, `l` the next gold
label (classification), `c` clears every filter.

`CurationFilterKeys` is mixed into `CurateScreen`; it relies on the screen's `cur` and `_changed`.
"""

from __future__ import annotations

from dataclasses import replace


class CurationFilterKeys:
    """The keys that cycle one filter of the curation's view, and the one that clears them."""

    def _filter(self, **changes) -> None:
        self.cur.set_filters(replace(self.cur.filters, **changes))
        self._changed("", view=True)

    def action_cycle_agrees(self) -> None:
        order = [None, "yes", "no", "unknown"]
        self._filter(agrees=order[(order.index(self.cur.filters.agrees) + 1) % len(order)])

    def action_cycle_valid(self) -> None:
        order = [None, False, True]
        self._filter(valid=order[(order.index(self.cur.filters.valid) + 1) % len(order)])

    def action_cycle_label(self) -> None:
        if self.cur.context.kind != "classification":  # its gold values are reference texts, not labels
            self._changed("l (next gold label) is for classification only")
            return
        labels = [(), *((str(v),) for v in sorted(v for v in self.cur.gold_values if v is not None))]
        now = self.cur.filters.labels
        self._filter(labels=labels[(labels.index(now) + 1) % len(labels)] if now in labels else ())

    def action_clear_filters(self) -> None:
        from distill_tui.core.curate.filters import Filters

        self.cur.set_filters(Filters())
        self._changed("", view=True)
