"""Writing a user's output file whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from distill_tui.core.common.errors import UserError


def write_text(target: Path, text: str, what: str) -> Path:
    """Write `text` to `target` through a temporary file beside it, so a reader never sees half a file.

    Args:
        target: The file to write (its folder is created, private like every output folder).
        text: The whole content.
        what: What the file holds, for the error line ("the export", "the human grades").

    Raises:
        UserError: the file cannot be written (one line naming it).
    """
    from distill_tui import locations

    try:
        locations.make_output_dir(target.parent)
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(text)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UserError(f"{target}: cannot write {what} ({exc.strerror or exc})") from None
    return target
