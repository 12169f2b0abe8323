"""The advisory lock a paid run holds on its workspace. `Store` mixes this in."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Iterator


class RunLocks:
    """Run locks of `Store` (needs its `path`)."""

    path: Path

    def run_lock_path(self, name: str) -> Path:
        """The file `run_lock(name)` locks (beside the database; it stays after the run)."""
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:12]
        return self.path.with_name(f"{self.path.name}.{digest}.lock")

    @contextlib.contextmanager
    def run_lock(self, name: str) -> Iterator[None]:
        """Hold an exclusive, advisory lock named `name` on this workspace for a paid run.

        The lock is a `flock` on a file beside the database, so it is released when the process
        dies, however it dies (kill -9 included).

        Raises:
            UserError: another process (or another run in this one) holds it.
        """
        from distill_tui.core.common.errors import UserError

        handle = open(self.run_lock_path(name), "a+")
        try:
            try:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # pragma: no cover - no flock on Windows: no lock
                pass
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise UserError(f"{name} is already running in this workspace ({holder}); "
                                "wait for it or stop it, then run again (nothing is bought twice)") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}, started {time.strftime('%H:%M:%S')}")
            handle.flush()
            yield
        finally:
            handle.close()
