"""The embedded offline provider behind `base_url = "offline"`: started here, at the edge, on first use.

The core only knows that some function returns the embedded provider's base URL
(`core.provider.clients.use_embedded_provider`); the CLI registers `start` before any command runs.
"""

from __future__ import annotations

from typing import Any

_server: Any = None


def start() -> str:
    """Start the offline provider on loopback, with its state in the data folder; return its base URL."""
    global _server
    from distill_tui import locations
    from distill_tui.offline import OfflineOptions, start_server

    options = OfflineOptions()
    options.state_dir = locations.make_private_dir(locations.data_dir() / "offline-provider")
    _server = start_server(options)
    return _server.base_url


def register() -> None:
    """Make `base_url = "offline"` start the embedded provider (once per process, when first asked)."""
    from distill_tui.core.provider.clients import use_embedded_provider

    use_embedded_provider(start)
