"""What to do when no model can be trained here: fine-tuning closed (403 `training_not_available`),
a base model that is not offered (404), or a job that failed. Says what happened, where the
validated JSONL is on disk, and what else can train from it; for a file the provider rejected, that
it must be fixed and exported again."""

from __future__ import annotations

from typing import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.train.errors import ALTERNATIVES, JobFailed, Stranded


def closed_markdown(title: str, what: str, paths: Sequence[str], alternatives: Sequence[str] = ALTERNATIVES, *,
                    alternatives_title: str = "What else can train from it",
                    files_title: str = "Your training data is on disk") -> str:
    """The screen's text."""
    lines = [f"# {title}", "", what, "", f"## {files_title}", ""]
    if paths:
        lines += [f"- training file: `{paths[0]}`"] + [f"- validation file: `{p}`" for p in paths[1:]]
    else:
        lines += ["- this job was created elsewhere; export the curated rows again with "
                  "`distill-tui export SPEC -o FILE` (or press e on the Curate screen)"]
    lines += ["", f"## {alternatives_title}", ""] + [f"- {a}" for a in alternatives]
    lines += ["", "Press Esc to close."]
    return "\n".join(lines)


class TrainingClosedScreen(ModalScreen[None]):
    """The way forward when training here is not possible."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]
    DEFAULT_CSS = """
    TrainingClosedScreen { align: center middle; }
    TrainingClosedScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: thick $error;
        background: $surface; padding: 0 1; }
    """

    def __init__(self, title: str, what: str, paths: Sequence[str], alternatives: Sequence[str] = ALTERNATIVES, *,
                 alternatives_title: str = "What else can train from it",
                 files_title: str = "Your training data is on disk") -> None:
        super().__init__()
        self.title_text = title
        self.what = what
        self.paths = list(paths)
        self.markdown = closed_markdown(title, what, self.paths, alternatives, alternatives_title=alternatives_title,
                                        files_title=files_title)

    @classmethod
    def from_error(cls, exc: Stranded) -> "TrainingClosedScreen":
        return cls(exc.title, exc.what, exc.paths, exc.alternatives, alternatives_title=exc.alternatives_title,
                   files_title=exc.files_title)

    @classmethod
    def from_job(cls, record: JobRecord) -> "TrainingClosedScreen":
        """The screen for a failed or cancelled job; a rejected file gets how to fix it."""
        return cls.from_error(JobFailed.from_record(record))

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.markdown)

    def action_close(self) -> None:
        self.dismiss(None)
