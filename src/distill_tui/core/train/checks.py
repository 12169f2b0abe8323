"""What is checked before a training file is uploaded, and the uploads remembered for a retry.

The newest export can be out of date by the time a job is created: the split may have changed
(rows in the file are now held out for evaluation), the file may have been edited or cut short, or
the selection may have changed since. The first two refuse the job, the last is a warning. File
ids of earlier uploads are kept per provider and file version, so a retry after a refusal
(403 `training_not_available`, a network error) does not upload the same file again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from distill_tui.core.common.errors import UserError
from distill_tui.core.workspace.workspace import provider_url

if TYPE_CHECKING:
    from distill_tui.core.curate.validate import ValidationReport
    from distill_tui.core.store.database import Store
    from distill_tui.core.train.backend import FineTuneBackend, JobRequest
    from distill_tui.core.workspace.workspace import Workspace

DEFAULT_TOKEN_LIMIT = 65_536
EXPORT_AGAIN = "export again (press e on the Curate screen, or `distill-tui export SPEC -o FILE`)"
STALE_EXPORT = "the export is older than your selection: press e / run export again to include your changes"
UPLOADS = "finetune_uploads"


@dataclass
class FileCheck:
    """What the checks found in a request's files.

    Attributes:
        report: The training file's validation report.
        validation_report: The validation file's, when there is one.
        warnings: Lines to show before the job is created (nothing here refuses it).
        fingerprint: The model and file versions checked (see `fingerprint`).
    """

    report: "ValidationReport"
    validation_report: "ValidationReport | None"
    warnings: list[str] = field(default_factory=list)
    fingerprint: tuple = ()


def _paths(request: "JobRequest") -> list[Path]:
    return [Path(p) for p in (request.training_path, request.validation_path) if p]


def fingerprint(request: "JobRequest") -> tuple:
    """The model and each file's path, size and modification time: equal means nothing to re-check."""
    out: list[Any] = [request.model]
    for path in _paths(request):
        try:
            stat = path.stat()
        except OSError:
            return ()
        out.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def token_limit(workspace: "Workspace", model: str) -> int:
    """The most tokens one training example may have on this model."""
    price = workspace.prices.price(model)
    return (price.training_example_max_tokens if price else None) or DEFAULT_TOKEN_LIMIT


def _decoded(path: Path) -> Iterator[list[Any]]:
    """The message lists of a JSONL file; lines that are not chat examples are skipped (the
    validation reports them)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                messages = json.loads(line).get("messages")
            except (ValueError, AttributeError):
                continue
            if isinstance(messages, list):
                yield messages


def _user_key(messages: Sequence[Any]) -> bytes | None:
    from distill_tui.core.curate.importer import prompt_key

    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return prompt_key(users) if users else None


def held_out_examples(workspace: "Workspace", paths: Sequence[Path]) -> int:
    """How many examples in these files ask the user message of a row held out for evaluation today.

    User messages alone are compared, so an export written before the system prompt changed is
    still caught.
    """
    from distill_tui.core.task import requests

    spec = workspace.spec
    held = {_user_key(r.messages) for r in requests.iter_requests(spec, workspace.data, spec.teacher.model, "eval")}
    held.discard(None)
    if not held:
        return 0
    return sum(_user_key(messages) in held for path in paths for messages in _decoded(path))


def _validate(path: Path, model: str, limit: int, name: str, minimum: int) -> "ValidationReport":
    from distill_tui.core.curate.validate import validate_file

    try:
        report = validate_file(path, model=model, token_limit=limit, name=name, min_examples=minimum)
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {name} file ({exc.strerror or exc})") from None
    if not report.ok:
        raise UserError(f"the provider would reject the {name} file {path.name}: {report.error_messages()[0]}. "
                        f"Not uploaded: curate and {EXPORT_AGAIN}")
    return report


def stale_export_warning(workspace: "Workspace", training_path: Path) -> str | None:
    """A warning when the selection changed after the export of this file was written."""
    store = workspace.store
    wanted = Path(training_path).resolve()
    written = [e["created_at"] for e in store.exports() if Path(e["path"]).resolve() == wanted]
    if not written:
        return None  # not an export of this workspace: nothing to compare with
    changed = store.selections_changed_at()
    return STALE_EXPORT if changed is not None and changed > written[0] else None


def check_files(workspace: "Workspace", request: "JobRequest") -> FileCheck:
    """Check a request's files before they are uploaded.

    Raises:
        UserError: a file is missing, holds rows held out for evaluation today, or would be
            rejected by the provider (too few examples, a bad line, an example over the limit).
    """
    from distill_tui.core.curate.validate import MIN_EXAMPLES, plural

    paths = _paths(request)
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: training file not found")
    leaked = held_out_examples(workspace, paths)
    if leaked:
        raise UserError(
            f"not uploaded: {plural(leaked, 'example')} of the export {'is a row' if leaked == 1 else 'are rows'} "
            f"held out for evaluation today (the split changed since it was written); {EXPORT_AGAIN}"
        )
    limit = token_limit(workspace, request.model)
    report = _validate(paths[0], request.model, limit, "training", MIN_EXAMPLES)
    validation = _validate(paths[1], request.model, limit, "validation", 1) if len(paths) > 1 else None
    warnings = [w for w in [stale_export_warning(workspace, paths[0])] if w]
    for checked in (report, validation):
        if checked is not None:
            warnings += [f"{checked.name} file: {w}" for w in checked.warnings]
    return FileCheck(report, validation, warnings, fingerprint(request))


# --- uploads remembered for a retry -------------------------------------------------------------


def upload_scope(workspace: "Workspace", backend: "FineTuneBackend") -> str:
    """Where uploaded file ids are valid: the client's actual URL (the embedded offline provider
    gets a new one each run, so its ids are never reused by another run)."""
    url = getattr(getattr(backend, "client", None), "base_url", None)
    return f"{backend.name} {str(url).rstrip('/') if url else provider_url(workspace)}"


def _key(scope: str, path: Path) -> tuple[str, str]:
    stat = path.stat()
    where = f"{scope}\x00{path.resolve()}"
    return where, f"{where}\x00{stat.st_size}\x00{stat.st_mtime_ns}"


def remembered_upload(store: "Store", scope: str, path: Path) -> str | None:
    """The file id this exact file (same size and modification time) was uploaded as, if any."""
    return (store.setting(UPLOADS) or {}).get(_key(scope, Path(path))[1])


def remember_upload(store: "Store", scope: str, path: Path, file_id: str) -> None:
    """Keep a file id for this file version; ids of its older versions are dropped."""
    where, key = _key(scope, Path(path))
    kept = {k: v for k, v in (store.setting(UPLOADS) or {}).items() if not k.startswith(where + "\x00")}
    kept[key] = file_id
    store.set_setting(UPLOADS, kept)


def forget_uploads(store: "Store", scope: str, paths: Sequence[Path]) -> None:
    """Drop remembered ids of these files (the provider no longer has them)."""
    wheres = tuple(f"{scope}\x00{Path(p).resolve()}\x00" for p in paths)
    kept = {k: v for k, v in (store.setting(UPLOADS) or {}).items() if not k.startswith(wheres)}
    store.set_setting(UPLOADS, kept)
