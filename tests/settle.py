"""Wait until a Textual screen has really finished drawing before a snapshot is taken.

`Pilot.pause()` waits until the process *looks* idle (CPU time against wall time), which a loaded CI
machine defeats: a DataTable then gets photographed after its rows arrived but before its idle
handler measured the column widths, and every cell is cut to its header's width. This waits on the
actual pending work instead.
"""

from __future__ import annotations

import time
from typing import Any

# Attributes through which Textual's DataTable and textual-fastdatatable defer work to their idle handler.
_DEFERRED = ("_require_update_dimensions", "_new_rows", "_updated_cells")


def _pending(app: Any) -> bool:
    nodes = [app, app.screen, *app.screen.walk_children(with_self=False)]
    for node in nodes:
        queue = getattr(node, "_message_queue", None)
        if queue is not None and not queue.empty():
            return True
        if any(getattr(node, name, None) for name in _DEFERRED):
            return True
    return False


async def settle(pilot: Any, timeout: float = 20.0) -> None:
    """Pause until no widget of the current screen has messages or deferred table work pending,
    twice in a row (a handled message can queue another)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        await pilot.pause()
        quiet = quiet + 1 if not _pending(pilot.app) else 0
    await pilot.pause()


async def workers_done(app: Any) -> None:
    """Wait until every worker of `app` has ended, however it ended.

    `WorkerManager.wait_for_complete` raises `WorkerCancelled` when any worker was cancelled, which
    an exclusive worker (the prompt of the highlighted row) is each time a newer one replaces it:
    for a test that only waits for the work to be over, a cancelled worker is over.
    """
    import asyncio

    workers = list(app.workers)
    if workers:
        await asyncio.gather(*(worker.wait() for worker in workers), return_exceptions=True)
