"""The self-hosted path of the estimate ([finetune] backend = "local"): GPU time from a measured or assumed
throughput, priced per GPU-hour; "unknown" with the key to set, never a guess."""

import json

import pytest

from distill_tui import locations
from distill_tui.cli import main
from distill_tui.core.common.errors import UserError
from distill_tui.core.cost import capabilities, pricing
from distill_tui.core.cost.estimate import build_estimate
from distill_tui.core.task import dataset
from distill_tui.core.task.spec import load_spec
from tests.helpers import write_spec

STUDENT = "Qwen/Qwen3-0.6B"


def local_spec(tmp_path, **finetune):
    path = write_spec(tmp_path, student={"model": STUDENT},
                      finetune={"backend": "local", "n_epochs": 2, **finetune})
    return load_spec(path)


def plan_of(spec, jobs=None):
    return build_estimate(spec, dataset.prepare(spec), pricing.load_prices(), local_jobs=jobs)


def write_run(jobs, job_id, model, trained_tokens, gpu_hours, when=1.0e9, device="cuda", gpus=1):
    folder = jobs / job_id
    folder.mkdir(parents=True)
    (folder / "job.json").write_text(json.dumps({"id": job_id, "model": model}), encoding="utf-8")
    events = [{"time": when - 10, "type": "status", "status": "running", "message": ""},
              {"time": when, "type": "result", "adapter": str(folder / "adapter"), "merged": None,
               "trained_tokens": trained_tokens, "gpu_hours": gpu_hours, "device": device, "gpus": gpus}]
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events) + '{"torn', encoding="utf-8")


def test_assumed_throughput_priced_at_the_specs_gpu_hour(tmp_path):
    spec = local_spec(tmp_path, gpu_hour_usd=2.0)
    plan = plan_of(spec, tmp_path / "no-jobs")
    own = plan.self_hosted
    assumed = capabilities.load_models().entry(STUDENT)["train_tokens_per_s"]
    assert own.train_tokens_per_s == assumed and own.train_throughput_source.startswith("assumed as of 2026-")
    train_stage = next(s for s in plan.stages if s.name == "fine-tune training")
    assert own.trained_tokens == train_stage.input_tokens == plan.training_tokens_per_epoch * 2
    assert own.training_gpu_hours == pytest.approx(own.trained_tokens / assumed / 3600)
    assert train_stage.cost_usd == own.training_cost_usd == pytest.approx(own.training_gpu_hours * 2.0)
    assert own.gpu_hour_usd_source == "[finetune] gpu_hour_usd in the spec"
    # The base and the distilled student answer on the user's GPU: priced by serving time, not "unknown".
    for name in ("base student: eval rows", "distilled student: eval rows"):
        stage = next(s for s in plan.stages if s.name == name)
        serve = own.serve_tokens_per_s
        assert stage.cost_usd == pytest.approx((stage.input_tokens + stage.output_tokens) / serve / 3600 * 2.0)
        assert stage.note == "self-hosted"
    assert plan.distilled_cost_per_1k == own.cost_per_1k_usd > 0
    assert plan.total_cost_usd is not None and plan.break_even_predictions
    assert not own.unknown


def test_measured_run_of_the_same_model_replaces_the_assumption(tmp_path):
    jobs = tmp_path / "jobs"
    write_run(jobs, "local-20261201-100000-aaaa", STUDENT, 3_600_000, 0.5, when=1.0e9)  # 2,000 tokens/s
    write_run(jobs, "local-20261202-100000-bbbb", STUDENT, 7_200_000, 0.5, when=2.0e9, gpus=2)  # newest: 4,000
    write_run(jobs, "local-20261203-100000-cccc", "other/model", 1, 1.0, when=3.0e9)  # another model: ignored
    own = plan_of(local_spec(tmp_path, gpu_hour_usd=3), jobs).self_hosted
    assert own.train_tokens_per_s == 4000
    assert own.train_throughput_source == "measured: job local-20261202-100000-bbbb on cuda×2"
    assert own.training_gpu_hours == pytest.approx(own.trained_tokens / 4000 / 3600)


