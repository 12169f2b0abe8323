"""The `[dataset] filter` language: a small closed expression language over columns.

A filter is parsed and checked against a whitelist by `filter_syntax` (never handed to pandas'
`query`/`eval`, which can run code), then evaluated here, vectorised over the DataFrame. The language
itself is described in `filter_syntax`.
"""

from __future__ import annotations

import ast
import difflib
import operator
from typing import TYPE_CHECKING, Any

from distill_tui.core.task.filter_syntax import (
    ALLOWED,
    ARITH,
    COMPARE,
    EXAMPLE,
    Filter,
    FilterError,
    error_prefix,
    literal,
    node_text,
    parse,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ALLOWED", "EXAMPLE", "Filter", "FilterError", "apply", "parse"]


def apply(frame: "pd.DataFrame", text: str, where: str) -> "pd.DataFrame":
    """Keep the rows of `frame` the filter selects (missing values never match).

    Raises:
        FilterError: the filter is not in the language, names no column, or mixes types.
    """
    filt = parse(text, where)
    columns = [str(c) for c in frame.columns if not str(c).startswith("_")]
    for name in filt.columns():
        if name not in frame.columns:
            close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            shown = ", ".join(columns)
            if len(shown) > 200:
                shown = shown[:200] + "…"
            raise FilterError(f"{error_prefix(where, text)}: no column '{name}' ({hint}columns: {shown})")
    evaluator = _Evaluator(frame, filt, where)
    mask = evaluator.mask(filt.tree.body, "the filter")
    if not evaluator.is_series(mask):
        raise FilterError(f"{error_prefix(where, text)} must give true/false per row: compare a column, e.g. {EXAMPLE}")
    return frame[mask]


class _Evaluator:
    """Evaluates a checked tree over a DataFrame; every value is a Series or a Python scalar."""

    def __init__(self, frame: "pd.DataFrame", filt: Filter, where: str) -> None:
        import pandas as pd

        self.pd = pd
        self.frame = frame
        self.filt = filt
        self.where = where

    def fail(self, detail: str):
        raise FilterError(f"{error_prefix(self.where, self.filt.text)}: {detail}")

    def is_series(self, value: Any) -> bool:
        return isinstance(value, self.pd.Series)

    def describe(self, node: ast.AST, value: Any) -> str:
        """`points (numbers)`, `country (text)`, `5 (a number)` for the error lines."""
        types = self.pd.api.types
        if self.is_series(value):
            if types.is_bool_dtype(value.dtype):
                kind = "true/false"
            elif types.is_numeric_dtype(value.dtype):
                kind = "numbers"
            elif types.is_string_dtype(value.dtype) or types.is_object_dtype(value.dtype):
                kind = "text"
            else:
                kind = str(value.dtype)
        else:
            kinds = {bool: "true/false", str: "text", int: "a number", float: "a number"}
            kind = kinds.get(type(value), type(value).__name__)
        return f"{node_text(node, self.filt)} ({kind})"

    def mask(self, node: ast.AST, role: str) -> Any:
        """A value used as true/false: a boolean Series (missing is False) or a bool."""
        value = self.value(node)
        if isinstance(value, bool):
            return value
        if self.is_series(value) and self.pd.api.types.is_bool_dtype(value.dtype):
            return value.fillna(False).astype(bool)
        self.fail(f"{role} needs true/false, not {self.describe(node, value)}")

    def value(self, node: ast.AST) -> Any:
        pd = self.pd
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.frame[self.filt.backticks.get(node.id, node.id)]
        if isinstance(node, ast.BoolOp):
            masks = [self.mask(v, "'and'/'or'") for v in node.values]
            combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
            result = masks[0]
            for other in masks[1:]:
                result = combine(result, other)
            return result
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, (ast.Not, ast.Invert)):
                inner = self.mask(node.operand, "'not'/'~'")
                return (not inner) if isinstance(inner, bool) else ~inner
            operand = self.number(node.operand)
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BinOp):
            return self.arith(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        self.fail(f"{node_text(node, self.filt)} is not allowed")  # unreachable after parse()

    def number(self, node: ast.AST) -> Any:
        value = self.value(node)
        pd = self.pd
        if isinstance(value, (int, float)) or (self.is_series(value) and pd.api.types.is_numeric_dtype(value.dtype)):
            return value
        self.fail(f"arithmetic needs numbers, not {self.describe(node, value)}")

    def arith(self, node: ast.BinOp) -> Any:
        import numpy as np

        left, right = self.number(node.left), self.number(node.right)
        if isinstance(node.op, ast.Pow) and not self.is_series(left) and not self.is_series(right):
            left = float(left)  # float powers overflow at once; Python integers would grow for ever (10**10**10)
        try:
            with np.errstate(all="ignore"):
                return ARITH[type(node.op)](left, right)
        except ZeroDivisionError:
            self.fail(f"{node_text(node, self.filt)} divides by zero")
        except OverflowError:
            self.fail(f"{node_text(node, self.filt)} is too large a number")
        except (ValueError, TypeError) as exc:
            self.fail(f"cannot compute {node_text(node, self.filt)} ({' '.join(str(exc).split())[:80]})")

    def compare(self, node: ast.Compare) -> Any:
        result: Any = True
        left_node, left = node.left, self.value(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                values = [literal(item) for item in right_node.elts]
                hit = left.isin(values) if self.is_series(left) else left in values
                step = hit if isinstance(op, ast.In) else ((not hit) if isinstance(hit, bool) else ~hit)
            else:
                right = self.value(right_node)
                try:
                    step = COMPARE[type(op)](left, right)
                except (TypeError, ValueError):
                    self.fail(f"cannot compare {self.describe(left_node, left)} with "
                              f"{self.describe(right_node, right)}")
                left_node, left = right_node, right
            if self.is_series(step) and not self.pd.api.types.is_bool_dtype(step.dtype):
                step = step.astype(bool)
            result = step if result is True else (result & step)
        if self.is_series(result):
            return result.fillna(False).astype(bool)
        return bool(result)

    def call(self, node: ast.Call) -> Any:
        name = node.func.id
        arg = self.value(node.args[0])
        if name in ("isna", "notna"):
            if self.is_series(arg):
                return arg.isna() if name == "isna" else arg.notna()
            return False if name == "isna" else True
        if not self.is_series(arg):
            self.fail(f"{name}() takes a column, not {self.describe(node.args[0], arg)}")
        if self.pd.api.types.is_numeric_dtype(arg.dtype) or self.pd.api.types.is_bool_dtype(arg.dtype):
            self.fail(f"{name}() needs a text column, not {self.describe(node.args[0], arg)}")
        try:
            text = arg.str
        except AttributeError:
            self.fail(f"{name}() needs a text column, not {self.describe(node.args[0], arg)}")
        if name == "lower":
            return text.lower()
        needle = node.args[1].value
        if name == "contains":
            return text.contains(needle, regex=False, na=False).astype(bool)
        return getattr(text, name)(needle, na=False).astype(bool)
