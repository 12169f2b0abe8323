"""A request to create a fine-tuning job, checked as OpenAI checks it: the base model, the files,
the suffix, the method and its hyperparameters, the seed and the metadata. A bad request is an
`ApiError` (400, or 403 when the server refuses all training) before any job exists."""

from __future__ import annotations

from typing import Any

from distill_tui.offline.common import (
    ORGANIZATION,
    ApiError,
    OfflineOptions,
    check_metadata,
    new_id,
    now,
)
from distill_tui.offline.files import FileStore
from distill_tui.offline.models import ModelRegistry

REFUSAL_MESSAGE = (
    "OpenAI is winding down the fine-tuning platform and your organization is no longer able to create new "
    "fine-tuning training jobs. Learn more "
    "https://developers.openai.com/api/docs/deprecations#update-to-openais-self-serve-fine-tuning"
)


def job_request(body: Any, options: OfflineOptions, files: FileStore,
                registry: ModelRegistry) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a create request and build the new job's public record.

    Args:
        body: The request's JSON body.
        options: The server's options (whether it refuses training, the default seed).
        files: The uploaded files, to check the training and validation files.
        registry: The models, to check that the base model can be fine-tuned.

    Returns:
        The job's public data (status `validating_files`) and its hyperparameters as asked
        (`"auto"` where not given).

    Raises:
        ApiError: The request is not one OpenAI would accept, or training is refused.
    """
    if options.refuse_training:
        raise ApiError(403, REFUSAL_MESSAGE, code="training_not_available")
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    if not registry.can_fine_tune(model):
        raise ApiError(400, f"Model {model} is not available for fine-tuning or does not exist.",
                       param="model", code="model_not_available")
    training_file = _check_file(files, body.get("training_file"), "training_file", required=True)
    validation_file = _check_file(files, body.get("validation_file"), "validation_file", required=False)
    suffix = body.get("suffix")
    if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64 or ":" in suffix):
        raise ApiError(400, "Invalid 'suffix': expected at most 64 characters and no ':'.", param="suffix")
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict) or method.get("type", "supervised") != "supervised":
        raise ApiError(400, "Only the 'supervised' method is supported by the offline provider.", param="method.type")
    prefix = "method.supervised.hyperparameters"
    raw = ((method.get("supervised") or {}).get("hyperparameters")) or body.get("hyperparameters") or {}
    if not isinstance(raw, dict):
        raise ApiError(400, f"Invalid '{prefix}': expected an object.", param=prefix)
    hyper = {
        "n_epochs": _hyperparameter(raw.get("n_epochs"), f"{prefix}.n_epochs", 1, 50, True),
        "batch_size": _hyperparameter(raw.get("batch_size"), f"{prefix}.batch_size", 1, 256, True),
        "learning_rate_multiplier": _hyperparameter(
            raw.get("learning_rate_multiplier"), f"{prefix}.learning_rate_multiplier", 1e-6, 1e3, False),
    }
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ApiError(400, "Invalid 'seed': expected an integer.", param="seed")
    job_id = new_id("ftjob-", 24)
    data = {
        "id": job_id, "object": "fine_tuning.job", "created_at": now(), "error": None,
        "fine_tuned_model": None, "finished_at": None, "hyperparameters": dict(hyper), "model": model,
        "organization_id": ORGANIZATION, "result_files": [],
        "seed": seed if seed is not None else options.seed, "status": "validating_files",
        "trained_tokens": None, "training_file": training_file, "validation_file": validation_file,
        "estimated_finish": None, "integrations": [], "metadata": check_metadata(body.get("metadata")),
        "method": {"type": "supervised", "supervised": {"hyperparameters": dict(hyper)}},
        "user_provided_suffix": suffix,
    }
    return data, hyper


def _hyperparameter(value: Any, name: str, low: float, high: float, integer: bool) -> Any:
    if value is None or value == "auto":
        return "auto"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
    if not ok or (integer and not isinstance(value, int)):
        raise ApiError(400, f"Invalid value for '{name}': expected 'auto' or a number in [{low}, {high}].", param=name)
    return value


def _check_file(files: FileStore, file_id: Any, param: str, required: bool) -> str | None:
    if file_id is None and not required:
        return None
    if not isinstance(file_id, str) or not file_id:
        raise ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    try:
        info = files.get(file_id)
    except ApiError:
        raise ApiError(400, f"Invalid file ID: {file_id} does not exist.", param=param, code="invalid_file_id") from None
    if info["purpose"] != "fine-tune":
        raise ApiError(400, f"File {file_id} has purpose '{info['purpose']}'; fine-tuning needs 'fine-tune'.",
                       param=param)
    return file_id
