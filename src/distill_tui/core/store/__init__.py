"""The workspace database: one SQLite file per spec holding every answer, selection, batch, job and
evaluation, each saved the moment it is known. Uses `provider` (to read provider values) and `common`."""
