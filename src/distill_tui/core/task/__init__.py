"""What is asked: the spec, the dataset (load, filter language, split), prompt templates and the
chat request each row becomes. Uses `common` only."""
