"""When a fine-tuning job cannot be made or did not work: what happened, where the training file is,
and what else can train from it.

OpenAI is winding down self-serve fine-tuning (403 `training_not_available`, see DESIGN.md), so the
validated JSONL on disk is the real product of curation; these errors always point at it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from distill_tui.core.common.errors import UserError, WorkFailed

if TYPE_CHECKING:
    from distill_tui.core.store.jobs import JobRecord

ALTERNATIVES: tuple[str, ...] = (
    "Azure OpenAI fine-tuning reads the same file: set [provider] kind = \"azure\" in the spec "
    "(AZURE_OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT, OPENAI_API_VERSION) and run `distill-tui finetune SPEC` again.",
    "Other providers that read chat-format JSONL ({\"messages\": [...]}) for supervised fine-tuning "
    "(for example Together AI, Fireworks AI, Mistral, or Vertex AI for its own models).",
    "A local trainer: Hugging Face TRL (SFTTrainer takes this format directly) or Unsloth, on an open "
    "model; serve it with vLLM or Ollama and point [provider] base_url at it to evaluate it here.",
    "Keep the file: it is plain JSONL and holds every curated example, so nothing is lost.",
)
FILE_PARAMS = ("training_file", "validation_file")
FILE_CODES = ("invalid_training_file", "invalid_validation_file", "invalid_file_format")
FIX_THE_FILE: tuple[str, ...] = (
    "Fix the file: another trainer would refuse it too. On the Curate screen, select more rows or drop the "
    "ones at fault, then export again (press e, or `distill-tui export SPEC -o FILE`): the export checks the "
    "file the way the provider does.",
    "Then create a new job from the new export (n on the Jobs screen, or `distill-tui finetune SPEC`).",
)


def file_rejected(code: str | None, param: str | None) -> bool:
    """True when a job failed because the provider rejected its training or validation file."""
    return param in FILE_PARAMS or code in FILE_CODES


class Stranded:
    """Mixin for errors that leave a training file without a job: what happened, where the file is,
    and what else can train from it.

    Attributes:
        title: A short heading ("Fine-tuning is closed").
        what: One or two sentences on what happened.
        paths: The local training (and validation) JSONL files.
        alternatives: Other ways to train from those files.
    """

    title: str = "No fine-tuning job"
    what: str = ""
    paths: list[str]
    alternatives: tuple[str, ...] = ALTERNATIVES
    alternatives_title: str = "What else can train from it"
    files_title: str = "Your training data is on disk"

    def _init_stranded(self, title: str, what: str, paths: Sequence[str | None]) -> None:
        self.title = title
        self.what = what
        self.paths = [str(p) for p in paths if p]

    def details(self) -> list[str]:
        """Lines to print under the one-line error (the CLI) or to show on the closed screen."""
        lines = [f"training file: {p}" for p in self.paths[:1]]
        lines += [f"validation file: {p}" for p in self.paths[1:]]
        lines += [f"{self.alternatives_title.lower()}:"] + [f"  - {a}" for a in self.alternatives]
        return lines


def _kept(paths: Sequence[str | None]) -> str:
    shown = [str(p) for p in paths if p]
    return f"; the training file is kept at {shown[0]}" if shown else ""


class TrainingClosed(WorkFailed, Stranded):
    """The provider refused to create fine-tuning jobs (403 `training_not_available`): exit code 1."""

    def __init__(self, detail: str, paths: Sequence[str | None], *, code: str = "training_not_available") -> None:
        what = (
            f"The provider refused to create a fine-tuning job (403 {code}): {detail}. "
            "OpenAI is winding down self-serve fine-tuning; the file upload works but jobs are refused."
        )
        super().__init__(f"fine-tuning is closed for this organisation (403 {code}){_kept(paths)}")
        self._init_stranded("Fine-tuning is closed", what, paths)
        self.code = code


class ModelUnavailable(UserError, Stranded):
    """The base model does not exist or cannot be fine-tuned here (404, or 400 on `model`): exit code 2."""

    def __init__(self, model: str, detail: str, paths: Sequence[str | None]) -> None:
        what = f"The provider does not offer {model} for fine-tuning: {detail}"
        super().__init__(
            f"model {model} cannot be fine-tuned on this provider ({detail}); choose another [student] model"
            f"{_kept(paths)}"
        )
        self._init_stranded("Model not available", what, paths)
        self.model = model


class JobFailed(WorkFailed, Stranded):
    """A job ended failed (its `error.message`) or cancelled: exit code 1.

    A job whose file the provider rejected (error param `training_file`, code
    `invalid_training_file`…) says the file must be fixed instead of where else it could train.
    """

    def __init__(self, job_id: str, status: str, detail: str | None, paths: Sequence[str | None], *,
                 code: str | None = None, param: str | None = None) -> None:
        reason = (detail or "the provider gave no reason").rstrip(".")
        self.bad_file = status == "failed" and file_rejected(code, param)
        if status == "cancelled":
            line = f"job {job_id} was cancelled"
            what = f"Job {job_id} was cancelled before it finished."
        elif self.bad_file:
            which = "validation" if param == "validation_file" or code == "invalid_validation_file" else "training"
            line = f"job {job_id} failed: the provider rejected the {which} file: {detail or 'no reason given'}"
            what = f"Job {job_id} failed: the provider rejected the {which} file. Its message: {reason}."
        else:
            line = f"job {job_id} failed: {detail or 'no reason given'}"
            what = f"Job {job_id} failed: {reason}."
        super().__init__(line)
        title = "Job cancelled" if status == "cancelled" else ("Training file rejected" if self.bad_file else "Job failed")
        self._init_stranded(title, what, paths)
        if self.bad_file:
            self.alternatives = FIX_THE_FILE
            self.alternatives_title = "What to do"
            self.files_title = "The file the provider rejected"
        self.job_id = job_id
        self.status = status
        self.code = code

    @classmethod
    def from_record(cls, record: "JobRecord") -> "JobFailed":
        """The error of a failed or cancelled job from its store record."""
        data = record.data or {}
        return cls(record.id, record.status, record.error, [record.local_training_path, record.local_validation_path],
                   code=data.get("error_code"), param=data.get("error_param"))
