"""Evaluating a student trained here: the engine chosen, the vLLM command line, and an eval whose newest
job is a local one, the base and distilled students answering through the light server."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from distill_tui.core.common.errors import SpecError, UserError
from distill_tui.core.evaluate import serving
from distill_tui.core.evaluate.serving import (
    LIGHT,
    URL,
    VLLM,
    ServeRequest,
    choose_engine,
    vllm_commands,
)
from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.task.spec import load_spec
from tests.helpers import LABELS, WORDS, write_spec

ROWS = 24  # 6 eval rows at eval_fraction 0.25


def spec_at(folder: Path, **sections) -> Path:
    return write_spec(folder, rows=ROWS, **sections)


@pytest.mark.parametrize(("serve", "installed", "cuda", "engine"), [
    ({}, True, True, VLLM), ({}, True, False, LIGHT), ({}, False, True, LIGHT),
    ({"engine": "light"}, True, True, LIGHT), ({"engine": "vllm"}, True, True, VLLM),
    ({"url": "http://gpu-box:8000/v1"}, False, False, URL),
])
def test_the_engine_follows_the_spec_vllm_and_cuda(tmp_path, serve, installed, cuda, engine) -> None:
    spec = load_spec(spec_at(tmp_path, serve=serve))
    assert choose_engine(spec, vllm_installed=installed, cuda=cuda) == engine


@pytest.mark.parametrize(("installed", "cuda", "says"), [(False, True, "pip install 'distill-tui[serve]'"),
                                                         (True, False, "needs a CUDA GPU")])
def test_vllm_asked_for_where_it_cannot_run_is_one_line(tmp_path, installed, cuda, says) -> None:
    spec = load_spec(spec_at(tmp_path, serve={"engine": "vllm"}))
    with pytest.raises(UserError, match=re.escape(says)):
        choose_engine(spec, vllm_installed=installed, cuda=cuda)


@pytest.mark.parametrize(("serve", "says"), [({"engine": "sglang"}, "[serve] engine must be"),
                                             ({"url": "gpu-box:8000"}, "[serve] url must be an http(s) URL")])
def test_bad_serve_keys_are_spec_errors(tmp_path, serve, says) -> None:
    with pytest.raises(SpecError, match=re.escape(says)):
        load_spec(spec_at(tmp_path, serve=serve))


def test_vllm_serves_the_base_with_adapters_by_name_and_a_merged_model_on_its_own(tmp_path) -> None:
    adapter, merged = tmp_path / "adapter", tmp_path / "merged"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 24}')
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    request = ServeRequest(base="Qwen/Qwen3-0.6B", adapters={str(adapter): str(adapter), str(merged): str(merged)},
                           engine=VLLM)
    first, second = vllm_commands(request, iter([8001, 8002]))
    common = ["--host", "127.0.0.1", "--default-chat-template-kwargs", '{"enable_thinking": false}']
    assert first == ["vllm", "serve", "Qwen/Qwen3-0.6B", "--served-model-name", "Qwen/Qwen3-0.6B", "--port", "8001",
                     *common, "--enable-lora", "--max-lora-rank", "32", "--max-loras", "1", "--lora-modules",
                     f"{adapter}={adapter}"]
    assert second == ["vllm", "serve", str(merged), "--served-model-name", str(merged), "--port", "8002", *common]


def local_job(path: str) -> JobRecord:
    return JobRecord(id="local-20261203-120000-ab12", backend="local", base_model="student", status="succeeded",
                     fine_tuned_model=path)


def test_without_a_starter_the_served_models_are_not_run_and_say_why(tmp_path, offline_server) -> None:
    from distill_tui.core.evaluate.run import models_of_interest, run_evaluation
    from distill_tui.core.workspace.workspace import Workspace

    serving.use_serving_starter(None)
    ws = Workspace.open(spec_at(tmp_path, student={"model": str(tmp_path / "base")}),
                        base_url=offline_server.base_url)
    try:
        ws.store.save_job(local_job(str(tmp_path / "adapter")))
        models = models_of_interest(ws)
        assert [m.served is not None for m in models] == [False, True, True]
        run = run_evaluation(ws, models)
        assert [r.model for r in run.results] == [ws.spec.teacher.model]
        assert "needs a server" in run.reasons[str(tmp_path / "adapter")]
    finally:
        ws.close()


# --- the served students answer the eval rows (light server, tiny model made here) ---

@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    from tests.test_serving import make_adapter
    from tests.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("student")
    text = [f"{label} {words}" for label, words in WORDS.items()]
    base = str(build_tiny_model(root / "base", extra_text=text + LABELS))
    return base, make_adapter(base, str(root / ".local" / "job" / "adapter"))  # a dot, as in ~/.local


def test_eval_fills_the_distilled_row_through_the_served_model(tmp_path, offline_server, student, capsys) -> None:
    from distill_tui.cli import main
    from distill_tui.core.workspace.workspace import Workspace

    base, adapter = student
    path = spec_at(tmp_path, student={"model": base}, provider={"base_url": offline_server.base_url})
    ws = Workspace.open(path)
    ws.store.save_job(local_job(adapter))
    ws.close()
    assert main(["eval", str(path), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    rows = {r["role"]: r for r in table["models"]}
    assert rows["distilled"]["model"] == adapter and rows["base student"]["model"] == base
    for role in ("distilled", "base student"):
        assert rows[role]["n"] == table["eval_rows"] > 0 and rows[role]["status"] == "ok"
        assert rows[role]["invalid"] == 0  # constrained to the labels
        assert rows[role]["served"] == "light server, constrained to the labels by likelihood"
    assert rows["teacher"]["n"] == table["eval_rows"]


def test_the_server_started_for_evaluation_is_stopped_when_it_ends(tmp_path, offline_server, student) -> None:
    import openai

    from distill_tui.commands import serve_student
    from distill_tui.core.evaluate import report
    from distill_tui.core.evaluate.comparison import build_table
    from distill_tui.core.evaluate.run import models_of_interest, run_evaluation
    from distill_tui.core.workspace.workspace import Workspace

    base, adapter = student
    started: list[serving.Served] = []

    def start(request: ServeRequest) -> serving.Served:
        started.append(serve_student.start(request))
        return started[-1]

    serving.use_serving_starter(start)
    ws = Workspace.open(spec_at(tmp_path, student={"model": base}), base_url=offline_server.base_url)
    try:
        ws.store.save_job(local_job(adapter))
        models = models_of_interest(ws)
        run = run_evaluation(ws, models)
        table = build_table(ws, models)
        again = run_evaluation(ws, models)  # every row answered already
    finally:
        ws.close()
        serving.use_serving_starter(None)
    assert len(started) == 1 and started[0].names == {base, adapter}
    assert table.complete and [r.done for r in run.results] == [table.eval_rows] * 3
    notes = report.notes(table)
    assert again.requests == 0 and len(started) == 1  # nothing left to ask: no server started for nothing
    assert "served here (light server, constrained to the labels by likelihood): base student, distilled" in notes
    with pytest.raises(openai.APIConnectionError):
        started[0].client(base).with_options(timeout=2).models.list()


def test_a_server_the_user_runs_is_used_and_left_running(tmp_path, offline_server, student) -> None:
    import openai

    from distill_tui.core.evaluate.run import models_of_interest, run_evaluation
    from distill_tui.core.workspace.workspace import Workspace
    from distill_tui.serving import ServeOptions, start_server

    base, adapter = student
    serving.use_serving_starter(None)  # nothing may be started: the spec names the server
    with start_server(ServeOptions(base=base, adapters={adapter: adapter})) as server:
        ws = Workspace.open(spec_at(tmp_path, student={"model": base}, serve={"url": server.base_url}),
                            base_url=offline_server.base_url)
        try:
            ws.store.save_job(local_job(adapter))
            run = run_evaluation(ws, models_of_interest(ws), limit=1)
        finally:
            ws.close()
        assert [r.done for r in run.results] == [1, 1, 1] and not run.reasons
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        assert {m.id for m in client.models.list()} == {base, adapter}  # still serving


FAKE_VLLM = '''#!{python}
import http.server, json, sys
args = sys.argv[1:]
if {fail}:
    print("CUDA out of memory: lower --gpu-memory-utilization", flush=True)
    sys.exit(1)
names = [args[args.index("--served-model-name") + 1]]
if "--lora-modules" in args:
    names += [m.split("=", 1)[0] for m in args[args.index("--lora-modules") + 1:]]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"data": [{{"id": n}} for n in names]}}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(args[args.index("--port") + 1])), H).serve_forever()
'''


@pytest.mark.parametrize("fail", [False, True])
def test_vllm_is_started_waited_for_and_stopped(tmp_path, monkeypatch, fail) -> None:
    """A stand-in `vllm` on PATH: the starter runs the command line, waits for /v1/models, and stops it;
    one that dies says why in one line and where its log is."""
    import sys

    from distill_tui.commands import serve_student
    from distill_tui.core.common.errors import WorkFailed

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vllm"
    fake.write_text(FAKE_VLLM.format(python=sys.executable, fail=fail))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISTILL_TUI_DATA_DIR", str(tmp_path / "data"))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    request = ServeRequest(base="Qwen/Qwen3-0.6B", adapters={str(adapter): str(adapter)}, engine=VLLM)
    if fail:
        with pytest.raises(WorkFailed, match=r"vllm serve stopped before serving \(CUDA out of memory.*see .*\.log"):
            serve_student.start(request, ready_s=30)
        return
    served = serve_student.start(request, ready_s=30)
    try:
        assert served.names == {"Qwen/Qwen3-0.6B", str(adapter)} and served.engine == VLLM
    finally:
        served.close()
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{served.base_url}/models", timeout=2)


def test_the_provider_key_is_never_sent_to_the_serving_endpoint(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-provider-secret-0123456789")
    monkeypatch.delenv(serving.KEY_ENV, raising=False)
    endpoint = serving.Served("http://127.0.0.1:9/v1", frozenset({"m"}), LIGHT)
    assert endpoint.client("m").api_key == "none"
    monkeypatch.setenv(serving.KEY_ENV, "served-key")
    assert endpoint.client("m").api_key == "served-key"


def test_missing_extras_say_what_to_install(monkeypatch) -> None:
    import sys

    from distill_tui.commands import serve_student

    monkeypatch.setitem(sys.modules, "peft", None)  # as if not installed
    with pytest.raises(UserError, match=re.escape("needs peft: pip install 'distill-tui[train]'")):
        serve_student.start(ServeRequest(base="Qwen/Qwen3-0.6B", engine=LIGHT))
