"""What a run will cost before anything is spent: exact token counts, dated prices and model
capabilities, the whole-run estimate (with the self-hosted path: GPU time priced per GPU-hour), and
the preflight checks against provider limits. Uses `provider`, `task` and `common`."""
