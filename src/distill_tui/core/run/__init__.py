"""Asking models: the threaded request engine with its rate limits and retries, the plan of a run,
teacher and evaluation runs that save each answer as it lands, and the Batch API. Uses `workspace` and
everything below it."""
