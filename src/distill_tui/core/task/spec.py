"""The task spec: one TOML file that says what data, which prompt, which models, what budget.

Every mistake is reported as one `SpecError` line naming the file, the key and the problem. Paths in
the spec are relative to the spec file.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from distill_tui.core.common.errors import SpecError
from distill_tui.core.common.plain_file import not_a_plain_file
from distill_tui.core.common.redact import looks_like_key
from distill_tui.core.task import filter_language, kinds, prompts
from distill_tui.core.task.finetune_keys import check_local_finetune
from distill_tui.core.task.graders_spec import GraderSpec, default_graders, parse_graders
from distill_tui.core.task.spec_keys import TYPES, describe, type_ok

Auto = Literal["auto"]


@dataclass
class TaskSection:
    """`[task]`: the kind of answer (`core.task.kinds`); None: decided from the other keys."""

    kind: str | None = None


@dataclass
class DatasetSpec:
    path: Path
    label: str | None = None  # classification: required; extraction/generation: another name for reference
    reference: str | None = None  # the gold answer column (extraction, generation); optional
    filter: str | None = None
    min_per_label: int | None = None
    sample: int | None = None
    seed: int = 42
    eval_fraction: float = 0.3


@dataclass
class PromptSpec:
    user: str
    system: str = ""
    structured: bool = True
    answer_field: str = "label"
    schema: str | dict[str, Any] | None = None  # extraction: a JSON schema file (relative to the spec) or a table


REASONING_EFFORTS = ("minimal", "low", "medium", "high")


@dataclass
class ModelSpec:
    model: str
    reasoning_effort: str | None = None  # sent to reasoning models only (core.task.requests)
    service_tier: str | None = None  # teacher only: "flex" is cheaper and slower (priced from prices.toml)


DEFAULT_MAX_TOKENS = kinds.LABEL_MAX_TOKENS  # a label's; extraction and generation: kinds.FREE_TEXT_MAX_TOKENS
REASONING_MAX_TOKENS = 4_096
"""The output budget of a reasoning model when [generation] max_tokens is not set. Its reasoning tokens
count against max_completion_tokens before the answer is written, so 64 would often be spent on
reasoning alone (finish_reason "length", empty content). It is a cap, not a charge (only the tokens
used are billed), but the engine reserves each request's cap against budget_usd while it is in flight:
OpenAI's reasoning guide suggests 25,000 when experimenting (developers.openai.com/api/docs/guides/
reasoning, "Allocating space for reasoning"), which at o3's $8/M output reserves $0.20 a request and
stopped a $0.30 budget after one row; 4,096 is room for low or medium effort before a label answer
($0.03 a request) and what integrations commonly advise for GPT-5/o-series structured answers."""


MAX_WORKERS = 1024
"""Highest `[generation] workers` (a cap on requests in flight: one thread each)."""


@dataclass
class GenerationSpec:
    workers: int | None = None  # a cap on requests in flight; None: sized from the limits and latency (run/concurrency.py)
    max_tokens: int | None = None  # None: DEFAULT_MAX_TOKENS, or REASONING_MAX_TOKENS for a reasoning model
    store: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    budget_usd: float | None = None
    temperature: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_retries: int = 6
    give_up_after_s: float | None = None  # None: the engine's default (60 s)
    kind_max_tokens: ClassVar[int] = DEFAULT_MAX_TOKENS  # the task kind's default; parse_spec sets it per spec

    def output_budget(self, reasoning: bool = False) -> int:
        """max_completion_tokens of each request: max_tokens when set, else the default for the model
        and the task kind (`kinds.output_budget`)."""
        if self.max_tokens is not None:
            return self.max_tokens
        return REASONING_MAX_TOKENS if reasoning else self.kind_max_tokens


@dataclass
class FinetuneSpec:
    n_epochs: int | str = "auto"
    batch_size: int | str = "auto"
    learning_rate_multiplier: float | str = "auto"
    suffix: str | None = None
    seed: int | None = None
    validation_fraction: float = 0.0
    # backend = "local": the trainer on this machine (TRL SFTTrainer + PEFT); "auto" epochs and batch
    # size mean 3 and 8 there. The keys below are read by the local trainer only.
    backend: str = "openai"
    method: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str | list[str] = "all-linear"
    max_seq_length: int = 1024
    packing: bool = False
    learning_rate: float = 2e-4
    gradient_accumulation: int = 1
    device: str = "auto"
    num_gpus: int = 0
    merge: bool = False
    logging_steps: int = 5
    save_steps: int = 50
    gpu_hour_usd: float | None = None
    accelerate_config: str | None = None


@dataclass
class ProviderSpec:
    """Where the API lives. `base_url = "offline"` starts the embedded offline provider."""

    kind: str = "openai"  # "openai" or "azure"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    api_version: str | None = None  # Azure only
    azure_endpoint: str | None = None  # Azure only


@dataclass
class ServeSpec:
    """How a student trained here (`[finetune] backend = "local"`) is served for evaluation."""

    url: str | None = None  # a server the user runs (vLLM…) serving the base student and the adapter by name
    engine: str = "auto"  # auto (vLLM when installed and CUDA exists, else the light server) | vllm | light


@dataclass
class EvaluateSpec:
    """`[evaluate]`: how models are compared on the held-out rows."""

    max_rows: int | None = None  # at most this many held-out rows are asked (sampled with the seed)


@dataclass
class TaskSpec:
    """A whole task spec, validated."""

    source: Path
    dataset: DatasetSpec
    prompt: PromptSpec
    teacher: ModelSpec
    student: ModelSpec
    generation: GenerationSpec = field(default_factory=GenerationSpec)
    finetune: FinetuneSpec = field(default_factory=FinetuneSpec)
    provider: ProviderSpec = field(default_factory=ProviderSpec)
    serve: ServeSpec = field(default_factory=ServeSpec)
    task: TaskSection = field(default_factory=TaskSection)
    evaluate: EvaluateSpec = field(default_factory=EvaluateSpec)
    answer_schema: dict[str, Any] | None = field(default=None, repr=False)  # [prompt] schema, loaded
    graders: list[GraderSpec] = field(default_factory=list)  # [[graders]], or the kind's defaults

    @property
    def kind(self) -> str:
        """"classification", "extraction" or "generation" (see `core.task.kinds`)."""
        return kinds.resolve(self.task.kind, self.dataset.label, self.prompt.schema)

    @property
    def data_path(self) -> Path:
        """The dataset path, resolved against the spec file's folder."""
        path = Path(self.dataset.path).expanduser()
        if not path.is_absolute():
            path = self.source.parent / path
        return path

    def to_toml_dict(self) -> dict[str, Any]:
        """The spec as TOML-ready data (no None values; paths as written)."""
        out: dict[str, Any] = {}
        for name in _SECTIONS:
            section = asdict(getattr(self, name))
            out[name] = {k: (str(v) if isinstance(v, Path) else v) for k, v in section.items() if v is not None}
        if self.graders != default_graders(self.kind):
            out["graders"] = [g.to_toml() for g in self.graders]
        return out

    def with_changes(self, section: str, **changes: Any) -> "TaskSpec":
        """A copy with some keys of one section changed, validated like a loaded spec."""
        data = self.to_toml_dict()
        data[section] = {**data[section], **changes}
        data[section] = {k: v for k, v in data[section].items() if v is not None}
        return parse_spec(data, self.source)


