from distill_tui.core.common.text_table import aligned, column_widths


def test_columns_fit_their_widest_cell_and_lines_end_without_spaces():
    rows = [["id", "status", "cost"], ["ftjob-1", "ok", "$0.14"], ["x", "succeeded", "-"]]
    assert column_widths(rows) == [7, 9, 5]
    assert aligned(rows, right={2}) == ["id       status      cost", "ftjob-1  ok         $0.14",
                                        "x        succeeded      -"]
    assert aligned([["a", ""], ["bb", ""]]) == ["a", "bb"]
    assert aligned([]) == [] and column_widths([]) == []
