"""A workspace: a spec with its store, data and provider client, and finding the answers a moved or
copied spec already paid for. Uses `store`, `cost`, `provider`, `task` and `common`."""
