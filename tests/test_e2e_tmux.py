"""The whole loop in a real terminal: `distill-tui demo` inside tmux, driven by send-keys and read
back with capture-pane, from the Dataset screen to the comparison table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)"),
]


class Terminal:
    """A tmux session running one command, 100x30."""

    def __init__(self, command: list[str], env: dict[str, str], width: int = 100, height: int = 30) -> None:
        self.name = f"distill-e2e-{uuid.uuid4().hex[:8]}"
        env_args = [f"{k}={v}" for k, v in env.items()]
        shell = " ".join(["env", *env_args, *command])
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), shell],
            check=True,
        )

    def screen(self) -> str:
        result = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return result.stdout

    def send(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.3)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.25)
        raise AssertionError(f"{text!r} did not appear within {timeout} s; the screen was:\n{screen}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def test_whole_loop_in_tmux(tmp_path):
    env = {
        "DISTILL_TUI_DATA_DIR": str(tmp_path / "data"),
        "DISTILL_TUI_CACHE_DIR": os.environ.get("DISTILL_TUI_CACHE_DIR", str(tmp_path / "cache")),
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
    }
    term = Terminal([sys.executable, "-m", "distill_tui.cli", "demo"], env)
    try:
        term.wait_for("600 rows (420 train / 180 eval)", timeout=60)
        screen = term.wait_for("prompt tokens for offline-teacher")
        assert "OFFLINE DEMO" in screen

        term.send("2")
        screen = term.wait_for("distilled eval")
        assert "teacher train" in screen and "fine-tune" in screen and "total" in screen

        term.send("3")
        term.wait_for("Press s to start")
        term.send("f")
        term.wait_for("20 rows answered")
        term.send("s")
        term.wait_for("all 420 rows answered", timeout=120)

        term.send("c")
        screen = term.wait_for("420 selected")
        term.send("e")
        term.wait_for("enter: write")
        term.send("Enter")
        term.wait_for("wrote 420 examples")

        term.send("5")
        term.wait_for("New job")
        term.send("n")
        term.wait_for("Create job")
        term.send("Enter")
        # The status line gives the fine-tuned model a line of its own, so it is never cut off.
        screen = term.wait_for(" succeeded:", timeout=120)
        assert "ft:offline-student:offline:distill:" in screen

        term.send("6")
        term.wait_for("offline-teacher")
        term.send("r")
        screen = term.wait_for("Evaluation finished", timeout=120)
        for expected in ("offline-teacher", "offline-student", "ft:offline…", "95% CI", "teacher", "base student", "distilled"):
            assert expected in screen, expected
        assert "disjoint from training rows" in screen
        term.send("ctrl+q")
    finally:
        term.close()
