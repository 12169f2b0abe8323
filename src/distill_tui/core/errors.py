"""Errors a user can cause, each carrying the one line the CLI prints and its exit code."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input: printed as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SpecError(UserError):
    """A spec file that cannot be used: names the file, the key and the problem."""


class DataError(UserError):
    """A data file that cannot be used: names the file and the problem."""


class WorkFailed(Exception):
    """The work itself failed (rows failed, a job failed, the provider refused): exit code 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
