"""Textual's Linux driver, made to outlive its terminal.

After a hang-up (a dropped SSH link, a closed terminal window) every write to the terminal fails
with EIO. Textual's writer thread ends on the first failed write; its queue then fills, and the next
write, at the latest while the app quits, blocks the main thread for good: the process never exits
and spins on its dead input. Here a failed write is dropped instead (there is no one left to draw
for), so quitting runs to its end: the runs in flight are stopped and their answers saved, then the
process exits.
"""

from __future__ import annotations

from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver


class ForgivingStream:
    """A text stream whose `write` and `flush` drop what the stream refuses (OSError, closed)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class HangupSafeDriver(LinuxDriver):
    """`LinuxDriver` writing through a `ForgivingStream`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file = ForgivingStream(self._file)
