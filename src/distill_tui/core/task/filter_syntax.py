"""The `[dataset] filter` language's syntax: parsing a filter and checking it against a whitelist.

A spec is a file people share, so its filter must never reach Python: pandas' own `query`/`eval`
resolve `@locals` and attribute/method calls, which lets a crafted filter run any command. Here the
text is parsed with `ast` (mode="eval"), every node is checked against a whitelist, and the tree is
evaluated vectorised over the DataFrame by `filter_language` alone. What the language has:

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
import operator
from dataclasses import dataclass
from typing import Any

from distill_tui.core.common.errors import SpecError

ALLOWED = ("columns (`name with spaces` in backticks), numbers, 'text', True/False; == != < <= > >=; "
           "and or not (& | ~); + - * / // % **; col in [...], col not in [...]; isna(col), notna(col), "
           "contains(col, 'text'), startswith(col, 'text'), endswith(col, 'text'), lower(col)")
EXAMPLE = "country == 'France' and points >= 90"
MAX_LENGTH = 1000
MAX_DEPTH = 40

COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge}
ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
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


def error_prefix(where: str, text: str) -> str:
    """The start of every error line: the spec and the filter, shortened."""
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
        raise FilterError(f"{error_prefix(where, text)}: {detail}")

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


def node_text(node: ast.AST, filt: Filter) -> str:
    """A part of the filter as the user wrote it (backticked names back), shortened, for error lines."""
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
        fail(f"{refuse} ({node_text(node, filt)}) is not allowed{_method_hint(node, filt)}; allowed: {ALLOWED}")
    children: list[ast.AST]
    if isinstance(node, ast.BoolOp):
        children = node.values
    elif isinstance(node, ast.UnaryOp):
        children = [node.operand]
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in ARITH:
            fail(f"the operator in ({node_text(node, filt)}) is not allowed; allowed: {ALLOWED}")
        children = [node.left, node.right]
    elif isinstance(node, ast.Compare):
        children = [node.left]
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                _check_list(right, filt, fail)
            elif type(op) in COMPARE:
                children.append(right)
            else:
                fail(f"'is'/'is not' ({node_text(node, filt)}) is not allowed (write isna(col) or notna(col))")
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS:
            hint = _method_hint(node.func, filt)
            fail(f"calling {node_text(node.func, filt)}() is not allowed{hint}; allowed: {ALLOWED}")
        if node.keywords or len(node.args) != _FUNCTIONS[name]:
            form = f"{name}(col, 'text')" if _FUNCTIONS[name] == 2 else f"{name}(col)"
            fail(f"{node_text(node, filt)}: write {form}")
        if len(node.args) == 2 and not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            fail(f"{node_text(node, filt)}: the second argument of {name}() must be 'text' in quotes")
        children = node.args[:1]
    elif isinstance(node, ast.Name):
        if node.id.startswith("__") and node.id not in filt.backticks:
            fail(f"the name {node.id} is not allowed (a column with such a name goes in backticks)")
        children = []
    elif isinstance(node, ast.Constant):
        if node.value is None:
            fail("None is not allowed (write isna(col) or notna(col))")
        if not isinstance(node.value, (bool, int, float, str)):
            fail(f"the value {node_text(node, filt)} is not allowed; allowed: {ALLOWED}")
        children = []
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        fail(f"a list ({node_text(node, filt)}) goes only after 'in' or 'not in'")
    else:
        fail(f"{type(node).__name__} ({node_text(node, filt)}) is not allowed; allowed: {ALLOWED}")
    for child in children:
        _check(child, filt, fail, depth + 1)


def _method_hint(node: ast.AST, filt: Filter) -> str:
    """For pandas habits like `price.isna()`: the form this language has instead."""
    if not isinstance(node, ast.Attribute):
        return ""
    if node.attr in ("isna", "notna", "isnull", "notnull"):
        return f" (write {'isna' if node.attr in ('isna', 'isnull') else 'notna'}({node_text(node.value, filt)}))"
    if node.attr in ("contains", "startswith", "endswith", "lower"):
        args = "column" if node.attr == "lower" else "column, 'text'"
        return f" (write {node.attr}({args}))"
    return ""


def _check_list(node: ast.AST, filt: Filter, fail) -> None:
    if not isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        fail(f"'in' takes a list of values, e.g. country in ['France', 'Italy'], not {node_text(node, filt)}")
    for item in node.elts:
        if literal(item) is NOT_LITERAL:
            fail(f"the list after 'in' holds only numbers and 'text', not {node_text(item, filt)}")


NOT_LITERAL = object()


def literal(node: ast.AST) -> Any:
    """The value of a number or 'text' in a list after `in`, else `NOT_LITERAL`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float, str)):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float))
            and not isinstance(node.operand.value, bool)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    return NOT_LITERAL
