"""Exact prompt tokens of many rows rendered from one template, fast: the template's fixed text
(the labels list among it) is encoded once, and each row's fields with the few characters around
them (see `safe_cuts` for why the counts add up exactly)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from distill_tui.core.cost.tokens import _PATTERNS, encoding_for
from distill_tui.core.task import prompts


def _is_letter(ch: str) -> bool:
    return ch.isalpha()


def safe_cuts(text: str) -> list[int]:
    """Positions where any text may be cut without changing its pre-tokenization.

    A position i with a letter at i-1, a space at i and a letter at i+1 ends every pre-token pattern
    of o200k_base and cl100k_base (no pattern crosses from letters into a space) and starts a new one
    (a space followed by letters is matched from the space), whatever text stands around it. So the
    token count of a string is the sum of the counts of its pieces cut at such positions.
    """
    return [i for i in range(1, len(text) - 1) if text[i] == " " and _is_letter(text[i - 1]) and _is_letter(text[i + 1])]


class TemplateCounter:
    """Counts the prompt tokens of many rows rendered from one template, exactly and fast.

    The fixed text between placeholders is cut at safe positions (see `safe_cuts`); its middle is
    encoded once, and for each row only the placeholder values with the few characters of fixed
    text around them are encoded.
    """

    def __init__(self, template: str, model: str, labels: Sequence[str] = ()) -> None:
        self._enc = encoding_for(model)
        self._labels = list(labels)
        parts = prompts.parse_template(template)
        # Substitute {labels} now: it is the same text on every row.
        merged: list[str | prompts.Field] = []
        for part in parts:
            if isinstance(part, prompts.Field) and part.name == prompts.LABELS_PLACEHOLDER:
                part = prompts.labels_text(self._labels)
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] = merged[-1] + part
            else:
                merged.append(part)
        self.fields = [p.name for p in merged if isinstance(p, prompts.Field)]
        self.prefix, self.fixed_after = self._fixed_parts(merged)
        self.constant = 0
        # A plan: a list of items, each either a Field or a literal glue string; consecutive items
        # between two cuts form one "chunk" that is encoded per row.
        chunks: list[list[str | prompts.Field]] = [[]]
        for part in merged:
            if isinstance(part, prompts.Field):
                chunks[-1].append(part)
                continue
            cuts = safe_cuts(part)
            if not cuts:
                chunks[-1].append(part)
                continue
            # One cut is enough to separate the fields on either side; two or more also leave a
            # middle that is the same on every row.
            first, last = cuts[0], cuts[-1]
            chunks[-1].append(part[:first])
            self.constant += len(self._enc.encode_ordinary(part[first:last]))
            chunks.append([part[last:]])
        self._chunks = [c for c in chunks if any(isinstance(x, prompts.Field) or x for x in c)]
        self._static_chunks = [c for c in self._chunks if not any(isinstance(x, prompts.Field) for x in c)]
        for chunk in self._static_chunks:
            self.constant += len(self._enc.encode_ordinary("".join(chunk)))  # type: ignore[arg-type]
        self._dynamic = [c for c in self._chunks if any(isinstance(x, prompts.Field) for x in c)]
        self._row_plan = self._plan()

    def _fixed_parts(self, merged: list[str | prompts.Field]) -> tuple[int, int]:
        """Tokens of the fixed text before the first field (the cacheable prefix; the whole template
        when it has no field), and of the fixed text after it that is the same on every row.

        BPE never merges across pre-tokens, and a field's value can change only the pre-tokens next
        to it (the last two before it: trailing whitespace joins the next word; the first two after
        it), so leaving those out makes each figure exact or slightly low, never high.
        """
        if not self.fields:
            return len(self._enc.encode_ordinary("".join(p for p in merged if isinstance(p, str)))), 0
        first = next(i for i, p in enumerate(merged) if isinstance(p, prompts.Field))
        prefix = self._stable_tokens(merged[0], 0, 2) if first == 1 else 0
        after = 0
        for n, part in enumerate(merged[first + 1 :], start=first + 1):
            if isinstance(part, str):
                after += self._stable_tokens(part, 2, 2 if n < len(merged) - 1 else 0)
        return prefix, after

    def _stable_tokens(self, text: str, skip_head: int, skip_tail: int) -> int:
        import regex

        pieces = regex.findall(_PATTERNS[self._enc.name], text)
        kept = pieces[skip_head : len(pieces) - skip_tail]
        return sum(len(self._enc.encode_ordinary(piece)) for piece in kept)

    def _plan(self) -> list[tuple[bool, str]]:
        # Each dynamic chunk but the first starts with " <letter>" and each but the last ends with a
        # letter, so their concatenation is cut only at safe positions: one encode call per row
        # counts them all.
        plan: list[tuple[bool, Any]] = []
        for chunk in self._dynamic:
            for x in chunk:
                if isinstance(x, prompts.Field):
                    plan.append((True, x.name))
                elif x:
                    plan.append((False, x))
        return plan

    def count(self, row: Mapping[str, Any]) -> int:
        """Tokens of the template rendered with this row."""
        fmt = prompts.format_value
        text = "".join(fmt(row[v]) if is_field else v for is_field, v in self._row_plan)
        return self.constant + (len(self._enc.encode_ordinary(text)) if text else 0)

    def count_frame(self, frame: Any) -> list[int]:
        """Tokens of the template rendered with every row of a DataFrame, in row order.

        A chunk holding one field is counted once per distinct value (most columns repeat a lot);
        chunks holding several fields are assembled column-wise by pyarrow and encoded per row.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(frame)
        totals = [self.constant] * n
        encode = self._enc.encode_ordinary
        formatted: dict[str, list[str]] = {}

        def column(name: str) -> list[str]:
            if name not in formatted:
                formatted[name] = format_column(frame[name])
            return formatted[name]

        multi: list[list[str | prompts.Field]] = []
        for chunk in self._dynamic:
            fields = [x for x in chunk if isinstance(x, prompts.Field)]
            if len(fields) != 1:
                multi.append(chunk)
                continue
            position = next(i for i, x in enumerate(chunk) if isinstance(x, prompts.Field))
            before = "".join(x for x in chunk[:position] if isinstance(x, str))
            after = "".join(x for x in chunk[position + 1 :] if isinstance(x, str))
            memo: dict[str, int] = {}
            counts = []
            for value in column(fields[0].name):
                count = memo.get(value)
                if count is None:
                    count = memo[value] = len(encode(before + value + after))
                counts.append(count)
            totals = [a + b for a, b in zip(totals, counts)]
        if multi and n:
            # Concatenated chunks still meet only at safe cuts, so one encode per row counts them all.
            parts = []
            for chunk in multi:
                for x in chunk:
                    if isinstance(x, prompts.Field):
                        parts.append(pa.array(column(x.name), type=pa.large_string()))
                    elif x:
                        parts.append(pa.scalar(x, type=pa.large_string()))
            parts.append(pa.scalar("", type=pa.large_string()))
            texts = pc.binary_join_element_wise(*parts, pa.scalar("", type=pa.large_string())).to_pylist()
            totals = [a + len(encode(t)) for a, t in zip(totals, texts)]
        return totals


def format_column(series: Any) -> list[str]:
    """`prompts.format_value` over a whole column, vectorized for the common string case."""
    dtype = str(series.dtype)
    if dtype in ("object", "str", "string", "large_string[pyarrow]", "string[pyarrow]") or dtype.startswith("str"):
        values = series.tolist()
        fmt = prompts.format_value
        return [v if type(v) is str else fmt(v) for v in values]
    return [prompts.format_value(v) for v in series.tolist()]
