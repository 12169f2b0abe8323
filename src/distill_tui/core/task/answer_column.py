"""The column of answers a dataset brings: the labels of a classification task, or the reference
answers of an extraction or generation task, and the rows left out for having none."""

from __future__ import annotations

from typing import TYPE_CHECKING

from distill_tui.core.common.errors import DataError, SpecError
from distill_tui.core.task import kinds

if TYPE_CHECKING:
    import pandas as pd

    from distill_tui.core.task.spec import TaskSpec


def labelled(spec: "TaskSpec", frame: "pd.DataFrame", label_col: str) -> tuple["pd.DataFrame", int]:
    """The rows with a label (as stripped text), and how many had none.

    Raises:
        SpecError: no row is left, or every row has a label of its own (a free-text column).
    """
    where, ds = str(spec.source), spec.dataset
    labels_raw = frame[label_col]
    refuse_nested_labels(spec, labels_raw)
    has_label = labels_raw.notna() & (labels_raw.astype(str).str.strip() != "")
    without = int((~has_label).sum())
    frame = frame[has_label].copy()
    frame[label_col] = frame[label_col].astype(str).str.strip()
    if len(frame) == 0:
        if ds.filter:
            raise SpecError(f"{where}: [dataset] filter {ds.filter!r} leaves no labelled rows")
        raise DataError(f"{spec.data_path}: no row has a value in the label column '{label_col}'")
    if len(frame) >= UNIQUE_LABELS_MIN_ROWS and frame[label_col].nunique() == len(frame):
        raise SpecError(
            f"{where}: [dataset] label: each of the {len(frame):,} rows has a value of its own in '{label_col}': "
            f'free text, not labels; for free-text answers set [task] kind = "generation" and [dataset] reference '
            f'= "{label_col}" instead of label'
        )
    return frame, without


UNIQUE_LABELS_MIN_ROWS = 20
"""Below this many rows, distinct labels on every row may be a small sample, not a free-text column."""


def with_reference(spec: "TaskSpec", frame: "pd.DataFrame", column: str) -> tuple["pd.DataFrame", int]:
    """The rows with a reference answer (as text: `kinds.reference_text`), and how many had none.

    Raises:
        DataError: the reference column is empty, or holds no JSON object in an extraction task.
    """
    texts = [kinds.reference_text(spec.kind, v) for v in frame[column].tolist()]
    has = [t is not None for t in texts]
    key = "reference" if spec.dataset.reference else "label"
    if not any(has):
        raise DataError(f"{spec.data_path}: the reference column '{column}' ([dataset] {key}) is empty in every row"
                        f"{' the filter keeps' if spec.dataset.filter else ''}; remove the key to use the teacher's "
                        "answers as the targets")
    if spec.kind == kinds.EXTRACTION and not any(t is not None and t.startswith("{") for t in texts):
        example = next(t for t in texts if t is not None)
        example = example if len(example) <= 40 else example[:39] + "…"
        raise DataError(f"{spec.data_path}: the reference column '{column}' ([dataset] {key}) holds no JSON object "
                        f"(e.g. {example!r}); an extraction task's reference is the answer as JSON")
    frame = frame[has].copy()
    frame[column] = [t for t in texts if t is not None]
    return frame, len(has) - sum(has)


def refuse_nested_labels(spec: "TaskSpec", values: "pd.Series") -> None:
    """Fail when the label column holds lists, arrays or objects (JSONL lists, Parquet list/struct
    columns): as text they would become Python/numpy reprs like "['a' 'b']" and be taught as labels."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "integer", "floating", "boolean", "empty"):
        return  # the usual case, decided in C (the per-value check below costs ~50 ms on 130k rows)
    nested = values.map(lambda v: isinstance(v, (list, tuple, dict, set, frozenset, np.ndarray)))
    if nested.any():
        first = values[nested].iloc[0]
        kind = "dict" if isinstance(first, dict) else "list"
        example = " ".join(repr(first if kind == "dict" else list(first)).split())
        example = example if len(example) <= 40 else example[:39] + "…"
        raise DataError(
            f"{spec.data_path}: label column '{spec.dataset.label}' holds {kind}s (e.g. {example}), not one "
            f"label per row; choose a column of single values"
        )
