"""Fill a Textual DataTable with columns sized to their content before anything is drawn.

DataTable measures new cells in its idle handler and caches rendered cells without their width, so
a frame drawn between `add_row` and that handler (likely on a busy machine) keeps every cell cut
to its header's width. Giving each column its measured width up front leaves nothing to race.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

Cell = Text | str


def cell_width(cell: Cell) -> int:
    """Terminal cells taken by the widest line of `cell`."""
    lines = cell.plain.split("\n") if isinstance(cell, Text) else str(cell).split("\n")
    return max(cell_len(line) for line in lines)


def fill_table(table: DataTable, columns: Sequence[tuple[str, Cell]], rows: Iterable[tuple[str | None, Sequence[Cell]]]) -> None:
    """Replace the columns and rows of `table`, each column exactly as wide as its widest cell.

    Args:
        columns: (key, header) per column.
        rows: (key or None, cells) per row, one cell per column.
    """
    rows = list(rows)
    widths = [max([cell_width(header), *(cell_width(cells[i]) for _, cells in rows)])
              for i, (_, header) in enumerate(columns)]
    table.clear(columns=True)
    for (key, header), width in zip(columns, widths):
        table.add_column(header, width=width, key=key)
    for key, cells in rows:
        table.add_row(*cells, key=key)
