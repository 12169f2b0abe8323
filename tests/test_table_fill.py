"""fill_table sizes columns before the first frame: no idle handler has to run for a cell to be whole."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from distill_tui.tui.widgets.table_fill import cell_width, fill_table


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield DataTable()


def test_cell_width_counts_wide_characters_and_lines() -> None:
    assert cell_width("Rhône") == 5
    assert cell_width(Text("日本")) == 4
    assert cell_width("ab\nabcd") == 4


async def test_columns_are_sized_before_any_idle_handler_runs() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(DataTable)
        fill_table(table, [("m", "model"), ("n", Text("n", justify="right"))],
                   [("a", ["offline-teacher", "32"]), ("b", [Text("ft:offline-student:x"), "1200"])])
        # Checked synchronously: DataTable's own measuring waits for its idle handler.
        widths = [c.get_render_width(table) - 2 * table.cell_padding for c in table.ordered_columns]
        assert widths == [len("ft:offline-student:x"), len("1200")]
        # Refilling with shorter content shrinks the columns again.
        fill_table(table, [("m", "model"), ("n", "n")], [("a", ["gpt", "1"])])
        await pilot.pause()
        assert [c.get_render_width(table) - 2 * table.cell_padding for c in table.ordered_columns] == [5, 1]
        assert table.row_count == 1 and str(table.get_row("a")[0]) == "gpt"
