"""The `[dataset] filter` language: a small closed expression language over columns.

A spec is a file people share, so its filter must never reach Python: pandas' own `query`/`eval`
resolve `@locals` and attribute/method calls, which lets a crafted filter run any command. Here the
text is parsed with `ast` (mode="eval"), every node is checked against a whitelist, and the tree is
evaluated vectorised over the DataFrame by this module alone. What the language has:

- columns by name, or in backticks when the name is not an identifier: `` `wine type` == 'red' ``
- numbers, 'text' / "text", True, False
- comparisons `== != < <= > >=` (chained too: `80 <= points < 90`)
- `and or not`, and the same as `& | ~` (`&`/`|` bind like `and`/`or`, as in pandas' query)
- arithmetic `+ - * / // % **` on numbers
- `col in ['a', 'b']`, `col not in [1, 2]`
- `isna(col)`, `notna(col)`, `contains(col, 'text')`, `startswith(col, 'text')`,
  `endswith(col, 'text')`, `lower(col)`

Anything else (attributes, `@`, subscripts, lambdas, comprehensions, f-strings, `:=`, other calls,
dunder names) is refused with one line naming it.
"""

from __future__ import annotations

import ast
import difflib
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from distill_tui.core.common.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

ALLOWED = ("columns (`name with spaces` in backticks), numbers, 'text', True/False; == != < <= > >=; "
           "and or not (& | ~); + - * / // % **; col in [...], col not in [...]; isna(col), notna(col), "
           "contains(col, 'text'), startswith(col, 'text'), endswith(col, 'text'), lower(col)")
EXAMPLE = "country == 'France' and points >= 90"
MAX_LENGTH = 1000
MAX_DEPTH = 40

_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
          ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_FUNCTIONS = {"isna": 1, "notna": 1, "lower": 1, "contains": 2, "startswith": 2, "endswith": 2}
_REFUSED = {
    ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambda",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.JoinedStr: "f-strings", ast.FormattedValue: "f-strings",
    ast.NamedExpr: "assignment (:=)", ast.IfExp: "if/else expressions", ast.Starred: "* unpacking",
    ast.Dict: "dicts", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slices",
}


class FilterError(SpecError):
    """A filter that is not in the language or does not fit the data (one line, exit 2)."""


@dataclass(frozen=True)
class Filter:
    """A checked filter: its text, its tree, and the columns its backtick names stand for."""

    text: str
    tree: ast.Expression
    backticks: dict[str, str]

    def columns(self) -> list[str]:
        """The column names the filter refers to (backticked or bare)."""
        called = {id(n.func) for n in ast.walk(self.tree) if isinstance(n, ast.Call)}
        names = {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name) and id(n) not in called}
        return sorted(self.backticks.get(n, n) for n in names)


def _prefix(where: str, text: str) -> str:
    shown = text if len(text) <= 60 else text[:57] + "…"
    return f"{where}: [dataset] filter {shown!r}"


def _substitute_backticks(text: str, fail) -> tuple[str, dict[str, str]]:
    """Replace `quoted names` by identifiers no one can type (their prefix is absent from the text),
    `&`/`|` by `and`/`or`, and refuse `@` (pandas' local variables), all outside quotes.

    `&` and `|` become `and`/`or` as in pandas' query, so `a == 1 & b == 2` keeps meaning
    `(a == 1) and (b == 2)` instead of Python's `a == (1 & b) == 2`.
    """
    tag = "bt"
    while tag in text:
        tag += "x"
    out: list[str] = []
    names: dict[str, str] = {}
    quote: str | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            out.append(char)
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char in "&|":
            out.append(" and " if char == "&" else " or ")
        elif char == "@":
            fail(f"'@' (local variables) at column {i + 1} is not allowed; allowed: {ALLOWED}")
        elif char == "`":
            end = text.find("`", i + 1)
            if end < 0:
                fail(f"the backtick at column {i + 1} is not closed")
            name = text[i + 1:end]
            if not name:
                fail(f"empty backticks at column {i + 1}")
            ident = f"{tag}{len(names)}_"
            names[ident] = name
            out.append(f" {ident} ")
            i = end
        else:
            out.append(char)
        i += 1
    return "".join(out), names


def parse(text: str, where: str) -> Filter:
    """Check a filter against the language without any data.

    Raises:
        FilterError: naming what is not allowed and where (the spec and `[dataset] filter`).
    """
    def fail(detail: str):
        raise FilterError(f"{_prefix(where, text)}: {detail}")

    if len(text) > MAX_LENGTH:
        fail(f"is {len(text):,} characters long; a filter takes {MAX_LENGTH:,} at most")
    source, backticks = _substitute_backticks(text, fail)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        lead = len(source) - len(source.lstrip())
        where_in = f" at column {exc.offset + lead}" if exc.offset and not backticks else ""
        fail(f"not a valid expression ({exc.msg}{where_in}); e.g. {EXAMPLE}")
    except (RecursionError, MemoryError, ValueError):
        fail("is nested too deeply or not a valid expression")
    filt = Filter(text, tree, backticks)
    _check(tree.body, filt, fail, 1)
    return filt


