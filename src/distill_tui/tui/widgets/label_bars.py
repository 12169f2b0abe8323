"""A plain-text bar chart of label counts (works without colour)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text


def label_bars(
    counts: dict[str, int], other: dict[str, int] | None = None, *, titles: tuple[str, str] = ("rows", ""),
    width: int = 20, limit: int = 40,
) -> Table:
    """A table of labels, their counts (and a second count column) and a bar of the first count."""
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    table.add_column("label", overflow="ellipsis", no_wrap=True, max_width=28)
    table.add_column(titles[0], justify="right")
    if other is not None:
        table.add_column(titles[1], justify="right")
    table.add_column("", no_wrap=True)
    top = max(counts.values(), default=0) or 1
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for label, count in items[:limit]:
        filled = count * width / top
        bar = "█" * int(filled) + ("▌" if filled - int(filled) >= 0.5 else "")
        cells = [Text(label), str(count)]
        if other is not None:
            cells.append(str(other.get(label, 0)))
        cells.append(Text(bar, style="green"))
        table.add_row(*cells)
    if len(items) > limit:
        table.add_row(Text(f"… {len(items) - limit} more", style="dim"), "", *([""] if other is not None else []), "")
    return table


def reference_summary(data: Any) -> Table | Text:
    """For extraction and generation: how many rows of each split have a reference, how many differ
    and how long they are in words (their answers are texts or records, never labels to count)."""
    column = data.label_column
    if column is None:
        return Text("no reference column: the teacher's answers are the targets ([dataset] reference names one)",
                    style="dim")
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    for name, justify in (("split", "left"), ("with a reference", "right"), ("distinct", "right"),
                          ("words min", "right"), ("median", "right"), ("max", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for split in ("train", "eval"):
        values = data.frame.loc[data.frame["_split"] == split, column].dropna().astype(str)
        words = values.str.split().str.len()
        cells = [f"{len(values):,}", f"{values.nunique():,}"]
        cells += [f"{int(words.min()):,}", f"{words.median():,.0f}", f"{int(words.max()):,}"] if len(values) else ["–"] * 3
        table.add_row(split, *cells)
    return table
