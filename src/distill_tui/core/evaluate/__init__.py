"""Comparing models on held-out rows: which models, running them through `run`, the comparison
table, its statistics and its reports. The top of the core: it may use every other core package."""
