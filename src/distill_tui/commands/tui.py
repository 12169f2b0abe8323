"""`distill-tui SPEC`: the terminal UI on a spec (with no SPEC the CLI runs `demo`)."""

from __future__ import annotations

from pathlib import Path


def run(spec: str | Path, *, demo: bool = False) -> int:
    from distill_tui.core.workspace.workspace import Workspace

    workspace = Workspace.open(Path(spec))
    if not demo:
        # Fail here, with one line, rather than on the first screen.
        workspace.data  # noqa: B018
    from distill_tui.tui.app import DistillApp

    app = DistillApp(workspace, demo=demo)
    app.run()
    return app.return_code or 0
