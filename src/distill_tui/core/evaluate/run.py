"""Which models the comparison covers, and running them on the eval rows.

Evaluation uses the generation engine unchanged: the same prompts, rate limits, retries, budget
and resume; every answer is saved as it lands and a row already answered is never asked again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from distill_tui.core.common.errors import UserError, WorkFailed
from distill_tui.core.evaluate.comparison import BASE, CHECKPOINT, DISTILLED, EXTRA, NO_PRICE, TEACHER, EvalModel

if TYPE_CHECKING:
    import openai

    from distill_tui.core.evaluate.judging import JudgeProgressCallback, JudgeRun
    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.run.generate import Progress, RunResult
    from distill_tui.core.workspace.workspace import Workspace

EXTRAS_SETTING = "results.extra_models"
CHECKPOINTS_SETTING = "results.checkpoints"


def _url(value: str) -> str:
    return value.strip().rstrip("/").lower()


def same_provider(ws: "Workspace", url: str | None) -> bool:
    """Whether a job recorded with base URL `url` lives on the workspace's provider (no URL: yes)."""
    from distill_tui.core.provider.clients import is_offline
    from distill_tui.core.workspace.workspace import provider_url

    if not url:
        return True
    if ws.offline and is_offline(None, url):  # "offline", or this process's embedded server
        return True
    return _url(url) == _url(provider_url(ws))


def _elsewhere(model: str, url: str) -> str:
    return f"{model} was trained on another provider ({url}); evaluate it there with --base-url"


def models_of_interest(ws: "Workspace", extra: Iterable[str] = (), *, checkpoints: bool = False) -> list[EvalModel]:
    """Teacher, base student, each fine-tuned model of the workspace (oldest first, each followed
    by its checkpoints when asked), then the extra models; a model listed twice keeps its first role.

    A job trained on another provider than the workspace's (its record's `base_url`) cannot be
    asked here: its models come with a `skip` reason, so the run passes them by and the table
    lists them as skipped.
    """
    from distill_tui.core.evaluate import serving

    spec = ws.spec
    found = [EvalModel(spec.teacher.model, TEACHER), EvalModel(spec.student.model, BASE)]
    for job in reversed(ws.store.jobs()):
        trained_on = (job.data or {}).get("base_url")
        elsewhere = trained_on if isinstance(trained_on, str) and not same_provider(ws, trained_on) else None
        if serving.is_local(job):
            elsewhere = None  # trained on this machine: served here, whatever the provider
        if job.status == "succeeded" and job.fine_tuned_model:
            skip = _elsewhere(job.fine_tuned_model, elsewhere) if elsewhere else None
            found.append(EvalModel(job.fine_tuned_model, DISTILLED, note=job.id, skip=skip))
        if checkpoints:
            for point in ws.store.checkpoints(job.id):
                if point.get("model_name"):
                    step = point.get("step")
                    skip = _elsewhere(point["model_name"], elsewhere) if elsewhere else None
                    found.append(EvalModel(point["model_name"], CHECKPOINT, note=f"{job.id} step {step}", skip=skip))
    for name in extra:
        name = name.strip()
        if not name:
            raise UserError("--model needs a model name")
        found.append(EvalModel(name, EXTRA))
    served = set(serving.served_names(ws, found))
    if served:
        label = serving.served_label(ws)
        found = [replace(m, served=label) if m.name in served else m for m in found]
    unique: dict[str, EvalModel] = {}
    for model in found:
        unique.setdefault(model.name, model)
    return list(unique.values())


def saved_extras(ws: "Workspace") -> list[str]:
    """Extra models added on the Results screen (kept in the workspace)."""
    value = ws.store.setting(EXTRAS_SETTING, [])
    return [str(v) for v in value] if isinstance(value, list) else []


def save_extras(ws: "Workspace", names: Sequence[str]) -> None:
    ws.store.set_setting(EXTRAS_SETTING, list(dict.fromkeys(n.strip() for n in names if n.strip())))


def table_fingerprint(ws: "Workspace") -> tuple[Any, ...]:
    """A cheap summary of what the table is built from (answers, jobs, checkpoints, curation,
    exports, the Results settings, the spec): while it is unchanged, a rebuilt table would be the same."""
    queries = (
        "SELECT COUNT(*), MAX(created_at) FROM answers",
        "SELECT COUNT(*), MAX(updated_at) FROM jobs",
        "SELECT COUNT(*) FROM job_checkpoints",
        "SELECT COUNT(*), MAX(created_at) FROM exports",
    )
    counts = (*(tuple(ws.store.execute(sql)[0]) for sql in queries), ws.store.selections_changed_at())
    # repr, not the spec object: a spec changed in place must not compare equal to itself.
    return (*counts, tuple(saved_extras(ws)), ws.store.setting(CHECKPOINTS_SETTING, False), repr(ws.spec), ws.base_url)


@dataclass
class EvalRun:
    """What one evaluation run did, model by model."""

    results: list["RunResult"] = field(default_factory=list)
    stopped: str | None = None  # None, "cancelled", "budget", "limit"
    reasons: dict[str, str] = field(default_factory=dict)
    """model → why its rows were not asked and running again will not help (for `build_table`)."""
    judges: list["JudgeRun"] = field(default_factory=list)  # the model graders' judge runs, after the models

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd or 0.0 for r in self.results) + sum(j.cost_usd for j in self.judges)

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.results)

    @property
    def fatal(self) -> list["RunResult"]:
        return [r for r in self.results if r.stopped == "fatal"]

    @property
    def failures(self) -> dict[str, str]:
        """model → the error that stopped its run (for `build_table`)."""
        return {r.model: r.fatal_error or r.message for r in self.fatal}

    def to_json(self) -> dict[str, Any]:
        return {"stopped": self.stopped, "requests": self.requests, "cost_usd": round(self.cost_usd, 6),
                "models": [r.to_json() for r in self.results], "reasons": self.reasons,
                "judges": [asdict(j) for j in self.judges]}


