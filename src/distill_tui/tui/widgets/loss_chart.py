"""A small text chart of a fine-tuning job's metrics: train loss as a braille line, validation loss
as dots, and token accuracy as a block sparkline. Readable at 80x24 and without colour (the series
differ by glyph, not only by colour)."""

from __future__ import annotations

from typing import Sequence

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

Series = dict[str, list[tuple[int, float]]]

_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # braille bit of (row, column) in a cell
_BLOCKS = "▁▂▃▄▅▆▇█"
VALID_MARK = "•"
AXIS = 7  # width of the y-axis labels, "12.345┤"


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _buckets(points: Sequence[tuple[int, float]], lo: int, hi: int, columns: int) -> list[float | None]:
    """The mean value of the points falling in each of `columns` equal step ranges."""
    sums = [0.0] * columns
    counts = [0] * columns
    span = max(1, hi - lo)
    for step, value in points:
        col = min(columns - 1, int((step - lo) * columns / (span + 1)))
        sums[col] += value
        counts[col] += 1
    return [s / c if c else None for s, c in zip(sums, counts)]


def sparkline(values: Sequence[float | None], lo: float | None = None, hi: float | None = None) -> str:
    """Block characters for values (a space where a value is missing)."""
    present = [v for v in values if v is not None]
    if not present:
        return " " * len(values)
    lo = min(present) if lo is None else lo
    hi = max(present) if hi is None else hi
    span = hi - lo or 1.0
    return "".join(" " if v is None else _BLOCKS[min(7, max(0, int((v - lo) / span * 7 + 0.5)))] for v in values)


def render_chart(
    series: Series, width: int, height: int, *, train_style: Style | str = "", valid_style: Style | str = "",
    muted_style: Style | str = "",
) -> Text:
    """The chart as text of `width` × `height` cells (fewer rows when there is little room).

    Args:
        series: `core.train.follow.metrics_series` output: metric name → [(step, value)].
        width: Cells across.
        height: Rows; 4 or more draws the loss plot, fewer shows only the legend lines.
    """
    train = series.get("train_loss") or []
    valid = series.get("valid_loss") or []
    acc = series.get("train_mean_token_accuracy") or []
    vacc = series.get("valid_mean_token_accuracy") or []
    out = Text(no_wrap=True, overflow="crop")
    if not train and not valid:
        out.append("no metrics yet: the loss chart fills in while the job runs", style=muted_style)
        return out
    steps = [s for s, _ in train + valid + acc]
    lo_step, hi_step = min(steps), max(steps)
    plot_w = max(4, width - AXIS)
    legend = 2 + (1 if acc else 0)
    plot_h = height - legend
    lines: list[Text] = []
    if plot_h >= 2:
        values = [v for _, v in train + valid]
        lo, hi = min(values), max(values)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        dots_h = plot_h * 4
        cells = [[0] * plot_w for _ in range(plot_h)]
        marks: set[tuple[int, int]] = set()

        def dot_row(value: float) -> int:
            return min(dots_h - 1, max(0, int(round((hi - value) / (hi - lo) * (dots_h - 1)))))

        column_values = _buckets(train, lo_step, hi_step, plot_w * 2)
        previous: int | None = None
        for x, value in enumerate(column_values):
            if value is None:
                continue
            y = dot_row(value)
            top, bottom = (y, y) if previous is None else (min(y, previous), max(y, previous))
            for yy in range(top, bottom + 1):  # join the points so the line reads as one stroke
                cells[yy // 4][x // 2] |= _DOTS[yy % 4][x % 2]
            previous = y
        for x, value in enumerate(_buckets(valid, lo_step, hi_step, plot_w)):
            if value is not None:
                marks.add((dot_row(value) // 4, x))
        for row in range(plot_h):
            label = _fmt(hi) if row == 0 else _fmt(lo) if row == plot_h - 1 else ""
            line = Text(f"{label:>{AXIS - 1}}" + ("┤" if label else "│"), style=muted_style)
            for col in range(plot_w):
                if (row, col) in marks:
                    line.append(VALID_MARK, style=valid_style)
                elif cells[row][col]:
                    line.append(chr(0x2800 + cells[row][col]), style=train_style)
                else:
                    line.append(" ")
            lines.append(line)
        left, right = f"step {lo_step}", f"{hi_step}"
        lines.append(Text(" " * AXIS + left + " " * max(1, plot_w - len(left) - len(right)) + right, style=muted_style))
    legend_line = Text()
    if train:
        legend_line.append("⣀ train loss ", style=train_style)
        legend_line.append(_fmt(train[-1][1]))
    if valid:
        legend_line.append("  " if train else "")
        legend_line.append(f"{VALID_MARK} valid loss ", style=valid_style)
        legend_line.append(_fmt(valid[-1][1]))
    lines.append(legend_line)
    if acc:
        text = f"{acc[-1][1]:.1%}" + (f" · valid {vacc[-1][1]:.1%}" if vacc else "")
        room = max(4, width - len("token acc ") - len(text) - 1)
        acc_line = Text("token acc ", style=muted_style)
        acc_line.append(sparkline(_buckets(acc, lo_step, hi_step, min(room, plot_w))), style=train_style)
        acc_line.append(" " + text)
        lines.append(acc_line)
    return Text("\n", no_wrap=True, overflow="crop").join(lines[-height:] if height > 0 else lines)


class LossChart(Widget):
    """Train/validation loss and token accuracy of one job, redrawn on `set_series` and on resize."""

    COMPONENT_CLASSES = {"loss-chart--train", "loss-chart--valid", "loss-chart--muted"}
    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 3; }
    LossChart > .loss-chart--train { color: $primary-lighten-2; }
    LossChart > .loss-chart--valid { color: $warning; text-style: bold; }
    LossChart > .loss-chart--muted { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._series: Series = {}

    def set_series(self, series: Series) -> None:
        self._series = series
        self.refresh()

    @property
    def series(self) -> Series:
        return self._series

    def render(self) -> Text:
        size = self.content_size
        return render_chart(
            self._series, size.width, size.height,
            train_style=self.get_component_rich_style("loss-chart--train"),
            valid_style=self.get_component_rich_style("loss-chart--valid"),
            muted_style=self.get_component_rich_style("loss-chart--muted"),
        )
