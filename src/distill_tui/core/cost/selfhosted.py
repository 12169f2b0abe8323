"""The self-hosted path of the estimate (`[finetune] backend = "local"`): GPU time, priced per GPU-hour.

Training time is the trained tokens over a training throughput; serving time (the base and the distilled
student answering) is the prompt and answer tokens over a serving throughput. Each throughput is measured
when a finished local run of the same base model exists in the workspace (its `result` event), else the
dated assumption of `models.toml` (bundled, or the user's). The price of a GPU-hour is the spec's
`[finetune] gpu_hour_usd`, else `gpu_hour_usd` under `[self_hosted]` in the user's `prices.toml`. A figure
that is known nowhere stays None and `unknown` names the key that sets it: never a guess.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill_tui.core.common.job_folder import JOB_FILE, read_events

if TYPE_CHECKING:
    from distill_tui.core.cost.capabilities import ModelTable
    from distill_tui.core.cost.pricing import PriceTable
    from distill_tui.core.task.spec import TaskSpec

HOUR = 3600.0
LOCAL_AUTO_EPOCHS = 3
"""What `n_epochs = "auto"` means for the local trainer (the same as `core.train.local.AUTO_EPOCHS`,
which this layer cannot import); OpenAI's rule (`pricing.auto_epochs`) is the hosted jobs'."""


@dataclass(frozen=True)
class Throughput:
    """Tokens per second on one GPU, and where the figure comes from (in words)."""

    tokens_per_s: float
    source: str


@dataclass
class SelfHosted:
    """GPU time and its price for training and serving the student on the user's own machine."""

    trained_tokens: int
    train_tokens_per_s: float | None
    train_throughput_source: str | None
    training_gpu_hours: float | None
    gpu_hour_usd: float | None
    gpu_hour_usd_source: str | None
    training_cost_usd: float | None
    serve_tokens_per_s: float | None
    serve_throughput_source: str | None
    cost_per_1k_usd: float | None = None
    unknown: list[str] = field(default_factory=list)

    def serving_cost(self, tokens: int) -> float | None:
        """USD for serving `tokens` (prompt + answer) on one GPU; None when a figure is unknown."""
        if self.serve_tokens_per_s is None or self.gpu_hour_usd is None:
            return None
        return tokens / self.serve_tokens_per_s / HOUR * self.gpu_hour_usd

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("training_gpu_hours", "training_cost_usd", "cost_per_1k_usd"):
            out[key] = None if out[key] is None else round(out[key], 6)
        return out

    def lines(self) -> list[str]:
        """What the CLI and the Estimate screen print: the GPU time, its price, and where each figure is from."""
        from distill_tui.core.cost.pricing import format_usd

        hours = "unknown GPU-h" if self.training_gpu_hours is None else f"{self.training_gpu_hours:.3g} GPU-h"
        price = "unknown $/GPU-h" if self.gpu_hour_usd is None else f"{format_usd(self.gpu_hour_usd)}/GPU-h"
        out = [f"self-hosted: training {hours} × {price} = {format_usd(self.training_cost_usd)}"]
        if self.gpu_hour_usd is not None:
            out.append(f"  GPU-hour price: {self.gpu_hour_usd_source}")
        for what, rate, source in (("training", self.train_tokens_per_s, self.train_throughput_source),
                                   ("serving", self.serve_tokens_per_s, self.serve_throughput_source)):
            if rate is not None:
                out.append(f"  {what}: {rate:,.0f} tokens/s per GPU, {source}")
        return out  # what is unknown is in the estimate's notes, with the key that sets it


def measured_training(jobs_dir: Path | None, base_model: str) -> Throughput | None:
    """Tokens/s per GPU of the newest finished local run of `base_model` under `jobs_dir` (its
    `result` event: trained tokens over GPU-hours, or over wall hours on a machine without a GPU)."""
    if jobs_dir is None or not Path(jobs_dir).is_dir():
        return None
    found: list[tuple[float, str, float, str]] = []
    for folder in Path(jobs_dir).iterdir():
        job = _read_json(folder / JOB_FILE)
        request = job.get("request") if isinstance(job.get("request"), dict) else {}
        if (job.get("model") or job.get("base_model") or request.get("model")) != base_model:
            continue
        for event in read_events(folder):
            if event.get("type") != "result":
                continue
            tokens, hours = _number(event.get("trained_tokens")), _number(event.get("gpu_hours"))
            if not hours:
                hours = _number(event.get("wall_hours"))
            if tokens and hours:
                device = str(event.get("device") or "?")
                gpus = event.get("gpus")
                where = f"{device}×{gpus}" if isinstance(gpus, int) and gpus > 1 else device
                found.append((_number(event.get("time")) or 0.0, folder.name, tokens / hours / HOUR, where))
    if not found:
        return None
    _, job_id, rate, where = max(found)
    return Throughput(rate, f"measured: job {job_id} on {where}")


def assumed(models: "ModelTable", model: str, key: str) -> Throughput | None:
    """The dated assumption for `model` in models.toml (`train_tokens_per_s` or `serve_tokens_per_s`)."""
    entry = models.entry(model)
    if not entry or not entry.get(key):
        return None
    as_of = entry.get("as_of", models.as_of)
    return Throughput(float(entry[key]), f"assumed as of {as_of}: {entry.get('source', models.source)}")


def gpu_hour_price(spec: "TaskSpec", prices: "PriceTable") -> tuple[float | None, str | None]:
    """The price of a GPU-hour and where it was read: the spec first, then the user's prices.toml."""
    if spec.finetune.gpu_hour_usd is not None:
        return float(spec.finetune.gpu_hour_usd), "[finetune] gpu_hour_usd in the spec"
    own = prices.self_hosted
    if own.get("gpu_hour_usd") is not None:
        as_of = own.get("as_of")
        return float(own["gpu_hour_usd"]), f"your prices.toml{f' as of {as_of}' if as_of else ''}"
    return None, None


def plan(spec: "TaskSpec", prices: "PriceTable", models: "ModelTable", trained_tokens: int,
         jobs_dir: Path | None) -> SelfHosted:
    """The self-hosted figures of the spec's student for `trained_tokens` (per-1k cost filled by the caller)."""
    student = spec.student.model
    train = measured_training(jobs_dir, student) or assumed(models, student, "train_tokens_per_s")
    serve = assumed(models, student, "serve_tokens_per_s")
    price, price_source = gpu_hour_price(spec, prices)
    unknown = []
    if train is None:
        unknown.append(f"training throughput of {student} unknown: run a local job once, or set "
                       f"train_tokens_per_s under [models.\"{student}\"] in your models.toml")
    if serve is None:
        unknown.append(f"serving throughput of {student} unknown: set serve_tokens_per_s under "
                       f"[models.\"{student}\"] in your models.toml")
    if price is None:
        unknown.append("price of a GPU-hour unknown: set [finetune] gpu_hour_usd in the spec "
                       "(or gpu_hour_usd under [self_hosted] in your prices.toml)")
    hours = None if train is None else trained_tokens / train.tokens_per_s / HOUR
    return SelfHosted(
        trained_tokens=trained_tokens,
        train_tokens_per_s=None if train is None else round(train.tokens_per_s, 1),
        train_throughput_source=None if train is None else train.source,
        training_gpu_hours=hours, gpu_hour_usd=price, gpu_hour_usd_source=price_source,
        training_cost_usd=None if hours is None or price is None else hours * price,
        serve_tokens_per_s=None if serve is None else round(serve.tokens_per_s, 1),
        serve_throughput_source=None if serve is None else serve.source, unknown=unknown,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None
