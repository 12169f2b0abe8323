"""What the student learns from: the selection model and its filters, answers imported from a
provider, the fine-tuning JSONL export and its validation. Uses `workspace` and below, never `run`."""
