"""Refusing paths that are not plain files before opening them (specs, data, output files)."""

from __future__ import annotations

import stat
from pathlib import Path


def not_a_plain_file(path: Path, max_bytes: int | None = None) -> str | None:
    """Why `path` cannot be read as a file (a folder, FIFO, device, socket, or too large), else None.

    Reading a FIFO waits for a writer for ever and /dev/zero never ends, so they are refused before
    they are opened. Missing files are left to the caller's open() (FileNotFoundError).

    Raises:
        OSError: from stat, other than the file not existing.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    mode = info.st_mode
    if stat.S_ISREG(mode):
        if max_bytes is not None and info.st_size > max_bytes:
            return f"is {info.st_size:,} bytes (at most {max_bytes:,})"
        return None
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
    return "is " + next((kind for test, kind in kinds if test(mode)), "not a regular file")
