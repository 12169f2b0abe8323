"""Which backend trains for a workspace: the local trainer or the provider's jobs API.

Kept apart from `backend` (the protocol and the jobs-API implementation) and `local` (the local trainer),
which both stand below it, so neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from distill_tui.core.train.backend import FineTuneBackend, OpenAIJobsBackend, backend_name
from distill_tui.core.train.local import LocalBackend

if TYPE_CHECKING:
    from distill_tui.core.workspace.workspace import Workspace


def backend_for(workspace: "Workspace") -> FineTuneBackend:
    """The backend of the workspace: the local trainer for [finetune] backend = "local", else the
    provider's jobs API (raises UserError when the key is missing)."""
    if workspace.spec.finetune.backend == "local":
        return LocalBackend(workspace)
    return OpenAIJobsBackend(workspace.client(), backend_name(workspace))
