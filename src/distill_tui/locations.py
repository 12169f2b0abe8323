"""Every path the app reads or writes, in one place (platformdirs, overridable by environment)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

APP_NAME = "distill-tui"


def data_dir() -> Path:
    """The folder holding workspaces (SQLite files) and exports.

    `DISTILL_TUI_DATA_DIR` overrides the platformdirs default.
    """
    override = os.environ.get("DISTILL_TUI_DATA_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """The folder holding user configuration such as a price override file.

    `DISTILL_TUI_CONFIG_DIR` overrides the platformdirs default.
    """
    override = os.environ.get("DISTILL_TUI_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def user_prices_file() -> Path:
    """A user's price table that overrides the bundled one, entry by entry."""
    return config_dir() / "prices.toml"


def user_models_file() -> Path:
    """A user's table of model limits (context window, max output) that overrides the bundled one."""
    return config_dir() / "models.toml"


def workspaces_dir() -> Path:
    return data_dir() / "workspaces"


def workspace_name(spec_path: Path) -> str:
    """A stable, readable workspace name for a spec file: its stem plus a hash of its absolute path."""
    resolved = str(Path(spec_path).expanduser().resolve())
    digest = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:10]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(spec_path).stem)[:40] or "spec"
    return f"{stem}-{digest}"


def workspace_db(spec_path: Path) -> Path:
    """The SQLite file holding all state of the workspace of one spec file."""
    return workspaces_dir() / f"{workspace_name(spec_path)}.sqlite"


def exports_dir(spec_path: Path) -> Path:
    """Where exported training files go by default."""
    return data_dir() / "exports" / workspace_name(spec_path)


def package_assets() -> Path:
    """Bundled demo data and spec."""
    return Path(__file__).parent / "assets"


def demo_spec() -> Path:
    return package_assets() / "demo.toml"
