"""What a finished local job cost: its GPU-hours × the price of a GPU-hour (the spec's, else the user's
prices.toml), in `finetune --json`, `jobs` and the Jobs screen; a run on the CPU says so and has no GPU
cost. Job folders are written by hand: no torch needed."""

from __future__ import annotations

import json

import pytest

from distill_tui import locations
from distill_tui.cli import main
from distill_tui.core.common.job_folder import append_event
from distill_tui.core.train.follow import attach_job
from distill_tui.core.workspace.workspace import Workspace
from distill_tui.tui.widgets.job_details import summary_text
from distill_tui.tui.widgets.job_list import row_text
from tests.test_local_backend import _job_folder, local_spec

JOB = "local-20260101-000000-c0st"
GPU = {"gpu_hours": 0.5, "gpus": 2, "device": "cuda", "wall_hours": 0.25}
CPU = {"gpu_hours": 0, "gpus": 0, "device": "cpu", "wall_hours": 0.5}


def finished_job(spec, result: dict) -> None:
    ws = Workspace.open(spec)
    try:
        folder = _job_folder(ws, JOB, None)
        append_event(folder, "result", adapter=str(folder / "adapter"), merged=None, trained_tokens=1234, **result)
        append_event(folder, "status", status="succeeded", message="done")
    finally:
        ws.close()


def attached(spec):
    ws = Workspace.open(spec)
    try:
        return attach_job(ws, JOB)
    finally:
        ws.close()


def test_a_gpu_run_costs_its_gpu_hours_at_the_specs_price(tmp_path, capsys) -> None:
    spec = local_spec(tmp_path, gpu_hour_usd=2.0)
    finished_job(spec, GPU)
    record = attached(spec)
    assert main(["jobs", str(spec), "--json", "--local"]) == 0
    [job] = json.loads(capsys.readouterr().out)["jobs"]
    assert job["training_cost_usd"] == 1.0 and job["gpu_hour_usd"] == 2.0
    assert job["cost_note"] == "0.5 GPU-hours × $2.00/GPU-hour ([finetune] gpu_hour_usd in the spec)"
    assert main(["jobs", str(spec), "--local"]) == 0
    assert "$1.00" in capsys.readouterr().out
    assert "$1.00" in row_text(record).plain
    assert "cost $1.00  (0.5 GPU-hours × $2.00/GPU-hour" in summary_text(record, []).plain


def test_without_a_spec_price_the_users_prices_toml_is_used(tmp_path, capsys) -> None:
    user = locations.user_prices_file()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text('[self_hosted]\ngpu_hour_usd = 3.0\nas_of = "2026-11-30"\n', encoding="utf-8")
    spec = local_spec(tmp_path)
    finished_job(spec, GPU)
    assert main(["jobs", str(spec), "--json"]) == 0  # listed from the job folders, not yet in the store
    [job] = json.loads(capsys.readouterr().out)["jobs"]
    assert job["training_cost_usd"] == 1.5 and job["cost_note"].startswith("0.5 GPU-hours × $3.00/GPU-hour")
    assert attached(spec).data["cost_note"] == "0.5 GPU-hours × $3.00/GPU-hour (your prices.toml as of 2026-11-30)"


def test_an_unknown_price_names_the_key_that_sets_it(tmp_path) -> None:
    spec = local_spec(tmp_path)
    finished_job(spec, GPU)
    record = attached(spec)
    assert record.data.get("training_cost_usd") is None
    assert "cost - (GPU cost unknown: set [finetune] gpu_hour_usd in the spec" in summary_text(record, []).plain


@pytest.mark.parametrize("price", [None, 2.0])
def test_a_cpu_run_says_so_and_has_no_gpu_cost(tmp_path, capsys, price) -> None:
    spec = local_spec(tmp_path, **({"gpu_hour_usd": price} if price else {}))
    finished_job(spec, CPU)
    record = attached(spec)
    assert main(["jobs", str(spec), "--json", "--local"]) == 0
    [job] = json.loads(capsys.readouterr().out)["jobs"]
    assert job["training_cost_usd"] is None and job["cost_note"] == "ran on the CPU: no GPU cost"
    assert main(["jobs", str(spec), "--local"]) == 0
    assert "CPU run" in capsys.readouterr().out
    assert "CPU" in row_text(record).plain
    assert "cost - (ran on the CPU: no GPU cost)" in summary_text(record, []).plain
