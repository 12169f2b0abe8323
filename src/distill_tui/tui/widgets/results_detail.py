"""The detail pane of the Results screen: per-class accuracy and the largest confusions of one
model, or its whole confusion matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, DataTable, Static

from distill_tui.core.evaluate import report
from distill_tui.tui.widgets.table_fill import fill_table

if TYPE_CHECKING:
    from distill_tui.core.evaluate.comparison import ClassReport

MODES = ("classes", "matrix", "scores", "hidden")
"""What the pane under the table shows; c cycles them ("scores" is `results_scores.ScorePane`)."""
LABEL_WIDTH = 18
"""Per-class labels are cut to this, so the scores fit beside the confusions at 80 columns."""


MODEL_WIDTH = 21
"""Model names in the comparison table are cut to this, so the columns up to cost / 1k fit at 80
columns beside a role as long as "base student"."""


def short_model(name: str, width: int = MODEL_WIDTH) -> str:
    """A model name cut in the middle, keeping the distinctive end of `ft:` names; a path (a student
    trained here, its adapter) cut at the start: its folders are the same on every row."""
    if len(name) <= width:
        return name
    if name.startswith(("/", "~")):
        return "…" + name[len(name) - width + 1:]
    head = (width - 1) // 2
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]


TABLE_HEADERS = [(header, Text(short, justify="left" if i < 2 else "right"))
            for i, (header, short, _) in enumerate(report.COLUMNS)]


def table_cells(row: Any) -> list[Text]:
    """One model's row of the comparison table; the distilled student in bold."""
    cells = [fn(row) for _, _, fn in report.COLUMNS]
    cells[0] = short_model(row.model)
    style = "bold" if row.role == "distilled" else ""
    shown = [Text(c, style=style, justify="left" if i < 2 else "right") for i, c in enumerate(cells)]
    if row.status == "failed":
        shown[3] = Text("FAILED", style="bold reverse", justify="right")
    return shown


def abbreviate(labels: list[str], width: int = 5) -> list[str]:
    """Short, distinct column headers: "Pinot Noir" → "PinNo", "Merlot" → "Merlo"."""
    out: list[str] = []
    for label in labels:
        words = label.replace("-", " ").split() or ["?"]
        short = words[0][:width] if len(words) == 1 else (words[0][:3] + words[1][: width - 3])
        base, n = short, 2
        while short in out:
            short = f"{base[: width - 1]}{n}"
            n += 1
        out.append(short)
    return out


class ClassDetail(Vertical):
    """Shows one model's `ClassReport` as per-class scores + confusions, or as a matrix."""

    DEFAULT_CSS = """
    ClassDetail { height: 1fr; }
    ClassDetail #detail-title { height: 1; color: $text-muted; }
    ClassDetail ContentSwitcher { height: 1fr; }
    ClassDetail #classes-view { height: 1fr; }
    ClassDetail #per-class { width: auto; max-width: 60%; height: 1fr; scrollbar-size-horizontal: 0; }
    ClassDetail #confusions { width: 1fr; height: 1fr; padding-left: 1; }
    ClassDetail #matrix { height: 1fr; }
    ClassDetail #no-detail { height: 1fr; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-title")
        with ContentSwitcher(initial="classes-view"):
            with Horizontal(id="classes-view"):
                yield DataTable(id="per-class", cursor_type="row", zebra_stripes=False)
                yield Static("", id="confusions")
            yield DataTable(id="matrix", cursor_type="cell", fixed_columns=1)
            yield Static("", id="no-detail")

    def show(self, detail: "ClassReport | None", mode: str, failure: str | None = None,
             reason: str | None = None) -> None:
        """Show a model's detail in `mode` ("classes" or "matrix").

        Args:
            failure: why its every request failed.
            reason: why it is not asked (r does nothing for it until this is fixed).
        """
        switcher = self.query_one(ContentSwitcher)
        title = self.query_one("#detail-title", Static)
        if detail is None or detail.n == 0:
            name = detail.model if detail else "this model"
            title.update(Text(f"{name}: no answers yet", style="dim"))
            if failure:
                body = Text.assemble(("FAILED", "bold reverse"), f" {failure}\n",
                                     ("Failed rows are not counted as wrong; fix the cause and press r.", "dim"))
            elif reason:
                body = Text.assemble(("NOT RUN", "bold reverse"), f" {reason}\n",
                                     ("r does not ask this model until that is fixed.", "dim"))
            else:
                body = Text("Per-class accuracy and confusions appear once the model has answered (press r).",
                            style="dim")
            self.query_one("#no-detail", Static).update(body)
            switcher.current = "no-detail"
            return
        # Kept within 80 columns: a long ft: name is cut in the middle; the footer's "c" switches views.
        view = "per-class accuracy" if mode == "classes" else "confusions (rows: gold)"
        title.update(Text.assemble((short_model(detail.model, 40), "bold"), f"  {view} · {detail.n} answers"))
        if mode == "matrix":
            self._show_matrix(detail)
            switcher.current = "matrix"
        else:
            self._show_classes(detail)
            switcher.current = "classes-view"

    def _show_classes(self, detail: "ClassReport") -> None:
        rows = []
        for c in detail.classes:
            if c.n == 0:
                continue
            label = c.label if len(c.label) <= LABEL_WIDTH else c.label[: LABEL_WIDTH - 1] + "…"
            rows.append((None, [Text(label), str(c.n), report.pct(c.accuracy, 0), report.pct(c.precision, 0),
                                report.pct(c.f1, 0)]))
        columns = [(name, name) for name in ("label", "n", "acc", "prec", "f1")]
        fill_table(self.query_one("#per-class", DataTable), columns, rows)
        lines = Table.grid(padding=(0, 1))
        lines.add_column(overflow="ellipsis", no_wrap=True, max_width=30)
        lines.add_column(justify="right")
        lines.add_row(Text("largest confusions", style="bold"), "")
        if not detail.confusions:
            lines.add_row(Text("none: every answer is right", style="dim"), "")
        for gold, pred, count in detail.confusions:
            lines.add_row(Text.assemble(gold, (" → ", "dim"), pred), f"×{count}")
        self.query_one("#confusions", Static).update(lines)

    def _show_matrix(self, detail: "ClassReport") -> None:
        shorts = abbreviate(detail.predicted_labels)
        columns: list[tuple[str, Text | str]] = [("gold", "gold \\ answer"), *zip(detail.predicted_labels, shorts)]
        rows = []
        for gold in detail.gold_labels:
            cells: list[Text | str] = [Text(gold)]
            for pred in detail.predicted_labels:
                count = detail.matrix.get((gold, pred), 0)
                if not count:
                    cells.append(Text("·", style="dim"))
                else:
                    cells.append(Text(str(count), style="bold" if gold == pred else "reverse"))
            rows.append((gold, cells))
        fill_table(self.query_one("#matrix", DataTable), columns, rows)
