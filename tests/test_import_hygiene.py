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
    import pkgutil

    import distill_tui.core
    import distill_tui.offline

    names = [m.name for m in pkgutil.walk_packages(distill_tui.core.__path__, "distill_tui.core.")]
    names += [m.name for m in pkgutil.walk_packages(distill_tui.offline.__path__, "distill_tui.offline.")]
    names += [f"distill_tui.commands.{m}" for m in ("estimate", "generate", "export", "finetune", "jobs", "eval")]
    assert len(names) > 50
    modules = _modules_after("\n".join(f"import {name}" for name in names))
    assert not any(m == "textual" or m.startswith("textual.") for m in modules)
    assert "rich" not in modules


def test_help_does_not_import_heavy_libraries():
    modules = _modules_after("from distill_tui.cli import build_parser; build_parser().format_help()")
    for heavy in ("pandas", "openai", "tiktoken", "textual", "numpy"):
        assert heavy not in modules, heavy


def test_the_help_command_line_does_not_import_the_evaluation_core():
    # The student-server starter is registered for commands that may evaluate; it imports the whole
    # evaluation core (a third of a second), which `--help` and `--version` never use.
    for flag in ("--help", "--version"):
        modules = _modules_after(f"from distill_tui.cli import main\ntry:\n    main([{flag!r}])\nexcept SystemExit:\n    pass")
        assert "distill_tui.core.evaluate" not in modules, flag
        for heavy in ("pandas", "openai", "tiktoken", "textual", "numpy"):
            assert heavy not in modules, (flag, heavy)


def test_every_command_has_a_module_with_run():
    import importlib

    from distill_tui.cli import COMMANDS, build_parser

    parser = build_parser()
    for command in COMMANDS:
        module = importlib.import_module(f"distill_tui.commands.{command.replace('-', '_')}")
        assert callable(module.run), command
        args = [command]
        if command not in ("demo", "jobs", "serve-offline"):
            args.append("x.toml")
        args += {"export": ["-o", "f.jsonl"], "import-stored": ["--metadata", "a=b"]}.get(command, [])
        assert parser.parse_args(args).command == command


def test_generate_does_not_import_the_evaluation_package(tmp_path):
    # Registering evaluation's server starter imported it all (numpy, the graders): ~1 s before generate's first request.
    spec = tmp_path / "missing.toml"
    modules = _modules_after(f"from distill_tui import cli\ncli.main(['generate', {str(spec)!r}])")
    assert not any(m.startswith("distill_tui.core.evaluate") for m in modules)
