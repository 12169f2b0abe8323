"""`distill-tui [SPEC]`: the terminal UI on a spec (no SPEC: the demo)."""

from __future__ import annotations

from pathlib import Path


def run(spec: str | None, *, demo: bool = False) -> int:
    from distill_tui.core.workspace import Workspace

    if spec is None:
        from distill_tui.commands.demo import prepare_demo

        spec_path, demo = prepare_demo(reset=False), True
    else:
        spec_path = Path(spec)
    workspace = Workspace.open(spec_path)
    if not demo:
        # Fail here, with one line, rather than on the first screen.
        workspace.data  # noqa: B018
    from distill_tui.tui.app import DistillApp

    app = DistillApp(workspace, demo=demo)
    app.run()
    return app.return_code or 0
