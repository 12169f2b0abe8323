"""Every way out saves what was paid: SIGTERM and SIGHUP (a dropped SSH link) stop `generate` and
`eval` the way Ctrl-C does, so the requests in flight are saved and a resume asks nothing twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distill_tui import locations
from distill_tui.offline import OfflineOptions, start_server
from tests.helpers import write_spec

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")

TRAIN_ROWS = 88  # write_spec's 120 rows, filtered and split


@pytest.fixture
def slow_server():
    server = start_server(OfflineOptions(latency=0.3))
    yield server
    server.shutdown()


def _spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path, provider={"base_url": "offline"}, generation={"workers": 4})


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "distill_tui.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _saved(spec: Path, split: str | None = None) -> int:
    db = locations.workspace_db(spec)
    if not db.exists():
        return 0
    where = "status='ok'" + (f" AND split='{split}'" if split else "")
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(f"SELECT count(*) FROM answers WHERE {where}").fetchone()[0]
    except sqlite3.OperationalError:  # the table does not exist yet
        return 0


def _wait_until_in_flight(spec: Path, proc: subprocess.Popen, server, split: str | None = None) -> None:
    """Until some answers are saved and requests are out that the server has not answered yet."""
    deadline = time.monotonic() + 60
    while not (_saved(spec, split) >= 4 and server.stats["chat_requests"] > server.stats["chat_ok"]):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no requests in flight in time"
        time.sleep(0.01)


@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGHUP, signal.SIGHUP]], ids=["SIGTERM", "SIGHUP x2"])
def test_generate_saves_the_requests_in_flight_on_a_signal(tmp_path, slow_server, signals):
    spec = _spec(tmp_path)
    proc = _cli("generate", str(spec), "--json", "--base-url", slow_server.base_url)
    _wait_until_in_flight(spec, proc, slow_server)
    for sig in signals:  # a hang-up sends SIGHUP twice: the kernel to the job, the shell to its jobs
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    data = json.loads(out)
    saved = _saved(spec)
    assert data["stopped"] == "cancelled" and data["done"] == saved < TRAIN_ROWS
    assert slow_server.stats["chat_ok"] == slow_server.stats["chat_requests"] == saved  # every answer paid is kept
    assert "Traceback" not in err

    again = _cli("generate", str(spec), "--json", "--base-url", slow_server.base_url)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert json.loads(out)["requests"] == TRAIN_ROWS - saved
    counts = slow_server.stats["requests_by_prompt_hash"]
    assert len(counts) == TRAIN_ROWS and max(counts.values()) == 1  # 0 prompts asked twice


def test_eval_saves_the_requests_in_flight_on_sigterm(tmp_path, slow_server):
    spec = _spec(tmp_path)
    proc = _cli("eval", str(spec), "--json", "--base-url", slow_server.base_url)
    _wait_until_in_flight(spec, proc, slow_server, "eval")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert json.loads(out)["run"]["stopped"] == "cancelled"
    assert slow_server.stats["chat_ok"] == slow_server.stats["chat_requests"] == _saved(spec, "eval")


def _pid_of(pattern: str) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split():
            if Path(f"/proc/{line}/cmdline").read_bytes().startswith(sys.executable.encode()):
                return int(line)
        time.sleep(0.1)
    raise AssertionError(f"no process matching {pattern!r}")


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")
def test_the_tui_saves_the_requests_in_flight_when_its_terminal_hangs_up(tmp_path, slow_server):
    """A real terminal closed under a running generation (`tmux kill-session` = SIGHUP, then writes
    fail): the app saves every answer in flight and exits instead of hanging on its dead terminal."""
    spec = write_spec(tmp_path, provider={"base_url": slow_server.base_url},
                      generation={"workers": 4, "budget_usd": 5.0})
    name = f"distill-hup-{os.getpid()}"
    command = f"env DISTILL_TUI_DATA_DIR={os.environ['DISTILL_TUI_DATA_DIR']} TERM=xterm-256color " \
              f"{sys.executable} -m distill_tui.cli {spec}"
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "100", "-y", "30", command], check=True)
    try:
        pid = _pid_of(f"distill_tui.cli {spec}")
        deadline = time.monotonic() + 60
        while "Press s to start" not in subprocess.run(["tmux", "capture-pane", "-p", "-t", name],
                                                       capture_output=True, text=True).stdout:
            subprocess.run(["tmux", "send-keys", "-t", name, "3"])
            assert time.monotonic() < deadline, "the Generate screen did not open"
            time.sleep(0.5)
        subprocess.run(["tmux", "send-keys", "-t", name, "s"], check=True)
        deadline = time.monotonic() + 60
        while not (_saved(spec) >= 4 and slow_server.stats["chat_requests"] > slow_server.stats["chat_ok"]):
            assert time.monotonic() < deadline, "no requests in flight in time"
            time.sleep(0.01)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
    deadline = time.monotonic() + 60
    while not _gone(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the app did not exit after its terminal hung up")
        time.sleep(0.05)
    assert slow_server.stats["chat_ok"] == slow_server.stats["chat_requests"] == _saved(spec) < TRAIN_ROWS


def test_a_signal_while_a_job_is_created_waits_until_its_id_is_saved(tmp_path, offline_server, monkeypatch, capsys):
    """Ctrl-C (or SIGTERM, SIGHUP) between a job's creation and its record would leave a paid job
    unknown here, and the next `finetune` would pay for a second one: the signal waits for the record."""
    import io

    from distill_tui.cli import main
    from distill_tui.core.train import jobs as finetune
    from distill_tui.core.store.database import Store
    from tests.test_finetune_poll import exported_workspace

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    ws = exported_workspace(tmp_path, offline_server.base_url)
    spec = ws.spec.source
    ws.close()
    real = finetune._create

    def signalled_mid_creation(*args, **kwargs):
        snapshot = real(*args, **kwargs)  # the job exists on the provider now
        os.kill(os.getpid(), signal.SIGINT)
        return snapshot

    monkeypatch.setattr(finetune, "_create", signalled_mid_creation)
    code = main(["finetune", str(spec), "--yes"])
    err = capsys.readouterr().err
    assert code == 1
    store = Store(locations.workspace_db(spec))
    jobs = store.jobs()
    store.close()
    assert len(jobs) == 1 and f"stopped after creating job {jobs[0].id}" in err and "--follow" in err
