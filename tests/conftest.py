"""Fixtures shared by every test: isolated data/config folders, spec builders, the offline server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distill_tui.commands import embedded
from tests.helpers import write_dataset, write_spec  # noqa: F401  (re-exported for tests)

# Specs with base_url = "offline" reach the embedded provider as they do through the CLI.
embedded.register()


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data and config folders and no API credentials."""
    root = tmp_path_factory.mktemp("distill-home")
    monkeypatch.setenv("DISTILL_TUI_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("DISTILL_TUI_CONFIG_DIR", str(root / "config"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture(scope="session")
def offline_server():
    """One offline provider for the whole test session (fast jobs)."""
    from distill_tui.offline import OfflineOptions, start_server

    server = start_server(OfflineOptions(job_seconds=1.0))
    yield server
    server.shutdown()


@pytest.fixture
def demo_spec(tmp_path: Path) -> Path:
    """A copy of the bundled demo spec and data in a temporary folder."""
    import shutil

    from distill_tui import locations

    for name in ("demo.toml", "reviews.csv"):
        shutil.copyfile(locations.package_assets() / name, tmp_path / name)
    return tmp_path / "demo.toml"


def pytest_configure(config: pytest.Config) -> None:
    import tempfile

    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    # The offline provider caches its trained models; keep that cache out of the user's home and
    # shared by the tests of one worker.
    os.environ["DISTILL_TUI_CACHE_DIR"] = tempfile.mkdtemp(prefix="distill-tui-cache-")


@pytest.fixture
def snap_compare(snap_compare):
    """pytest-textual-snapshot's `snap_compare`, with every screen settled (tests/settle.py) after the
    test's own `run_before`, so a busy machine photographs the same screen as an idle one."""
    import inspect

    from tests.settle import settle

    def compare(app, *args, run_before=None, **kwargs):
        async def before(pilot) -> None:
            if run_before is not None:
                result = run_before(pilot)
                if inspect.isawaitable(result):
                    await result
            await settle(pilot)

        return snap_compare(app, *args, run_before=before, **kwargs)

    return compare


@pytest.fixture
def server_factory():
    """Start offline servers with particular options; all shut down after the test."""
    from distill_tui.offline import OfflineOptions, start_server

    servers = []

    def make(**options):
        server = start_server(OfflineOptions(**options))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
