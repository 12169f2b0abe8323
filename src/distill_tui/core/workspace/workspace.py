"""A workspace: one spec, its database, its prepared data, prices and API client, shared by the
CLI commands and the TUI screens so both do exactly the same thing."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distill_tui.core.provider.clients import OPENAI_URL
from distill_tui.core.store.database import Store
from distill_tui.core.task.spec import TaskSpec, load_spec

if TYPE_CHECKING:
    import openai

    from distill_tui.core.cost.pricing import PriceTable
    from distill_tui.core.task.dataset import PreparedData


class Workspace:
    """Everything one spec needs, loaded lazily and cached.

    Thread-safe for reading; change the spec only from one thread (the UI).
    """

    def __init__(self, spec: TaskSpec, *, base_url: str | None = None, store: Store | None = None,
                 allow_read_only: bool = False) -> None:
        self.spec = spec
        self.base_url = base_url
        self.store = store or Store.for_spec(spec.source, allow_read_only=allow_read_only)
        # A workspace found by the spec's path looks once for answers saved under another path.
        self._look_for_answers = store is None and not getattr(self.store, "read_only", False)
        self._notes: list[str] = []
        self._lock = threading.RLock()
        self._data: PreparedData | None = None
        self._prices: PriceTable | None = None
        self._client: Any = None

    @classmethod
    def open(cls, spec_path: str | Path, *, base_url: str | None = None, allow_read_only: bool = False) -> "Workspace":
        """The workspace of a spec file; `allow_read_only` for commands that only read (see `Store`)."""
        return cls(load_spec(spec_path), base_url=base_url, allow_read_only=allow_read_only)

    @property
    def data(self) -> "PreparedData":
        """The prepared dataset (loaded on first use; raises DataError/SpecError)."""
        with self._lock:
            if self._data is None:
                from distill_tui.core.task import dataset

                self._data = dataset.prepare(self.spec)
                if self._look_for_answers:
                    self._look_for_answers = False
                    self._reuse_answers(self._data)
            return self._data

    def _reuse_answers(self, data: "PreparedData") -> None:
        """Start from the answers this spec has under another path (renamed, moved, copied)."""
        from distill_tui.core.workspace.reuse import adopt

        note = adopt(self.store, self.spec, data)
        if note:
            self._notes.append(note)

    def notes_on_open(self) -> list[str]:
        """Prepare the data now and return `take_notes()`; when the data cannot be prepared, close
        the workspace and raise as `data` does (the caller is opening it and will not use it)."""
        try:
            self.data
        except BaseException:
            self.close()
            raise
        return self.take_notes()

    def take_notes(self) -> list[str]:
        """Lines for the user about what opening the workspace did (answers reused from where),
        each returned once; they come with the first use of `data`."""
        with self._lock:
            notes, self._notes = self._notes, []
            return notes

    @property
    def prices(self) -> "PriceTable":
        with self._lock:
            if self._prices is None:
                from distill_tui.core.cost import pricing

                self._prices = pricing.load_prices()
            return self._prices

    def client(self) -> "openai.OpenAI":
        """The API client of the spec's provider (raises UserError when the key is missing)."""
        with self._lock:
            if self._client is None:
                from distill_tui.core.provider.clients import make_client

                self._client = make_client(self.spec, base_url=self.base_url)
            return self._client

    @property
    def offline(self) -> bool:
        from distill_tui.core.provider.clients import is_offline

        return is_offline(self.spec, self.base_url)

    def set_spec(self, spec: TaskSpec) -> None:
        """Use a changed spec; the prepared data is rebuilt on next use."""
        with self._lock:
            provider_changed = spec.provider != self.spec.provider
            self.spec = spec
            self._data = None
            if provider_changed:
                self._client = None

    def close(self) -> None:
        self.store.close()


def provider_url(workspace: Workspace) -> str:
    """The provider a workspace calls, as configured: the `--base-url` override, the spec's base_url
    ("offline" for the embedded provider), OPENAI_BASE_URL, the Azure endpoint, or OpenAI's.

    Fine-tuning keeps it with each job (`data["base_url"]`), so evaluation can tell a job made on
    another provider apart.
    """
    spec = workspace.spec
    url = workspace.base_url or spec.provider.base_url or os.environ.get("OPENAI_BASE_URL")
    if not url and spec.provider.kind == "azure":
        url = spec.provider.azure_endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
    return (url or OPENAI_URL).rstrip("/")
