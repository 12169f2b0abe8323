"""What a run will cost before anything is spent: exact token counts, dated prices and model
capabilities, the whole-run estimate, and the preflight checks against provider limits. Uses `provider`,
`task` and `common`."""
