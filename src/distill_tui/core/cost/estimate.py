"""The whole-run cost plan: every stage's requests, tokens and cost, before anything is spent."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from distill_tui.core.cost import discounts, preflight, template_tokens, tokens
from distill_tui.core.cost.answers import ASSUMED_ANSWER_TOKENS, answer_tokens, reference_texts  # noqa: F401 (their home before)
from distill_tui.core.cost.judge_stages import embedding_stages, judge_stages
from distill_tui.core.cost.pricing import PriceTable, auto_epochs, shutdown_warning
from distill_tui.core.cost.selfhosted import LOCAL_AUTO_EPOCHS, SelfHosted
from distill_tui.core.task import kinds, prompts

if TYPE_CHECKING:
    from distill_tui.core.cost.capabilities import ModelTable
    from distill_tui.core.task.dataset import PreparedData
    from distill_tui.core.task.spec import TaskSpec


@dataclass
class Stage:
    """One step of the run that costs money."""

    name: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    batch_cost_usd: float | None = None
    note: str | None = None
    too_long: int = 0  # rows left out: prompt + max_tokens over the model's context window
    context_window: int | None = None
    cached_input_tokens: int = 0  # of input_tokens, those planned at the cached-input price


@dataclass
class Estimate:
    """The cost plan of a spec on its prepared data."""

    rows: int
    train_rows: int
    eval_rows: int
    stages: list[Stage]
    prices_as_of: str
    prices_source: str
    n_epochs: int
    epochs_auto: bool
    training_tokens_per_epoch: int
    total_cost_usd: float | None
    total_batch_cost_usd: float | None
    teacher_cost_per_1k: float | None
    distilled_cost_per_1k: float | None
    break_even_predictions: int | None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    structured_outputs: dict[str, Any] | None = None  # preflight.structured_check; None: not checked
    self_hosted: SelfHosted | None = None  # [finetune] backend = "local": GPU time and its price

    def to_json(self) -> dict[str, Any]:
        """The `estimate --json` object (DESIGN.md contract, plus extra keys)."""
        return {
            "rows": self.rows,
            "train_rows": self.train_rows,
            "eval_rows": self.eval_rows,
            "stages": [
                {k: v for k, v in asdict(s).items()} for s in self.stages
            ],
            "total_cost_usd": _round(self.total_cost_usd),
            "total_batch_cost_usd": _round(self.total_batch_cost_usd),
            "prices_as_of": self.prices_as_of,
            "n_epochs": self.n_epochs,
            "training_tokens_per_epoch": self.training_tokens_per_epoch,
            "teacher_cost_per_1k_usd": _round(self.teacher_cost_per_1k),
            "distilled_cost_per_1k_usd": _round(self.distilled_cost_per_1k),
            "break_even_predictions": self.break_even_predictions,
            "warnings": self.warnings,
            "notes": self.notes,
            "structured_outputs": self.structured_outputs,
            "self_hosted": None if self.self_hosted is None else self.self_hosted.to_json(),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class PromptCounter:
    """Exact billed prompt tokens per row for a spec's prompt and one model's encoding."""

    def __init__(self, spec: "TaskSpec", labels: Sequence[str], model: str) -> None:
        self.model = model
        enc = tokens.encoding_for(model)
        pr = spec.prompt
        self._system = template_tokens.TemplateCounter(pr.system, model, labels) if pr.system else None
        self._user = template_tokens.TemplateCounter(pr.user, model, labels)
        fmt = kinds.response_format(spec, labels) if labels or spec.kind == kinds.EXTRACTION else None
        messages = 1 + (1 if pr.system else 0)
        self.overhead = (
            tokens.REPLY_PRIMING
            + messages * tokens.TOKENS_PER_MESSAGE
            + len(enc.encode_ordinary("user"))
            + (len(enc.encode_ordinary("system")) if pr.system else 0)
        )
        self.schema_tokens = len(enc.encode_ordinary(tokens.schema_text(fmt))) if fmt else 0
        self.cacheable, self.movable = self._prefix(enc)

    def _prefix(self, enc: Any) -> tuple[int, int]:
        """Tokens every request starts with (the schema, which OpenAI puts before the messages, the
        system message and the fixed text up to the first varying field), and the fixed tokens after
        that field, which moving before it would add to the prefix.

        A message cut by a field counts its role but not its framing tokens, so the prefix is low
        by a token or two rather than high."""
        prefix, movable = self.schema_tokens, 0
        for role, counter in (("system", self._system), ("user", self._user)):
            if counter is None:
                continue
            prefix += len(enc.encode_ordinary(role)) + counter.prefix
            movable += counter.fixed_after
            if counter.fields:
                if role == "system":
                    movable += self._user.prefix + self._user.fixed_after
                return prefix, movable
            prefix += tokens.TOKENS_PER_MESSAGE
        return prefix, movable

    def count(self, row: Mapping[str, Any]) -> int:
        """Prompt tokens of one row's request (its template fields by name)."""
        total = self.overhead + self.schema_tokens + self._user.count(row)
        return total if self._system is None else total + self._system.count(row)

    def totals(self, frame: Any) -> tuple[int, list[int]]:
        """Sum and per-row prompt tokens over the rows of a DataFrame."""
        base = self.overhead + self.schema_tokens
        per_row = [base + n for n in self._user.count_frame(frame)]
        if self._system is not None:
            per_row = [a + b for a, b in zip(per_row, self._system.count_frame(frame))]
        return sum(per_row), per_row


