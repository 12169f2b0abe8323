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


def cache_dir() -> Path:
    """The folder for caches that can be rebuilt (the offline provider's trained models).

    `DISTILL_TUI_CACHE_DIR` overrides; otherwise, when `DISTILL_TUI_DATA_DIR` is set, `cache` inside
    it (so one variable keeps everything together); else the platformdirs default.
    """
    override = os.environ.get("DISTILL_TUI_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    if os.environ.get("DISTILL_TUI_DATA_DIR"):
        return data_dir() / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def make_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents readable by their owner only (0700), whatever the umask:
    workspaces hold paid answers and prompts built from the user's data. Existing folders keep their mode.

    Raises:
        OSError: a folder cannot be created.
    """
    missing = []
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass  # made meanwhile by another process
        else:
            os.chmod(folder, 0o700)  # mkdir's mode is narrowed by the umask, never widened; be exact
    if not Path(path).is_dir():
        raise NotADirectoryError(20, "Not a directory", str(path))
    return Path(path)


def make_output_dir(folder: Path) -> Path:
    """Create the folder a file is written to: private (see `make_private_dir`) inside the data
    folder, as the umask says elsewhere (a place the user chose)."""
    folder = Path(folder).expanduser()
    if folder.resolve().is_relative_to(data_dir().expanduser().resolve()):
        return make_private_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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


def local_jobs_dir(spec_path: Path) -> Path:
    """Where the local trainer's job folders of one workspace live (one folder per job)."""
    return data_dir() / "local-jobs" / workspace_name(spec_path)


def package_assets() -> Path:
    """Bundled demo data and spec."""
    return Path(__file__).parent / "assets"


def demo_spec() -> Path:
    return package_assets() / "demo.toml"
