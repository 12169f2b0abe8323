"""Messages shared between screens. Workers post these; handlers update widgets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class SpecChanged(Message):
    """The workspace's spec was edited (filter, label, models…); screens showing data refresh."""


@dataclass
class SelectionChanged(Message):
    """The curated selection changed (totals elsewhere may need a refresh)."""
