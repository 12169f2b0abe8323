"""`distill-tui jobs [SPEC] [--json] [--local]`: fine-tuning jobs known locally (one workspace, or
every workspace) merged with the provider's job list.

A provider that cannot be asked (no key, unreachable) is a note on stderr; local jobs still list.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill_tui.core.common.text_table import aligned
from distill_tui.core.cost.pricing import format_usd

if TYPE_CHECKING:
    from distill_tui.core.store.database import Store
    from distill_tui.core.store.jobs import JobRecord


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _provider_error(exc: Exception) -> str:
    from distill_tui.core.provider.api_errors import explain

    explained = explain(exc)
    return explained[0] if explained else str(exc)


def _stores(args: Namespace) -> list[tuple[str, "Store", Any]]:
    """(workspace label, store, workspace or None) for SPEC, or for every workspace."""
    from distill_tui.core.store.database import Store, iter_workspaces
    from distill_tui.core.workspace.workspace import Workspace

    if args.spec:
        workspace = Workspace.open(args.spec, base_url=args.base_url, allow_read_only=True)
        return [(workspace.spec.source.name, workspace.store, workspace)]
    out = []
    for path in iter_workspaces():
        store = Store(path, allow_read_only=True)
        if store.meta("moved_to"):  # its spec moved: its jobs are listed under the new path
            store.close()
            continue
        spec_path = store.meta("spec_path")
        out.append((Path(spec_path).name if spec_path else path.stem, store, None))
    return out


def _remote(args: Namespace, workspace: Any) -> tuple[list, str]:
    """The provider's jobs and the backend name (raises whatever the provider raises)."""
    from distill_tui.core.provider.clients import is_offline, make_client
    from distill_tui.core.train.backend import OpenAIJobsBackend
    from distill_tui.core.train.backends import backend_for

    if workspace is not None:
        backend = backend_for(workspace)
    else:
        name = "offline" if is_offline(None, args.base_url) else "openai"
        backend = OpenAIJobsBackend(make_client(None, base_url=args.base_url), name)
    return backend.list_jobs(limit=100), backend.name


def collect(args: Namespace) -> tuple[list[tuple[str, "JobRecord", str]], list[str]]:
    """(workspace, job, "local"|"provider") rows, newest first, and notes about the provider."""
    from distill_tui.core.cost.pricing import load_prices
    from distill_tui.core.train.follow import merge_listing

    stores = _stores(args)
    notes: list[str] = []
    remote, backend = [], "openai"
    if not args.local:
        try:
            remote, backend = _remote(args, stores[0][2] if stores else None)
        except Exception as exc:  # the provider is optional here: list what is known locally
            notes.append(f"provider not asked: {_provider_error(exc)}")
    rows: list[tuple[str, JobRecord, str]] = []
    prices = load_prices()
    others_by_id: dict[str, JobRecord] = {}
    try:
        for label, store, _ in stores:
            local, others = merge_listing(store, prices, remote, backend)
            rows += [(label, job, "local") for job in local]
            for job in others:
                others_by_id.setdefault(job.id, job)
        if not stores:
            from distill_tui.core.train.jobs import record_from

            for snap in remote:
                others_by_id[snap.id] = record_from(snap, backend, None, source="provider")
        known = {job.id for _, job, _ in rows}
        rows += [("(provider)", job, "provider") for job_id, job in others_by_id.items() if job_id not in known]
    finally:
        for _, store, workspace in stores:
            (workspace or store).close()
    rows.sort(key=lambda r: r[1].created_at, reverse=True)
    return rows, notes


def run(args: Namespace) -> int:
    from distill_tui.core.train.follow import job_cost, job_json, without_gpu

    rows, notes = collect(args)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({
            "jobs": [job_json(job, workspace=label, source=source) for label, job, source in rows],
            "notes": notes,
        }))
        return 0
    if not rows:
        print("no fine-tuning jobs yet (create one with `distill-tui finetune SPEC`)")
        return 0
    headers = ("id", "status", "model", "fine-tuned model", "created", "tokens", "cost")
    table = [
        (job.id, job.status + ("*" if source == "provider" else ""), job.base_model, job.fine_tuned_model or "-",
         _when(job.created_at), "-" if job.trained_tokens is None else f"{job.trained_tokens:,}",
         f"{where} run" if (where := without_gpu(job)) else format_usd(job_cost(job), unknown="-"))
        for _, job, source in rows
    ]
    if not args.spec:  # jobs of every workspace: say which
        headers = ("workspace", *headers)
        table = [(label, *cells) for (label, _, _), cells in zip(rows, table)]
    # Ids and model names are copied from here, so columns fit them instead of cutting them.
    for line in aligned([headers, *table], right={len(headers) - 2, len(headers) - 1}):
        print(line)
    if any(source == "provider" for _, _, source in rows):
        print("* on the provider only: attach with `distill-tui finetune SPEC --job ID`")
    return 0
