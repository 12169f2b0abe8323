"""The selected job's details: status timeline and facts beside the loss chart, the event log, and
the checkpoints table, in three tabs."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import DataTable, RichLog, Static, TabbedContent, TabPane

from distill_tui.core.store.jobs import JobRecord
from distill_tui.core.train.backend import TERMINAL
from distill_tui.core.train.follow import estimated_finish, job_cost, metrics_series
from distill_tui.tui.widgets.job_list import tail_cut
from distill_tui.tui.widgets.loss_chart import LossChart

STEPS = ("validating_files", "queued", "running")
CHECKPOINT_WIDTH = 34


def clock(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "--:--:--"


def duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def money(value: float | None) -> str:
    if value is None:
        return "price unknown"
    return f"${value:.4f}" if value < 0.01 else f"${value:,.2f}"


def timeline_text(record: JobRecord) -> Text:
    """validating_files (not for a local job) → queued → running → end, each with the time it was first seen."""
    seen: dict[str, float] = {}
    for status, when in (record.data or {}).get("timeline") or []:
        seen.setdefault(status, when)
    end = record.status if record.status in TERMINAL else "succeeded"
    steps = STEPS[1:] if record.backend == "local" else STEPS  # the local trainer validates no files first
    order = (*steps, "paused", end) if record.status == "paused" else (*steps, end)
    current = order.index(record.status) if record.status in order else -1
    text = Text(no_wrap=True, overflow="ellipsis")
    previous: float | None = None
    for index, status in enumerate(order):
        when = seen.get(status)
        # Steps passed while nobody watched have no time; a job that failed early never reached later ones.
        passed = when is not None or (index < current and record.status not in ("failed", "cancelled"))
        if status == "failed":
            mark, style = "✗", "bold red"
        elif status == "cancelled":
            mark, style = "■", "bold yellow"
        elif status == "paused":
            mark, style = "‖", "bold yellow"
        elif index == current and status not in TERMINAL:
            mark, style = "▶", "bold"
        elif passed or index == current:
            mark, style = "✓", "green"
        else:
            mark, style = "·", "dim"
        text.append(f"{mark} {status:<17}", style=style)
        if when is not None:
            text.append(clock(when))
            if previous is not None:
                text.append("  ")
                text.append(f"+{duration(when - previous)}", style="dim")
            previous = when
        text.append("\n")
    return text


def _rate(value: Any) -> str:
    """A learning rate as practitioners write it, 2e-4 (not 0.0002): the line fits the pane's 39 cells."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        return str(value)
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def model_text(record: JobRecord) -> Text:
    """Base model → fine-tuned model, in full: the name is copied from here, so it wraps, never cut."""
    text = Text(overflow="fold")
    text.append(f"{record.base_model} → ", style="dim")
    text.append(record.fine_tuned_model or "(no fine-tuned model yet)", style="bold" if record.fine_tuned_model else "dim")
    return text


def summary_text(record: JobRecord, events: list[dict[str, Any]], checkpoints: list[dict[str, Any]] | None = None,
                 now: float | None = None) -> Text:
    """The facts: id, timeline, tokens, cost, estimated finish, hyperparameters, checkpoints, local file, last event."""
    data = record.data or {}
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{record.id}\n", style="bold")
    text.append_text(timeline_text(record))
    tokens = f"{record.trained_tokens:,}" if record.trained_tokens is not None else "-"
    text.append(f"trained tokens {tokens}\n")
    cost = job_cost(record)
    estimated = data.get("estimated_cost_usd")
    note = data.get("cost_note") if record.backend == "local" else None
    if note and cost is None:  # a run on the CPU, or no known price of a GPU-hour
        text.append(f"cost - ({note})\n")
    else:
        text.append(f"cost {money(cost) if cost is not None or record.trained_tokens is not None else '-'} ")
        text.append(f" ({note})\n" if note else f" (est. {money(estimated)})\n" if estimated is not None else "\n",
                    style="dim")
    finish = estimated_finish(record, events, now)
    if record.status not in TERMINAL:
        text.append(f"finish ≈ {clock(finish) if finish else 'unknown'}\n")
    hyper = data.get("hyperparameters") or {}
    if hyper and "method" in hyper:  # the local trainer
        lora = f" r{hyper.get('lora_r')}" if hyper.get("method") in ("lora", "qlora") else ""
        text.append(f"{hyper['method']}{lora} · epochs {hyper.get('epochs', '?')} · batch {hyper.get('batch_size', '?')}"
                    f" · lr {_rate(hyper.get('learning_rate', '?'))}\n", style="dim")
        if data.get("gpu_hours") is not None:
            hours = (f"{data['gpu_hours']:.3g} GPU-hours" if data.get("gpus")
                     else f"{data.get('wall_hours') or 0:.3g} h on {data.get('device') or 'cpu'} (0 GPU-hours)")
            text.append(f"{hours}\n", style="dim")
    elif hyper:
        text.append(
            f"epochs {hyper.get('n_epochs', '?')} · batch {hyper.get('batch_size', '?')} · "
            f"lr × {hyper.get('learning_rate_multiplier', '?')}\n", style="dim",
        )
    if checkpoints:
        scored = [c for c in checkpoints if isinstance((c.get("metrics") or {}).get("valid_loss"), (int, float))]
        best = min(scored, key=lambda c: c["metrics"]["valid_loss"]) if scored else None
        text.append(f"checkpoints {len(checkpoints)} ")
        text.append(f"· best valid loss {best['metrics']['valid_loss']:.3f} at step {best.get('step')}\n" if best else "\n",
                    style="dim")
    if record.error:
        text.append(f"error: {record.error}\n", style="bold red")
    if record.local_training_path:
        text.append(f"file {record.local_training_path}\n", style="dim")
    messages = [e for e in events if e.get("message")]
    if messages:
        text.append(f"last: {messages[-1]['message']}", style="dim")
    return text


