"""The core never imports Textual, and `--help` never imports the heavy libraries."""

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout
    return set(out.split())


def test_core_does_not_import_textual():
    code = "import distill_tui.core\n" + "\n".join(
        f"import distill_tui.core.{m}"
        for m in ("spec", "dataset", "prompts", "tokens", "pricing", "estimate", "store", "provider", "workspace",
                  "apierrors", "errors")
    )
    modules = _modules_after(code)
    assert not any(m == "textual" or m.startswith("textual.") for m in modules)
    assert "rich" not in modules


def test_help_does_not_import_heavy_libraries():
    modules = _modules_after("from distill_tui.cli import build_parser; build_parser().format_help()")
    for heavy in ("pandas", "openai", "tiktoken", "textual", "numpy"):
        assert heavy not in modules, heavy