def _shown(node: ast.AST, filt: Filter) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - only for the message
        return type(node).__name__
    for ident, name in filt.backticks.items():
        text = text.replace(ident, f"`{name}`")
    return text if len(text) <= 50 else text[:47] + "…"


def _check(node: ast.AST, filt: Filter, fail, depth: int) -> None:
    if depth > MAX_DEPTH:
        fail(f"is nested more than {MAX_DEPTH} levels deep")
    refuse = _REFUSED.get(type(node))
    if refuse:
        fail(f"{refuse} ({_shown(node, filt)}) is not allowed{_method_hint(node, filt)}; allowed: {ALLOWED}")
    children: list[ast.AST]
    if isinstance(node, ast.BoolOp):
        children = node.values
    elif isinstance(node, ast.UnaryOp):
        children = [node.operand]
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            fail(f"the operator in ({_shown(node, filt)}) is not allowed; allowed: {ALLOWED}")
        children = [node.left, node.right]
    elif isinstance(node, ast.Compare):
        children = [node.left]
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                _check_list(right, filt, fail)
            elif type(op) in _COMPARE:
                children.append(right)
            else:
                fail(f"'is'/'is not' ({_shown(node, filt)}) is not allowed (write isna(col) or notna(col))")
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS:
            hint = _method_hint(node.func, filt)
            fail(f"calling {_shown(node.func, filt)}() is not allowed{hint}; allowed: {ALLOWED}")
        if node.keywords or len(node.args) != _FUNCTIONS[name]:
            form = f"{name}(col, 'text')" if _FUNCTIONS[name] == 2 else f"{name}(col)"
            fail(f"{_shown(node, filt)}: write {form}")
        if len(node.args) == 2 and not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            fail(f"{_shown(node, filt)}: the second argument of {name}() must be 'text' in quotes")
        children = node.args[:1]
    elif isinstance(node, ast.Name):
        if node.id.startswith("__") and node.id not in filt.backticks:
            fail(f"the name {node.id} is not allowed (a column with such a name goes in backticks)")
        children = []
    elif isinstance(node, ast.Constant):
        if node.value is None:
            fail("None is not allowed (write isna(col) or notna(col))")
        if not isinstance(node.value, (bool, int, float, str)):
            fail(f"the value {_shown(node, filt)} is not allowed; allowed: {ALLOWED}")
        children = []
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        fail(f"a list ({_shown(node, filt)}) goes only after 'in' or 'not in'")
    else:
        fail(f"{type(node).__name__} ({_shown(node, filt)}) is not allowed; allowed: {ALLOWED}")
    for child in children:
        _check(child, filt, fail, depth + 1)


def _method_hint(node: ast.AST, filt: Filter) -> str:
    """For pandas habits like `price.isna()`: the form this language has instead."""
    if not isinstance(node, ast.Attribute):
        return ""
    if node.attr in ("isna", "notna", "isnull", "notnull"):
        return f" (write {'isna' if node.attr in ('isna', 'isnull') else 'notna'}({_shown(node.value, filt)}))"
    if node.attr in ("contains", "startswith", "endswith", "lower"):
        args = "column" if node.attr == "lower" else "column, 'text'"
        return f" (write {node.attr}({args}))"
    return ""


def _check_list(node: ast.AST, filt: Filter, fail) -> None:
    if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        fail(f"'in' takes a list of values, e.g. country in ['France', 'Italy'], not {_shown(node, filt)}")
    for item in node.elts:
        if _literal(item) is _NOT_LITERAL:
            fail(f"the list after 'in' holds only numbers and 'text', not {_shown(item, filt)}")


_NOT_LITERAL = object()


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float, str)):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    return _NOT_LITERAL


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
            raise FilterError(f"{_prefix(where, text)}: no column '{name}' ({hint}columns: {shown})")
    evaluator = _Evaluator(frame, filt, where)
    mask = evaluator.mask(filt.tree.body, "the filter")
    if not evaluator.is_series(mask):
        raise FilterError(f"{_prefix(where, text)} must give true/false per row: compare a column, e.g. {EXAMPLE}")
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
        raise FilterError(f"{_prefix(self.where, self.filt.text)}: {detail}")

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
        return f"{_shown(node, self.filt)} ({kind})"

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
        self.fail(f"{_shown(node, self.filt)} is not allowed")  # unreachable after parse()

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
                return _ARITH[type(node.op)](left, right)
        except ZeroDivisionError:
            self.fail(f"{_shown(node, self.filt)} divides by zero")
        except OverflowError:
            self.fail(f"{_shown(node, self.filt)} is too large a number")
        except (ValueError, TypeError) as exc:
            self.fail(f"cannot compute {_shown(node, self.filt)} ({' '.join(str(exc).split())[:80]})")

    def compare(self, node: ast.Compare) -> Any:
        result: Any = True
        left_node, left = node.left, self.value(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                values = [_literal(item) for item in right_node.elts]
                hit = left.isin(values) if self.is_series(left) else left in values
                step = hit if isinstance(op, ast.In) else ((not hit) if isinstance(hit, bool) else ~hit)
            else:
                right = self.value(right_node)
                try:
                    step = _COMPARE[type(op)](left, right)
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