def build_estimate(
    spec: "TaskSpec",
    data: "PreparedData",
    prices: PriceTable,
    *,
    n_epochs: int | str | None = None,
    today: dt.date | None = None,
    models: "ModelTable | None" = None,
    local_jobs: Path | None = None,
) -> Estimate:
    """Plan every stage: teacher on train rows, teacher and base student on eval rows, fine-tune
    training, and the distilled student on eval rows. Rows too long for a model's context window
    (`models`: the model limits, by default the bundled table and the user's) are left out of its
    stages, as runs leave them out, and counted in `Stage.too_long`. With `[finetune] backend = "local"`
    the student is trained and served on the user's GPU (`selfhosted.plan`; a finished run under
    `local_jobs`, by default the workspace's local-jobs folder, gives the measured throughput)."""
    from distill_tui.core.cost.capabilities import load_models

    table = models if models is not None else load_models()
    teacher, student = spec.teacher.model, spec.student.model
    train, evaluation = data.train, data.eval
    notes: list[str] = list(data.notes())
    warnings: list[str] = []
    counted: dict[str, tuple[int, int, list[int], list[int]]] = {}
    counters: dict[str, PromptCounter] = {}

    def prompt_tokens(model: str) -> tuple[int, int, list[int], list[int]]:
        encoding, note = tokens.encoding_for_model(model)
        if encoding not in counted:
            if note:
                notes.append(note)
            counter = counters[encoding] = PromptCounter(spec, data.labels, model)
            train_total, train_rows = counter.totals(train)
            eval_total, eval_rows = counter.totals(evaluation)
            counted[encoding] = (train_total, eval_total, train_rows, eval_rows)
        return counted[encoding]

    context = _ContextCheck(table, spec.generation.output_budget())

    def stage(name: str, model: str, per_row: list[int], output_per: int) -> Stage:
        long, window = context.mask(model, per_row)
        kept = [n for n, out in zip(per_row, long) if not out]
        requests, input_tokens, output_tokens = len(kept), sum(kept), len(kept) * output_per
        count = sum(long)
        note = f"{count:,} row{'s' if count != 1 else ''} too long for the context window: left out" if count else None
        price = prices.price(model)
        if price is None:
            note = (note + "; " if note else "") + "price unknown"
            return Stage(name, model, requests, input_tokens, output_tokens, None, None, note, count, window)
        flex = name.startswith("teacher") and spec.teacher.service_tier == "flex" and price.flex_input is not None
        cached = 0 if flex else discounts.cached_tokens(price, cache_hit(model), requests)
        if cached:
            note = (note + "; " if note else "") + f"{cached:,} input tokens at the cached price"
        if flex:
            note = (note + "; " if note else "") + "flex tier"
        return Stage(
            name, model, requests, input_tokens, output_tokens,
            price.cost(input_tokens, output_tokens, cached_tokens=cached, flex=flex),
            price.cost(input_tokens, output_tokens, batch=True, cached_tokens=cached), note,
            count, window, cached,
        )

    def cache_hit(model: str) -> int:
        prompt_tokens(model)
        return tokens.cache_hit_tokens(counters[tokens.encoding_for_model(model)[0]].cacheable)

    references = reference_texts(spec, data)
    out_teacher, how = answer_tokens(spec, data.labels, teacher, references)
    if spec.prompt.structured and data.labels:
        enc = tokens.encoding_for(teacher)
        needed = max(len(enc.encode_ordinary(prompts.assistant_content(spec.prompt.answer_field, label, True)))
                     for label in data.labels)
        if spec.generation.output_budget() < needed:
            warnings.append(f"[generation] max_tokens = {spec.generation.output_budget()} is below the {needed} tokens "
                            "the longest label's answer needs: those answers will be cut off")
    out_student, _ = answer_tokens(spec, data.labels, student, references)
    notes.append(how)
    t_train, t_eval, t_train_rows, t_eval_rows = prompt_tokens(teacher)
    s_train, s_eval, s_rows, s_eval_rows = prompt_tokens(student)
    n_train, n_eval = len(train), len(evaluation)
    # A student that is itself fine-tuned trains into another fine-tune of the same base model.
    base_student = student[3:].split(":", 1)[0] if student.startswith("ft:") else student
    distilled = f"ft:{base_student}:distilled"

    stages = [
        stage("teacher: train rows", teacher, t_train_rows, out_teacher),
        stage("teacher: eval rows", teacher, t_eval_rows, out_teacher),
        stage("base student: eval rows", student, s_eval_rows, out_student),
    ]
    # A training line holds the prompt messages plus the assistant answer, but no response_format;
    # a row the teacher cannot answer (too long for it) makes none.
    enc = tokens.encoding_for(student)
    schema = PromptCounter(spec, data.labels, student).schema_tokens
    assistant = tokens.TOKENS_PER_MESSAGE + len(enc.encode_ordinary("assistant")) + out_student
    unanswered, _ = context.mask(teacher, t_train_rows)
    per_epoch = sum(t - schema - tokens.REPLY_PRIMING + assistant for t, out in zip(s_rows, unanswered) if not out)
    n_lines = n_train - sum(unanswered)
    epochs_value = n_epochs if n_epochs is not None else spec.finetune.n_epochs
    epochs_auto = epochs_value == "auto"
    local = spec.finetune.backend == "local"
    epochs = (LOCAL_AUTO_EPOCHS if local else auto_epochs(n_lines)) if epochs_auto else int(epochs_value)
    training_price = prices.training_price(student)
    trained_tokens = per_epoch * epochs
    training_cost = None if training_price is None else trained_tokens * training_price / 1_000_000
    own = _self_hosted(spec, prices, table, trained_tokens, local_jobs)
    if own is not None:
        training_cost = own.training_cost_usd
    training_note = ("" if training_cost is not None else "; price unknown") if own is None else (
        f"; {own.training_gpu_hours:.3g} GPU-h" if own.training_gpu_hours is not None else "; GPU time unknown")
    stages.append(
        Stage(
            "fine-tune training", student, n_lines, trained_tokens, 0, training_cost, training_cost,
            f"{epochs} epochs{' (auto)' if epochs_auto else ''} × {per_epoch:,} tokens" + training_note,
        )
    )
    stages.append(stage("distilled student: eval rows", distilled, s_eval_rows, out_student))
    if own is not None:
        for served in (stages[2], stages[-1]):  # the base and the distilled student answer on the user's GPU
            served.cost_usd = served.batch_cost_usd = own.serving_cost(served.input_tokens + served.output_tokens)
            served.cached_input_tokens = 0
            kept = (served.note or "").removesuffix("price unknown").removesuffix("; ")
            kept = "; ".join(part for part in kept.split("; ") if not part.endswith("at the cached price"))
            served.note = "; ".join(filter(None, [kept, "self-hosted"]))
    stages += judge_stages(spec, s_eval_rows, max(out_teacher, out_student), stage)
    embeds, unpriced = embedding_stages(spec, n_eval, max(out_teacher, out_student), bool(references), prices, Stage)
    stages += embeds
    notes += unpriced

    def total(attr: str) -> float | None:
        values = [getattr(s, attr) for s in stages]
        return None if any(v is None for v in values) else sum(values)

    def per_1k(model: str, input_per: float, output_per: int) -> float | None:
        price = prices.price(model)
        cached = discounts.cached_tokens(price, cache_hit(model), 1000) if price is not None else 0
        return None if price is None else price.cost(round(input_per * 1000), output_per * 1000, cached_tokens=cached)

    avg_teacher = (t_train + t_eval) / max(1, n_train + n_eval)
    avg_student = (s_train + s_eval) / max(1, n_train + n_eval)
    teacher_1k = per_1k(teacher, avg_teacher, out_teacher)
    distilled_1k = per_1k(distilled, avg_student, out_student)
    if own is not None:
        distilled_1k = own.cost_per_1k_usd = own.serving_cost(round(avg_student * 1000) + out_student * 1000)
        notes += own.unknown
    break_even = None
    if teacher_1k is not None and distilled_1k is not None and training_cost is not None and teacher_1k > distilled_1k:
        upfront = training_cost + (stages[0].cost_usd or 0.0)
        break_even = int(upfront / ((teacher_1k - distilled_1k) / 1000)) + 1
    notes += discounts.cache_notes(stages, counters[tokens.encoding_for_model(teacher)[0]], prices.price(teacher))
    flex_note, flex_warning = discounts.flex_lines(spec, prices.price(teacher))
    notes += flex_note
    warnings += flex_warning
    for model in dict.fromkeys((teacher, student)):
        warning = shutdown_warning(model, prices.shutdown_date(model), today)
        if warning:
            warnings.append(warning)
        if (price := prices.price(model)) is not None and price.note:  # e.g. the demo's: whose prices
            notes.append(f"{model}: {price.note}")
    warnings += context.warnings((teacher, t_train_rows + t_eval_rows), (student, s_eval_rows))
    notes += context.unknown_notes((teacher, t_train_rows + t_eval_rows), (student, s_eval_rows))
    warnings += preflight.reasoning_warnings(spec, table)
    notes += preflight.reasoning_notes(spec, table)
    check = preflight.structured_check(spec, data.labels, table)
    warnings += preflight.structured_warnings(check) + kinds.fine_tune_warnings(spec)
    offline = preflight.offline_note(spec, data.labels)
    if offline:
        warnings.append(offline)
    return Estimate(
        rows=len(data.frame), train_rows=n_train, eval_rows=n_eval, stages=stages,
        prices_as_of=prices.as_of, prices_source=prices.source, n_epochs=epochs, epochs_auto=epochs_auto,
        training_tokens_per_epoch=per_epoch, total_cost_usd=total("cost_usd"), total_batch_cost_usd=total("batch_cost_usd"),
        teacher_cost_per_1k=teacher_1k, distilled_cost_per_1k=distilled_1k, break_even_predictions=break_even,
        warnings=warnings, notes=list(dict.fromkeys(notes)), structured_outputs=check, self_hosted=own,
    )