def test_unknown_price_and_throughput_name_the_key_to_set(tmp_path):
    path = write_spec(tmp_path, student={"model": "acme/tiny-student"}, finetune={"backend": "local"})
    plan = plan_of(load_spec(path), tmp_path / "no-jobs")
    own = plan.self_hosted
    assert own.training_gpu_hours is None and own.gpu_hour_usd is None and own.training_cost_usd is None
    assert plan.total_cost_usd is None and plan.distilled_cost_per_1k is None and plan.break_even_predictions is None
    text = " ".join(plan.notes)
    assert "[finetune] gpu_hour_usd" in text and 'train_tokens_per_s under [models."acme/tiny-student"]' in text
    assert "serve_tokens_per_s" in text


def test_gpu_hour_from_the_users_dated_price_file(tmp_path):
    user = locations.user_prices_file()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text('[self_hosted]\ngpu_hour_usd = 1.5\nas_of = "2026-11-30"\n', encoding="utf-8")
    own = plan_of(local_spec(tmp_path), tmp_path / "no-jobs").self_hosted
    assert own.gpu_hour_usd == 1.5 and own.gpu_hour_usd_source == "your prices.toml as of 2026-11-30"
    user.write_text('[self_hosted]\ngpu_hour_usd = "cheap"\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"\[self_hosted\] gpu_hour_usd must be a price in USD per GPU-hour"):
        pricing.load_prices()


def test_users_models_toml_sets_a_throughput_and_is_checked(tmp_path):
    user = locations.user_models_file()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text('[models."acme/tiny"]\ntrain_tokens_per_s = 5000\nserve_tokens_per_s = 9000\n', encoding="utf-8")
    path = write_spec(tmp_path, student={"model": "acme/tiny"}, finetune={"backend": "local", "gpu_hour_usd": 1})
    own = plan_of(load_spec(path), tmp_path / "no-jobs").self_hosted
    assert (own.train_tokens_per_s, own.serve_tokens_per_s) == (5000, 9000)
    assert str(user) in own.train_throughput_source
    user.write_text('[models."acme/tiny"]\ntrain_tokens_per_s = 0\n', encoding="utf-8")
    with pytest.raises(UserError, match="train_tokens_per_s must be a number of tokens per second above 0"):
        capabilities.load_models()


def test_hosted_backend_has_no_self_hosted_part(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    plan = plan_of(spec)
    assert plan.self_hosted is None and plan.to_json()["self_hosted"] is None


def test_estimate_json_and_text_show_the_self_hosted_path(tmp_path, capsys):
    path = write_spec(tmp_path, student={"model": STUDENT}, finetune={"backend": "local", "gpu_hour_usd": 2.5})
    assert main(["estimate", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    own = out["self_hosted"]
    assert set(own) >= {"trained_tokens", "train_tokens_per_s", "train_throughput_source", "training_gpu_hours",
                        "gpu_hour_usd", "gpu_hour_usd_source", "training_cost_usd", "serve_tokens_per_s",
                        "serve_throughput_source", "cost_per_1k_usd", "unknown"}
    assert own["gpu_hour_usd"] == 2.5 and own["training_cost_usd"] > 0
    assert out["distilled_cost_per_1k_usd"] == own["cost_per_1k_usd"]
    assert main(["estimate", str(path)]) == 0
    text = capsys.readouterr().out
    assert "self-hosted: training" in text and "[finetune] gpu_hour_usd in the spec" in text
    assert "  training: 82,400 tokens/s per GPU, assumed as of" in text


async def test_estimate_screen_shows_the_self_hosted_path(tmp_path):
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.tui.app import DistillApp
    from tests.settle import workers_done

    path = write_spec(tmp_path, rows=60, student={"model": STUDENT}, finetune={"backend": "local"})
    app = DistillApp(Workspace.open(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        summary = str(app.screen.query_one("#summary-text").render())
        assert "self-hosted: training" in summary and "unknown $/GPU-h" in summary
        assert "set [finetune] gpu_hour_usd in the spec" in summary


def test_auto_epochs_are_the_local_trainers_not_openais(tmp_path):
    from distill_tui.core.cost.selfhosted import LOCAL_AUTO_EPOCHS

    local = importorskip_local()
    assert LOCAL_AUTO_EPOCHS == local.AUTO_EPOCHS
    path = write_spec(tmp_path, rows=30, student={"model": STUDENT}, finetune={"backend": "local"})
    plan = plan_of(load_spec(path), tmp_path / "no-jobs")
    assert plan.epochs_auto and plan.n_epochs == 3  # OpenAI's rule would give 100 // 21 lines = 4
    assert pricing.auto_epochs(plan.stages[-2].requests) > 3


def importorskip_local():
    return pytest.importorskip("distill_tui.core.train.local")
