"""What every part of the core may use: user errors and their exit codes, redaction of secrets,
plain-text tables, and the checks that keep a path from hanging a read. Imports nothing else of the core."""
