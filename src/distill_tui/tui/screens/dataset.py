"""The Dataset screen: every filtered row in a virtualized table, the column summary, the label
distribution, and the rendered prompt with its token count for the highlighted row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static, TabbedContent, TabPane

from distill_tui.core.common.errors import UserError
from distill_tui.core.task.filter_language import ALLOWED, EXAMPLE, FilterError
from distill_tui.tui.screens.base import BaseScreen
from distill_tui.tui.widgets.arrow_table import MeasuredArrowBackend
from distill_tui.tui.widgets.label_bars import label_bars, reference_summary

SHOWN_TEXT_WIDTH = 48
FIELD_IDS = ("f-filter", "f-label", "f-sample", "f-seed")


@dataclass
class DataReady(Message):
    """The prepared dataset and its Arrow table, built in a worker."""

    data: Any
    table: Any
    columns: list[Any]


@dataclass
class DataFailed(Message):
    error: str
    edited: bool = False
    in_filter: bool = False  # the filter expression itself was refused: its text stays in the field to fix


@dataclass
class PromptReady(Message):
    row: int
    text: Text


class DatasetScreen(BaseScreen):
    """Preview the task's rows and edit the dataset keys of the spec in place."""

    TITLE = "Dataset"
    MODE = "dataset"
    AUTO_FOCUS = ""  # the table takes focus once the rows are loaded
    HELP = f"""
The rows of the task after the spec's filter, label pruning and sampling, with the split each row
belongs to (`train` rows are answered by the teacher; `eval` rows are held out for the comparison).
Edit **filter**, **label** (the **reference** column for extraction and generation), **sample** and
**seed** in the fields on top and press Enter to apply (Esc in a field puts back what is applied);
**Ctrl+S** writes the changes back to the spec file. The panel at the bottom shows the prompt the
highlighted row renders to (exactly what is sent) with its token count, the column summary and the
label distribution (for free text and JSON: the references, how many rows have one and their length).

The filter is an expression over the columns, not Python: {ALLOWED}. For example
`country in ['France', 'Italy'] and points >= 90` or `contains(lower(description), 'oak')`.
"""
    BINDINGS = [
        Binding("f", "focus_field('filter')", "Filter"),
        Binding("t", "focus_table", "Table"),
        Binding("p", "tab('prompt')", "Prompt", show=False),
        Binding("o", "tab('columns')", "Columns", show=False),
        Binding("l", "tab('labels')", "Labels", show=False),
        Binding("ctrl+s", "save_spec", "Save spec"),
        Binding("escape", "focus_table", "Back to table", show=False),
    ]
    DEFAULT_CSS = """
    DatasetScreen #fields { height: 1; margin: 0 0; }
    DatasetScreen #fields Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    DatasetScreen #fields Input { border: none; height: 1; padding: 0; background: $boost; margin-right: 1; }
    DatasetScreen #fields Input:focus { background: $accent 30%; }
    DatasetScreen #f-filter { width: 1fr; }
    DatasetScreen #f-label { width: 12; }
    DatasetScreen #f-sample { width: 7; }
    DatasetScreen #f-seed { width: 6; }
    DatasetScreen #status { height: auto; max-height: 2; color: $text-muted; }
    DatasetScreen ContentTabs { height: 1; }
    DatasetScreen Tabs #tabs-list { min-height: 1; }
    DatasetScreen Tab { padding: 0 1; height: 1; }
    DatasetScreen Underline { display: none; }
    DatasetScreen #status.error { color: $error; max-height: 6; }
    DatasetScreen #fields Input.-rejected { background: $error 30%; }
    DatasetScreen #table-box { height: 1fr; }
    DatasetScreen #table-box DataTable { height: 1fr; }
    DatasetScreen TabbedContent { height: 9; }
    DatasetScreen TabPane { padding: 0; }
    DatasetScreen #loading { height: 1fr; content-align: center middle; color: $text-muted; }
    """

    @property
    def _free_text(self) -> bool:
        """Extraction and generation: the answer column holds references, not labels."""
        from distill_tui.core.task import kinds

        return self.workspace.spec.kind != kinds.CLASSIFICATION

    def _answer_column(self) -> str:
        ds = self.workspace.spec.dataset
        return (ds.reference or ds.label or "") if self._free_text else (ds.label or "")

    def compose_body(self) -> ComposeResult:
        ds = self.workspace.spec.dataset
        with Horizontal(id="fields"):
            yield Label("Filter")
            yield Input(ds.filter or "", placeholder=f"e.g. {EXAMPLE}", id="f-filter")
            yield Label("Reference" if self._free_text else "Label")
            yield Input(self._answer_column(), placeholder="none" if self._free_text else "", id="f-label")
            yield Label("Sample")
            yield Input("" if ds.sample is None else str(ds.sample), placeholder="all", id="f-sample")
            yield Label("Seed")
            yield Input(str(ds.seed), id="f-seed")
        yield Static("Loading…", id="status")
        with Vertical(id="table-box"):
            yield Static("Loading the dataset…", id="loading")
        with TabbedContent(initial="prompt"):
            with TabPane("Prompt", id="prompt"):
                with VerticalScroll():
                    yield Static("", id="prompt-text")
            with TabPane("Columns", id="columns"):
                with VerticalScroll():
                    yield Static("", id="columns-text")
            with TabPane("References" if self._free_text else "Labels", id="labels"):
                with VerticalScroll():
                    yield Static("", id="labels-text")

    def on_screen_resume(self) -> None:
        self.action_focus_table()

    def on_mount(self) -> None:
        self._data = None
        self._good_spec = None
        self.load()

    # loading -----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="dataset-load")
    def load(self, edited: bool = False) -> None:
        """Prepare the data and build the Arrow table off the UI thread."""
        import pyarrow as pa

        from distill_tui.core.task.dataset import ROW, SPLIT

        try:
            data = self.workspace.data
        except FilterError as exc:
            self.post_message(DataFailed(str(exc), edited, in_filter=True))
            return
        except UserError as exc:
            self.post_message(DataFailed(str(exc), edited))
            return
        except Exception as exc:  # noqa: BLE001 - pandas/numpy can raise anything on odd input: say it
            line = " ".join(str(exc).split())[:200] or type(exc).__name__
            self.post_message(DataFailed(f"cannot prepare the data: {line}", edited))
            return
        frame = data.frame
        label = [data.label_column] if data.label_column else []  # none: a task without references
        others = [c for c in frame.columns if c not in (ROW, SPLIT, *label)]
        shown = frame[[ROW, SPLIT, *label, *others]]
        table = pa.Table.from_pandas(shown, preserve_index=False)
        names = ["row", "split", *label, *others]
        table = table.rename_columns(names)
        backend = MeasuredArrowBackend(table, cap=SHOWN_TEXT_WIDTH)
        backend.measure_widths()
        self.post_message(DataReady(data, backend, names))

    @on(DataReady)
    async def show_data(self, message: DataReady) -> None:
        from textual_fastdatatable import DataTable

        self.query_one("#f-filter", Input).remove_class("-rejected")
        self._data = message.data
        self._good_spec = self.workspace.spec
        self.show_workspace_notes()
        box = self.query_one("#table-box")
        await box.remove_children()
        table = DataTable(
            backend=message.table,
            cursor_type="row",
            max_column_content_width=SHOWN_TEXT_WIDTH,
            render_markup=False,
            null_rep="·",
            id="rows",
        )
        await box.mount(table)
        table.focus()
        self._show_status()
        self._show_columns()
        self._show_labels()
        if len(message.data.frame):
            self.render_prompt(0)

    @on(DataFailed)
    async def show_failure(self, message: DataFailed) -> None:
        if message.edited and self._good_spec is not None:
            # Keep showing the last rows that worked, and the values that made them, so the fields
            # never show an edit that is not applied; the error line says what was wrong. A refused
            # filter is the exception: its text stays (marked) to be fixed, and Esc puts back the applied one.
            rejected = self.workspace.spec.dataset.filter or ""
            self.workspace.set_spec(self._good_spec)
            self._restore_fields()
            if message.in_filter:
                self._keep_rejected_filter(rejected, message.error)
                # Refused only once the rows were read (an unknown column): the table took the focus
                # when the edit was applied, and the line below says "fix it and press Enter".
                self.query_one("#f-filter", Input).focus()
            else:
                self._error(f"{message.error} · not applied: the fields show the values in use")
            return
        if message.in_filter:
            self.query_one("#f-filter", Input).add_class("-rejected")
        self._error(message.error)
        box = self.query_one("#table-box")
        await box.remove_children()
        await box.mount(Static(Text("Fix the spec or the fields above, then press Enter.", style="dim"), id="loading"))

    def _show_status(self) -> None:
        data = self._data
        status = self.query_one("#status", Static)
        status.remove_class("error")
        n_train = int((data.frame["_split"] == "train").sum())
        parts = [
            f"{len(data.frame):,} rows ({n_train:,} train / {len(data.frame) - n_train:,} eval)",
            f"{len(data.labels):,} label{'' if len(data.labels) == 1 else 's'}" if data.labels else f"{data.kind} task",
            f"{data.rows_in_file:,} in file",
        ]
        parts += data.notes()
        if self.spec_unsaved():
            parts.append("unsaved edits: Ctrl+S saves the spec")
        status.update(Text(" · ".join(parts)))

    def _show_columns(self) -> None:
        from rich.table import Table

        from distill_tui.core.task.dataset import summarize_columns

        frame = self._data.frame
        rows = []
        for col in summarize_columns(frame):
            unique = "—" if col.unique < 0 else f"{col.unique:,}"
            rows.append((Text(col.name), col.dtype, f"{col.non_null:,}/{len(frame):,}", unique, Text(col.example)))
        table = Table(box=None, pad_edge=False)
        for index, name in enumerate(("column", "type", "filled", "distinct", "example")):
            # Counts and types are never cut: when the pane is narrow the names and examples give way.
            fixed = index in (1, 2, 3)
            widest = max((len(str(row[index])) for row in rows), default=0)
            table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=40 if name == "example" else 24,
                             min_width=max(widest, len(name)) if fixed else None)
        for row in rows:
            table.add_row(*row)
        self.query_one("#columns-text", Static).update(table)

    def _show_labels(self) -> None:
        data = self._data
        if self._free_text:
            self.query_one("#labels-text", Static).update(reference_summary(data))
            return
        bars = label_bars(data.label_counts("train"), data.label_counts("eval"), titles=("train", "eval"))
        self.query_one("#labels-text", Static).update(bars)

    # the prompt of the highlighted row ---------------------------------------------------------
    def on_data_table_row_highlighted(self, message: Any) -> None:
        if getattr(message, "cursor_row", None) is not None and self._data is not None:
            self.render_prompt(message.cursor_row)

    @work(thread=True, exclusive=True, group="prompt")
    def render_prompt(self, position: int) -> None:
        from distill_tui.core.cost import tokens
        from distill_tui.core.task import requests

        ws = self.workspace
        data = self._data
        if data is None or position >= len(data.frame):
            return
        row = data.frame.iloc[position].to_dict()
        model = ws.spec.teacher.model
        body = requests.request_body(ws.spec, row, data.labels, model)
        count = tokens.count_chat(body["messages"], model, body.get("response_format"))
        text = Text()
        text.append(f"row {row['_row']} · {row['_split']} · {'reference' if self._free_text else 'gold'}: ",
                    style="dim")
        text.append(str(row[data.label_column]) if data.label_column else "— (the teacher's answer)", style="bold")
        text.append(f" · {count:,} prompt tokens for {model}", style="dim")
        if body.get("response_format"):
            text.append(" (incl. the answer schema)", style="dim")
        for message in body["messages"]:
            text.append(f"\n{message['role']}: ", style="bold cyan")
            text.append(message["content"])
        self.post_message(PromptReady(position, text))

    @on(PromptReady)
    def show_prompt(self, message: PromptReady) -> None:
        self.query_one("#prompt-text", Static).update(message.text)

    # editing the spec --------------------------------------------------------------------------
    @on(Input.Submitted)
    def apply_fields(self, event: Input.Submitted) -> None:
        """Apply all four fields together, so what they show is always what is applied."""
        from distill_tui.core.task.spec import parse_spec

        values: dict[str, Any] = {}
        for key in ("filter", "label", "sample", "seed"):
            raw = self.query_one(f"#f-{key}", Input).value.strip()
            if key == "label" and self._free_text:
                key = "reference"  # the field names the free-text task's reference column
            if key in ("sample", "seed"):
                if raw == "" and key == "sample":
                    values[key] = None
                    continue
                try:
                    values[key] = int(raw)
                except ValueError:
                    self._error(f"{key} must be a whole number, not {raw!r}")
                    return
            else:
                values[key] = raw or None
        spec = self.workspace.spec
        full = spec.to_toml_dict()
        if "reference" in values:
            full["dataset"].pop("label", None)  # another name for reference: the field's value is the one
        for key, value in values.items():
            if value is None:
                full["dataset"].pop(key, None)
            else:
                full["dataset"][key] = value
        try:
            new_spec = parse_spec(full, spec.source)
        except FilterError as exc:
            self._keep_rejected_filter(values["filter"] or "", str(exc))
            return
        except UserError as exc:
            self._error(str(exc))
            return
        if new_spec.dataset == spec.dataset:
            self.action_focus_table()
            return
        self.workspace.set_spec(new_spec)
        self.query_one("#status", Static).update("Applying…")
        self.load(edited=True)
        self.action_focus_table()

    def _restore_fields(self) -> None:
        """Show the applied values again (after an edit the data refused, or Esc in a field)."""
        ds = self.workspace.spec.dataset
        for key, value in (("filter", ds.filter or ""), ("label", self._answer_column()),
                           ("sample", "" if ds.sample is None else str(ds.sample)), ("seed", str(ds.seed))):
            self.query_one(f"#f-{key}", Input).value = value
        self.query_one("#f-filter", Input).remove_class("-rejected")

    def _keep_rejected_filter(self, text: str, error: str) -> None:
        """Leave a refused filter in its field, marked, for the user to fix rather than retype."""
        field = self.query_one("#f-filter", Input)
        field.value = text
        field.add_class("-rejected")
        # What to do comes first: a long error (every column, every allowed form) is cut at the
        # line's height, and the keys must not be what is cut.
        self._error(f"Filter not applied: fix it and press Enter, or Esc for the applied one · "
                    f"{self._without_path(error)}")

    def _without_path(self, error: str) -> str:
        # The title bar names the spec: its full path would only push the error's end out of sight.
        return error.removeprefix(f"{self.workspace.spec.source}: ")

    def _error(self, text: str) -> None:
        text = self._without_path(text)
        status = self.query_one("#status", Static)
        status.update(Text(text))
        status.add_class("error")

    def action_save_spec(self) -> None:
        if self.save_spec():
            if self._data is not None:
                self._show_status()

    # navigation --------------------------------------------------------------------------------
    def action_focus_field(self, name: str) -> None:
        self.query_one(f"#f-{name}", Input).focus()

    def action_focus_table(self) -> None:
        if isinstance(self.focused, Input) and self.focused.id in FIELD_IDS:
            self._restore_fields()  # Esc in a field: leave it showing what is applied
            if self._data is not None:
                self._show_status()
        tables = self.query("#rows")
        if tables:
            tables.first().focus()

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name
