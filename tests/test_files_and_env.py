"""Where files go (DISTILL_TUI_DATA_DIR, DISTILL_TUI_CACHE_DIR) and what serve-offline says about
the address it listens on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from distill_tui import locations
from distill_tui.offline.models import cache_dir


def test_the_cache_follows_the_data_dir_unless_the_cache_dir_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("DISTILL_TUI_CACHE_DIR", raising=False)
    monkeypatch.setenv("DISTILL_TUI_DATA_DIR", str(tmp_path / "data"))
    assert cache_dir() == tmp_path / "data" / "cache" / "offline-models"
    monkeypatch.setenv("DISTILL_TUI_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" / "offline-models"
    monkeypatch.delenv("DISTILL_TUI_DATA_DIR")
    monkeypatch.delenv("DISTILL_TUI_CACHE_DIR")
    assert locations.cache_dir().name == "distill-tui"  # the platform's cache folder


def test_help_and_readme_name_both_folder_variables():
    from distill_tui.cli import build_parser

    readme = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    text = build_parser().format_help()
    for name in ("DISTILL_TUI_DATA_DIR", "DISTILL_TUI_CACHE_DIR"):
        assert name in text and name in readme


def _serve(*flags: str) -> list[str]:
    """The first lines serve-offline prints (stderr merged), then stop it."""
    proc = subprocess.Popen([sys.executable, "-m", "distill_tui.cli", "serve-offline", "--port", "0", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not any(line.startswith("  export ") for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        return lines
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_offline_beyond_loopback_warns_and_prints_the_real_address():
    lines = _serve("--host", "0.0.0.0")
    assert lines[0] == ("distill-tui serve-offline: warning: listening on 0.0.0.0 (every interface): any machine "
                        "that reaches this one can use it, with any key (--api-key KEY requires one)")
    assert lines[1].startswith("offline provider listening on http://0.0.0.0:")  # not 127.0.0.1
    lines = _serve()
    assert lines[0].startswith("offline provider listening on http://127.0.0.1:") and len(lines) == 2
