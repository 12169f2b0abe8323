"""The six modes of the app, one screen each: `SCREENS` maps each mode name to its key, title, module and
class, imported lazily (the top bar, the help screen and the app read it)."""

SCREENS: dict[str, tuple[str, str, str, str]] = {
    # mode: (key, title, module, class)
    "dataset": ("1", "Dataset", "distill_tui.tui.screens.dataset", "DatasetScreen"),
    "estimate": ("2", "Estimate", "distill_tui.tui.screens.estimate", "EstimateScreen"),
    "generate": ("3", "Generate", "distill_tui.tui.screens.generate", "GenerateScreen"),
    "curate": ("4", "Curate", "distill_tui.tui.screens.curate", "CurateScreen"),
    "jobs": ("5", "Jobs", "distill_tui.tui.screens.jobs", "JobsScreen"),
    "results": ("6", "Results", "distill_tui.tui.screens.results", "ResultsScreen"),
}