class _NotServed(Exception):
    """The server for the students trained here could not start (`EvalRun.reasons` says why)."""


ProgressCallback = Callable[[int, int, "Progress"], None]
"""on_progress(model index, model count, the engine's progress)."""


def run_evaluation(
    ws: "Workspace",
    models: Sequence[EvalModel],
    *,
    limit: int | None = None,
    controls: "Controls | None" = None,
    on_progress: ProgressCallback | None = None,
    on_model_done: Callable[[EvalModel, "RunResult"], None] | None = None,
    on_judge_progress: "JudgeProgressCallback | None" = None,
    budget_usd: float | None = None,
    progress_interval: float = 0.25,
) -> EvalRun:
    """Have each model answer the eval rows it has not answered yet, one model after another.

    A model that fails (an unknown model name, every request refused) does not stop the others;
    cancelling or reaching the budget stops the whole run. Models with a `skip` reason are passed by.

    Args:
        limit: ask each model at most this many rows (a partial run; resume by calling again).
        on_judge_progress: each model grader's `JudgeProgress` while its judge runs, after the models.
        budget_usd: what the whole evaluation may cost, all models and earlier eval runs included
            (default: the spec's `[generation] budget_usd`, which caps evaluation separately from
            teacher generation). As in generation, a model without a known price cannot be held to
            a budget and is not run while one is set.
    """
    from distill_tui.core.evaluate import serving
    from distill_tui.core.evaluate.report import money
    from distill_tui.core.run.engine_parts import Controls
    from distill_tui.core.run.generate import run_model
    from distill_tui.core.run.plan import spent

    run = EvalRun()
    controls = controls or Controls()
    budget = budget_usd if budget_usd is not None else ws.spec.generation.budget_usd
    models = [m for m in models if not m.skip]
    to_serve = set(serving.served_names(ws, models))
    endpoints: dict[str, serving.Served] | None = None
    try:
        for index, model in enumerate(models):
            if controls.cancelled:
                run.stopped = "cancelled"
                break
            client = None
            if model.name in to_serve:
                if endpoints == {}:
                    continue  # the server could not start: the reason is noted

                def client(name: str = model.name) -> "openai.OpenAI":
                    # Started once, when the first served model has a row to ask (never for nothing:
                    # vLLM takes minutes to load a model).
                    nonlocal endpoints
                    if endpoints is None:
                        try:
                            endpoints = serving.open_served(ws, to_serve)
                        except (UserError, WorkFailed) as exc:
                            endpoints = {}
                            run.reasons.update((served, str(exc)) for served in to_serve)
                            raise _NotServed from None
                    return endpoints[name].client(name)
            cap = None
            if budget is not None and client is None:
                # run_model caps one model's spend on the split, earlier runs included: give it its own
                # spend plus what the evaluation as a whole has left. A served student is not paid per
                # request: the budget does not hold it.
                left = budget - sum(spent(ws, m.name, "eval") for m in models)
                cap = spent(ws, model.name, "eval") + max(0.0, left)

            def progress(p: "Progress", index: int = index) -> None:
                if on_progress is not None:
                    on_progress(index, len(models), p)

            try:
                result = run_model(
                    ws, model.name, "eval", limit=limit, controls=controls, on_progress=progress, budget_usd=cap,
                    progress_interval=progress_interval, kind="evaluate", client=client,
                )
            except _NotServed:
                continue
            run.results.append(result)
            if result.too_long_note:
                run.reasons[model.name] = result.too_long_note  # asking again will not help those rows
            if on_model_done is not None:
                on_model_done(model, result)
            if result.stopped == "budget" and not result.price_known:
                run.reasons[model.name] = NO_PRICE if ws.prices.price(model.name) is None else result.message
                continue  # this model alone could not be held to the budget; the others can
            if result.stopped == "budget":
                run.reasons[model.name] = result.message
                spent_all = (f"the evaluation budget ({money(budget)}) was spent before its turn; raise "
                             "budget_usd to go on")
                run.reasons.update((m.name, spent_all) for m in models[index + 1:])
            if result.stopped in ("cancelled", "budget"):
                run.stopped = result.stopped
                break
            if result.stopped == "limit":
                run.stopped = "limit"
        if run.stopped is None and any(g.type in ("rubric", "pairwise") for g in ws.spec.graders):
            from distill_tui.core.evaluate.judges import run_judges
            from distill_tui.core.evaluate.judging import SPLIT

            left = None if budget is None else budget - sum(spent(ws, m.name, "eval") for m in models) - sum(
                spent(ws, judge, SPLIT) for judge in {g.model or "" for g in ws.spec.graders
                                                      if g.type in ("rubric", "pairwise")})
            # What the evaluation has left, models and earlier judge runs included, caps the judges.
            run.judges = run_judges(ws, [m.name for m in models], controls=controls,
                                    budget_usd=None if left is None else max(0.0, left), on_progress=on_judge_progress)
    finally:
        serving.close_served(endpoints or {})
    return run