_SECTIONS: dict[str, tuple[type, bool]] = {
    "dataset": (DatasetSpec, True),
    "prompt": (PromptSpec, True),
    "teacher": (ModelSpec, True),
    "student": (ModelSpec, True),
    "generation": (GenerationSpec, False),
    "finetune": (FinetuneSpec, False),
    "provider": (ProviderSpec, False),
    "serve": (ServeSpec, False),
    "task": (TaskSection, False),
    "evaluate": (EvaluateSpec, False),
}

MAX_SPEC_BYTES = 1 << 20  # a spec is a few KB; more is a wrong path, not a spec


def load_spec(path: str | Path) -> TaskSpec:
    """Read and validate a spec file.

    Raises:
        SpecError: with one line naming the file, the key and the problem.
    """
    source = Path(path).expanduser()
    try:
        problem = not_a_plain_file(source, MAX_SPEC_BYTES)
        if problem:
            raise SpecError(f"{source}: {problem}, not a spec file")
        raw = source.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{source}: spec file not found") from None
    except IsADirectoryError:
        raise SpecError(f"{source}: is a folder, not a spec file") from None
    except OSError as exc:
        raise SpecError(f"{source}: cannot read spec file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{source}: spec file is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    return parse_spec(data, source)


def parse_spec(data: dict[str, Any], source: Path) -> TaskSpec:
    """Validate already-parsed TOML data (see `load_spec`)."""
    where = str(source)
    for key in data:
        if key not in _SECTIONS and key != "graders":
            known = ", ".join(f"[{s}]" for s in _SECTIONS) + ", [[graders]]"
            raise SpecError(f"{where}: unknown section [{key}] (known: {known})")
    built: dict[str, Any] = {}
    for name, (cls, required) in _SECTIONS.items():
        section = data.get(name)
        if section is None:
            if required:
                raise SpecError(f"{where}: missing section [{name}]")
            built[name] = cls() if name != "teacher" and name != "student" else None
            continue
        if not isinstance(section, dict):
            raise SpecError(f"{where}: [{name}] must be a table")
        types = TYPES[name]
        for key, value in section.items():
            if key not in types:
                raise SpecError(f"{where}: [{name}] unknown key '{key}' (known: {', '.join(types)})")
            if not type_ok(value, types[key]):
                raise SpecError(f"{where}: [{name}] {key} must be {describe(types[key])}, not {value!r}")
            if name != "prompt" and isinstance(value, str) and looks_like_key(value):
                raise SpecError(f"{where}: [{name}] {key} holds what looks like an API key; a spec is shared, so "
                                "keys stay in the environment (OPENAI_API_KEY, or the variable [provider] "
                                "api_key_env names)")
        required_keys = [f.name for f in fields(cls) if f.default is f.default_factory is _MISSING]
        for key in required_keys:
            if key not in section:
                raise SpecError(f"{where}: [{name}] missing key '{key}'")
        kwargs = dict(section)
        if name == "dataset":
            kwargs["path"] = Path(kwargs["path"])
        built[name] = cls(**kwargs)
    spec = TaskSpec(source=source.resolve() if source.exists() else source, **built)
    _check_values(spec, where)
    spec.answer_schema = kinds.check(spec, where)
    spec.graders = parse_graders(data.get("graders"), spec.kind, where, spec.answer_schema)
    spec.generation.kind_max_tokens = kinds.output_budget(spec.kind)
    return spec


_MISSING = fields(DatasetSpec)[0].default  # dataclasses.MISSING, without importing a private name


def _check_values(spec: TaskSpec, where: str) -> None:
    ds, pr, gen, ft, pv = spec.dataset, spec.prompt, spec.generation, spec.finetune, spec.provider
    if not str(ds.path).strip():
        raise SpecError(f"{where}: [dataset] path is empty")
    if not 0 <= ds.seed < 2**32:
        raise SpecError(f"{where}: [dataset] seed must be between 0 and 4294967295, not {ds.seed}")
    if ds.min_per_label is not None and ds.min_per_label < 1:
        raise SpecError(f"{where}: [dataset] min_per_label must be at least 1, not {ds.min_per_label}")
    if ds.sample is not None and ds.sample < 1:
        raise SpecError(f"{where}: [dataset] sample must be a positive number of rows, not {ds.sample}")
    if not 0 <= ds.eval_fraction < 1:
        raise SpecError(f"{where}: [dataset] eval_fraction must be at least 0 and below 1, not {ds.eval_fraction}")
    if ds.filter is not None and not ds.filter.strip():
        raise SpecError(f"{where}: [dataset] filter is empty (remove the key to keep every row)")
    if spec.evaluate.max_rows is not None and spec.evaluate.max_rows < 1:
        raise SpecError(f"{where}: [evaluate] max_rows must be at least 1, not {spec.evaluate.max_rows}")
    if ds.filter is not None:
        filter_language.parse(ds.filter, where)  # refuse what is not in the language before any data is read
    for key in ("system", "user"):
        try:
            prompts.parse_template(getattr(pr, key))
        except ValueError as exc:
            raise SpecError(f"{where}: [prompt] {key}: {exc}") from None
    if not pr.user.strip():
        raise SpecError(f"{where}: [prompt] user is empty")
    if not pr.answer_field.strip():
        raise SpecError(f"{where}: [prompt] answer_field is empty")
    for role in ("teacher", "student"):
        if not getattr(spec, role).model.strip():
            raise SpecError(f"{where}: [{role}] model is empty")
        effort = getattr(spec, role).reasoning_effort
        if effort is not None and effort not in REASONING_EFFORTS:
            raise SpecError(f"{where}: [{role}] reasoning_effort must be {', '.join(REASONING_EFFORTS[:-1])} or "
                            f"{REASONING_EFFORTS[-1]}, not {effort!r}")
    if spec.teacher.service_tier not in (None, "auto", "default", "flex"):
        raise SpecError(f"{where}: [teacher] service_tier must be auto, default or flex, not {spec.teacher.service_tier!r}")
    if gen.workers is not None and not 1 <= gen.workers <= MAX_WORKERS:
        raise SpecError(f"{where}: [generation] workers must be between 1 and {MAX_WORKERS}, not {gen.workers}")
    if gen.max_tokens is not None and gen.max_tokens < 1:
        raise SpecError(f"{where}: [generation] max_tokens must be at least 1, not {gen.max_tokens}")
    if gen.budget_usd is not None and not (0 < gen.budget_usd < float("inf")):
        raise SpecError(f"{where}: [generation] budget_usd must be above 0, not {gen.budget_usd}")
    if gen.temperature is not None and not 0 <= gen.temperature <= 2:
        raise SpecError(f"{where}: [generation] temperature must be between 0 and 2, not {gen.temperature}")
    for key in ("rpm", "tpm"):
        value = getattr(gen, key)
        if value is not None and value < 1:
            raise SpecError(f"{where}: [generation] {key} must be at least 1, not {value}")
    if gen.max_retries < 0:
        raise SpecError(f"{where}: [generation] max_retries must be 0 or more, not {gen.max_retries}")
    if gen.give_up_after_s is not None and not 0 < gen.give_up_after_s < float("inf"):
        raise SpecError(f"{where}: [generation] give_up_after_s must be above 0, not {gen.give_up_after_s}")
    if len(gen.metadata) > 16:
        raise SpecError(f"{where}: [generation] metadata has {len(gen.metadata)} pairs; the API takes at most 16")
    for key, value in gen.metadata.items():
        if not isinstance(value, str):
            raise SpecError(f"{where}: [generation] metadata.{key} must be a string, not {value!r}")
        if len(key) > 64 or len(value) > 512:
            raise SpecError(f"{where}: [generation] metadata.{key}: keys take 64 characters and values 512 at most")
    if isinstance(ft.n_epochs, int) and not 1 <= ft.n_epochs <= 50:
        raise SpecError(f"{where}: [finetune] n_epochs must be \"auto\" or 1 to 50, not {ft.n_epochs}")
    if isinstance(ft.batch_size, int) and not 1 <= ft.batch_size <= 256:
        raise SpecError(f"{where}: [finetune] batch_size must be \"auto\" or 1 to 256, not {ft.batch_size}")
    if not isinstance(ft.learning_rate_multiplier, str) and ft.learning_rate_multiplier <= 0:
        raise SpecError(f"{where}: [finetune] learning_rate_multiplier must be \"auto\" or above 0")
    if ft.suffix is not None and len(ft.suffix) > 64:
        raise SpecError(f"{where}: [finetune] suffix takes 64 characters at most")
    if not 0 <= ft.validation_fraction < 1:
        raise SpecError(f"{where}: [finetune] validation_fraction must be at least 0 and below 1")
    check_local_finetune(ft, where)
    if pv.kind not in ("openai", "azure"):
        raise SpecError(f"{where}: [provider] kind must be \"openai\" or \"azure\", not {pv.kind!r}")
    for key in ("base_url", "azure_endpoint"):
        problem = url_problem(getattr(pv, key), offline_ok=key == "base_url")
        if problem:
            raise SpecError(f"{where}: [provider] {key} {problem}")
    if spec.serve.engine not in ("auto", "vllm", "light"):
        raise SpecError(f"{where}: [serve] engine must be \"auto\", \"vllm\" or \"light\", not {spec.serve.engine!r}")
    problem = url_problem(spec.serve.url, offline_ok=False)
    if problem:
        raise SpecError(f"{where}: [serve] url {problem}")


def url_problem(url: str | None, *, offline_ok: bool = True) -> str | None:
    """Why `url` cannot be an API base URL (None when it can, or is unset)."""
    from urllib.parse import urlsplit

    if not url or (offline_ok and url == "offline"):
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        example = ' (or "offline")' if offline_ok else ""
        return f"must be an http(s) URL like https://api.openai.com/v1{example}, not {url!r}"
    return None
