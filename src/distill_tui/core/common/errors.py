"""Errors a user can cause, each carrying the one line the CLI prints and its exit code.

With `--json` the CLI prints the error as `{"error": message, "exit_code": N}` on stdout, merged into
`payload` when the command had more to say (an export's validation report).
"""

from __future__ import annotations

from typing import Any

from distill_tui.core.common.redact import redact


class OneLineError(Exception):
    """An error the CLI prints as its one line (secrets redacted), with the exit code of its kind."""

    exit_code = 1

    def __init__(self, message: str, *, payload: dict[str, Any] | None = None) -> None:
        message = redact(message)  # a key pasted into the wrong place is never echoed
        super().__init__(message)
        self.message = message
        self.payload = payload

    def __str__(self) -> str:
        return self.message


class UserError(OneLineError):
    """A mistake in the user's input: printed as one line, exit code 2."""

    exit_code = 2


class SpecError(UserError):
    """A spec file that cannot be used: names the file, the key and the problem."""


class DataError(UserError):
    """A data file that cannot be used: names the file and the problem."""


class WorkFailed(OneLineError):
    """The work itself failed (rows failed, a job failed, the provider refused): exit code 1."""

    exit_code = 1
