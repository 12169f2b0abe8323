"""The screens: one per module, each using the core and the widgets, never another screen's internals.
The modes they belong to are listed in `distill_tui.tui.modes`."""