def event_line(event: dict[str, Any]) -> str:
    level = (event.get("level") or "info")[:4]
    return f"{clock(event.get('created_at'))} {level:<4} {event.get('message') or event.get('type') or ''}"


class EventLog(RichLog):
    """The event lines, wrapped to the width (a model name in an event is copied from here, so it is
    never cut); written again at a new width."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, auto_scroll=True)
        self.texts: list[str] = []
        self._wrapped_at = 0

    def add_lines(self, lines: list[str]) -> None:
        """Append lines (one write: a job's history can be over a thousand events)."""
        if lines:
            self.texts.extend(lines)
            self.write(Text("\n".join(lines)))

    def clear_lines(self) -> None:
        self.texts = []
        self.clear()

    def on_resize(self, event: Resize) -> None:
        width = event.size.width
        if self._wrapped_at and width and width != self._wrapped_at and self.texts:
            self.clear()
            self.write(Text("\n".join(self.texts)))
        self._wrapped_at = width or self._wrapped_at


def _metric(metrics: dict[str, Any] | None, key: str, percent: bool = False) -> str:
    value = (metrics or {}).get(key)
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.1%}" if percent else f"{value:.4f}"


class JobDetails(Vertical):
    """Everything about one job; `show` redraws from the store's data."""

    DEFAULT_CSS = """
    JobDetails { height: 1fr; }
    JobDetails TabbedContent { height: 1fr; }
    JobDetails TabPane { padding: 0; }
    JobDetails #job-overview { height: 1fr; }
    JobDetails #job-model { height: auto; width: 1fr; }
    JobDetails #job-summary { width: 40; height: 1fr; padding: 0 1 0 0; text-wrap: nowrap; text-overflow: ellipsis; }
    JobDetails #job-chart { width: 1fr; }
    JobDetails #job-events { height: 1fr; }
    JobDetails #job-checkpoints { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._job_id: str | None = None
        self._events_shown = 0
        self._checkpoints_shown: tuple = ()

    def compose(self) -> ComposeResult:
        with TabbedContent(id="job-tabs"):
            with TabPane("Overview", id="tab-overview"):
                yield Static("", id="job-model")
                with Horizontal(id="job-overview"):
                    yield Static("No job selected. Press n to create one, a to attach one.", id="job-summary")
                    yield LossChart(id="job-chart")
            with TabPane("Events", id="tab-events"):
                yield EventLog(id="job-events")
            with TabPane("Checkpoints", id="tab-checkpoints"):
                yield DataTable(id="job-checkpoints", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#job-checkpoints", DataTable)
        for name, width in (("step", 6), ("checkpoint model", CHECKPOINT_WIDTH), ("train loss", 10), ("valid loss", 10), ("acc", 6)):
            table.add_column(name, width=width, key=name)

    def clear(self, message: str) -> None:
        """No job to show: `message` in full across the pane, no summary or chart."""
        self._job_id = None
        self._events_shown = 0
        self.query_one("#job-model", Static).update(Text(message))
        self.query_one("#job-overview").display = False
        self.query_one("#job-summary", Static).update("")
        self.query_one("#job-chart", LossChart).set_series({})
        self.query_one("#job-events", EventLog).clear_lines()
        self.query_one("#job-checkpoints", DataTable).clear()
        self._checkpoints_shown = ()

    def show(self, record: JobRecord, events: list[dict[str, Any]], checkpoints: list[dict[str, Any]],
             now: float | None = None) -> None:
        """Draw a job; the event log only appends when the same job gains events."""
        log = self.query_one("#job-events", EventLog)
        if record.id != self._job_id or len(events) < self._events_shown:
            log.clear_lines()
            self._events_shown = 0
            self._job_id = record.id
        if len(events) > self._events_shown:
            log.add_lines([event_line(e) for e in events[self._events_shown:]])
            self._events_shown = len(events)
        self.query_one("#job-overview").display = True
        self.query_one("#job-model", Static).update(model_text(record))
        self.query_one("#job-summary", Static).update(summary_text(record, events, checkpoints, now))
        self.query_one("#job-chart", LossChart).set_series(metrics_series(events))
        shown = (record.id, *(c.get("checkpoint_id") or c.get("id") for c in checkpoints))
        if shown == self._checkpoints_shown:
            return
        self._checkpoints_shown = shown
        table = self.query_one("#job-checkpoints", DataTable)
        table.clear()
        for ckpt in checkpoints:
            metrics = ckpt.get("metrics")
            table.add_row(
                str(ckpt.get("step") or "-"),
                Text(tail_cut(ckpt.get("model_name") or ckpt.get("checkpoint_id") or "-", CHECKPOINT_WIDTH),
                     overflow="ellipsis"),
                _metric(metrics, "train_loss"), _metric(metrics, "valid_loss"),
                _metric(metrics, "train_mean_token_accuracy", percent=True),
            )