def _self_hosted(spec: "TaskSpec", prices: PriceTable, table: "ModelTable", trained_tokens: int,
                 local_jobs: Path | None) -> SelfHosted | None:
    if spec.finetune.backend != "local":
        return None
    from distill_tui import locations
    from distill_tui.core.cost import selfhosted

    return selfhosted.plan(spec, prices, table, trained_tokens,
                           local_jobs if local_jobs is not None else locations.local_jobs_dir(spec.source))


class _ContextCheck:
    """Which rows are too long for each model's context window (see `preflight.too_long_rows`)."""

    def __init__(self, table: "ModelTable", max_tokens: int) -> None:
        self.table, self.max_tokens = table, max_tokens

    def window(self, model: str) -> int | None:
        limits = self.table.limits(model)
        return limits.context_window if limits else None

    def mask(self, model: str, per_row: list[int]) -> tuple[list[bool], int | None]:
        window = self.window(model)
        return preflight.too_long_rows(per_row, self.max_tokens, window), window

    def warnings(self, *asked: tuple[str, list[int]]) -> list[str]:
        """One line per model with rows left out (teacher: train and eval rows together)."""
        out = []
        for model, per_row in asked:
            window = self.window(model)
            long = sum(preflight.too_long_rows(per_row, self.max_tokens, window))
            if long and window is not None:
                out.append(preflight.context_note(model, long, len(per_row), window, self.max_tokens))
        return out

    def unknown_notes(self, *asked: tuple[str, list[int]]) -> list[str]:
        """"context window unknown" only where it matters: for a model without a known window whose
        longest prompt would not fit the smallest window a known model has."""
        smallest = self.table.smallest_context_window()
        out = []
        for model, per_row in asked:
            longest = max(per_row, default=0) + self.max_tokens
            if self.window(model) is None and smallest is not None and longest > smallest:
                out.append(f"{model}: context window unknown, so rows are not checked against it (the longest "
                           f"prompt + max_tokens is {longest:,} tokens); add it to your models.toml to check")
        return out


def estimate_spec(spec: "TaskSpec", *, n_epochs: int | str | None = None) -> Estimate:
    """Load the data, the prices and build the estimate (what `distill-tui estimate` does)."""
    from distill_tui.core.cost import pricing
    from distill_tui.core.task import dataset

    data = dataset.prepare(spec)
    return build_estimate(spec, data, pricing.load_prices(), n_epochs=n_epochs)

