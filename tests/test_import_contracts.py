"""The package shape cannot rot: the import contracts in pyproject.toml (import-linter) hold.

Layers of the core along the loop, a headless core, an offline provider that reads specs and tokens
only, the app over screens over widgets, screens independent of each other. See docs/CONTRIBUTING.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def _lint(project: Path, src: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([sys.executable, "-c", LINT], cwd=project, capture_output=True, text=True, env=env)


def test_the_import_contracts_hold():
    out = _lint(ROOT, ROOT / "src")
    assert out.returncode == 0 and "0 broken" in out.stdout, out.stdout + out.stderr


def test_a_core_module_that_imports_upwards_or_textual_breaks_them(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "src" / "distill_tui", tmp_path / "src" / "distill_tui",
                    ignore=shutil.ignore_patterns("__pycache__"))
    spec = tmp_path / "src" / "distill_tui" / "core" / "task" / "spec.py"
    spec.write_text(spec.read_text() + "\nfrom distill_tui.core.run import engine  # noqa\nimport textual  # noqa\n")
    out = _lint(tmp_path, tmp_path / "src")
    assert out.returncode != 0
    assert "distill_tui.core.task.spec -> distill_tui.core.run.engine" in out.stdout
    assert "distill_tui.core is not allowed to import textual" in out.stdout
    assert "no two modules or packages import each other, at any depth BROKEN" in " ".join(out.stdout.split())


def test_every_core_package_is_placed_and_says_what_it_may_use():
    """A new package under core/ must be placed in the layers (the layers contract is exhaustive), and
    each says in its docstring what it holds and what it may use."""
    import importlib
    import pkgutil

    import distill_tui.core

    packages = [m.name for m in pkgutil.iter_modules(distill_tui.core.__path__) if m.ispkg]
    assert set(packages) == {
        "common", "task", "provider", "cost", "store", "workspace", "run", "curate", "train", "evaluate"}
    for name in packages:
        doc = importlib.import_module(f"distill_tui.core.{name}").__doc__ or ""
        assert "use" in doc.lower() or "imports nothing" in doc.lower(), name
