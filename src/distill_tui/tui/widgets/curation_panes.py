"""The curation screen's text panes: the highlighted row in full, label counts, and totals.

Prompt text can hold `[` and anything that looks like markup, so everything here is built as
`rich.text.Text` and never parsed as markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from distill_tui.core.cost.pricing import format_usd

if TYPE_CHECKING:
    from distill_tui.core.curate.selection import Curation, Totals


def detail_text(cur: "Curation", p: int) -> Text:
    """The whole prompt and answer of one row, with what is known about it on top."""
    from distill_tui.tui.widgets.curation_table import row_status

    a = cur.answers[p]
    if cur.context.kind == "classification":
        agree = {1: "agrees with gold", 0: "DISAGREES with gold"}.get(
            int(cur.agrees[p]), "no gold label" if a.gold is None else "no answer to compare")
    else:
        how = f" ({cur.pass_mark[0]} ≥ {cur.pass_mark[1]:g})" if cur.pass_mark else ""
        agree = {1: f"agrees with the reference{how}", 0: f"DISAGREES with the reference{how}"}.get(
            int(cur.agrees[p]), "no reference")
    text = Text()
    text.append(f"row {a.row_id}", style="bold")
    text.append(f" · gold {a.gold or '—'} · teacher {a.label or '—'} · {agree}"
                f" · {'valid' if a.valid else 'INVALID'} · {row_status(cur, p)}"
                f" · {int(cur.tokens[p]):,} training tokens")
    if int(cur.group_size[p]) > 1:
        text.append(f" · prompt repeated ×{int(cur.group_size[p])}")
    scores = [f"{name} {column[p]:.2f}" if column[p] == column[p] else f"{name} not judged"
              for name, column in cur.scores.items() if column[p] == column[p] or name in cur.judges]
    if scores:
        text.append(" · " + " · ".join(scores))
    if a.problem:
        text.append(f"\nproblem: {a.problem}", style="bold")
    if a.error:
        text.append(f"\nerror: {a.error}", style="bold")
    # The answer first: it is short, and what the user judges; the prompt follows in full.
    text.append("\nassistant (trained on): ", style="bold")
    text.append(a.content if a.content is not None else "(no answer)")
    original = cur.originals.get(a.row_id)
    if original is not None:  # the edit is exported; the teacher's answer stays in the store
        text.append("\nteacher's original (kept, not exported): ", style="bold")
        text.append(original.content if original.content is not None else "(no answer)")
    for message in a.messages or ():
        text.append(f"\n{message.get('role', '?')}: ", style="bold")
        text.append(str(message.get("content") or ""))
    return text


def distribution_text(rows: list[tuple[str, int, int]], width: int = 28, limit: int = 40,
                      title: str = "teacher label") -> Text:
    """`teacher label  selected/all  bar` lines (the bar is the selected count, in characters: it
    works without colour). `title`: what the rows count (free text: "teacher answers", by length)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    name_width = max(4, width - 15)
    # "teacher": the pane counts the answers trained on, while `l` and `label=` filter by gold label.
    text.append(f"{title:<{name_width}}  sel/all\n", style="bold")
    top = max((r[1] for r in rows), default=0) or 1
    for label, chosen, total in rows[:limit]:
        name = label if len(label) <= name_width else label[: name_width - 1] + "…"
        bar = "█" * round(chosen * 4 / top)
        text.append(f"{name:<{name_width}} {chosen:>4}/{total:<4} ")
        text.append(f"{bar}\n", style="green")
    if len(rows) > limit:
        text.append(f"… {len(rows) - limit} more labels\n", style="dim")
    text.rstrip()
    return text


def money(value: float | None) -> str:
    return format_usd(value, unknown="price unknown")


def totals_text(totals: "Totals", cap: int | None = None, rows: int | None = None) -> Text:
    """One line: examples, tokens, epochs and cost of training on the selection.

    Args:
        totals: The curation's totals.
        cap: The cap per label, if any.
        rows: How many rows the curation has: when every one is shown, the line says "N selected
            of `rows` rows" rather than counting the shown rows apart.
    """
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{totals.examples:,}", style="bold")
    if rows is not None and totals.shown == rows:
        text.append(f" selected of {rows:,} rows · ")
    else:
        text.append(f" selected · {totals.shown:,} shown, {totals.selected_shown:,} of them selected · ")
    text.append(f"{totals.tokens:,}", style="bold")
    text.append(f" tok × {totals.epochs} ep = ")
    text.append(money(totals.cost_usd), style="bold")
    if cap:
        text.append(f" · cap {cap}/label")
    if totals.leaked:
        text.append(f" · {totals.leaked:,} held out for eval, never exported", style="bold")
    return text


class DetailPane(Static):
    """The highlighted row in full (wrapped; `enter` opens it scrollable)."""

    DEFAULT_CSS = """
    DetailPane { width: 1fr; height: 100%; padding: 0 1; overflow: hidden; }
    """


class DistributionPane(Static):
    """Teacher-label counts of the selection next to the whole set's."""

    DEFAULT_CSS = """
    DistributionPane { width: 30; height: 100%; padding: 0 0 0 1; border-left: vkey $foreground 20%; }
    """
