"""Datasets: load CSV/TSV/JSONL/Parquet, filter, drop rare labels, sample, split train/eval.

Every row keeps `_row`, its 0-based position in the file, so answers saved for a row stay attached
to it across runs, filters and samples. `_split` is "train" or "eval".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from distill_tui.core.common.errors import DataError, SpecError
from distill_tui.core.common.plain_file import not_a_plain_file
from distill_tui.core.task import answer_column, filter_language, kinds, prompts

if TYPE_CHECKING:
    import pandas as pd

    from distill_tui.core.task.spec import TaskSpec

ROW = "_row"
SPLIT = "_split"
_SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
}
_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


def file_format(path: Path) -> str:
    """The format of a data file, from its name (compression suffixes like .gz are looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in (".gz", ".bz2", ".zip", ".xz", ".zst"):
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise DataError(f"{path}: unknown data format '{path.suffix}' (use .csv, .tsv, .jsonl or .parquet)")


def _check_readable(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            head = handle.read(8192)
    except FileNotFoundError:
        raise DataError(f"{path}: data file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a data file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read data file ({exc.strerror or exc})") from None
    return head


@dataclass
class LoadedTable:
    frame: "pd.DataFrame"
    encoding: str | None = None


_cache: dict[tuple[str, int, int], LoadedTable] = {}


def load_table(path: str | Path) -> LoadedTable:
    """Read a data file into a DataFrame with a `_row` column (cached by path, size and mtime).

    Text files that are not UTF-8 are read as cp1252, then latin-1, and the encoding is reported.

    Raises:
        DataError: naming the file and what is wrong with it.
    """
    import pandas as pd

    path = Path(path).expanduser()
    try:
        problem = not_a_plain_file(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read data file ({exc.strerror or exc})") from None
    if problem:
        raise DataError(f"{path}: {problem}, not a data file")
    fmt = file_format(path)
    head = _check_readable(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _cache:
        return _cache[key]
    if stat.st_size == 0:
        raise DataError(f"{path}: data file is empty")
    compressed = path.suffix.lower() in (".gz", ".bz2", ".zip", ".xz", ".zst")
    if fmt != "parquet" and not compressed and b"\x00" in head:
        raise DataError(f"{path}: looks like a binary file, not {fmt.upper()} text")
    used_encoding: str | None = None
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            _refuse_duplicates(path, [str(name) for name in pq.read_schema(path).names])
            frame = pd.read_parquet(path)
        else:
            frame = None
            for encoding in _ENCODINGS:
                try:
                    if fmt == "jsonl":
                        frame = pd.read_json(path, lines=True, encoding=encoding, dtype=False)
                    else:
                        frame = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", encoding=encoding)
                    used_encoding = encoding
                    break
                except UnicodeDecodeError:
                    continue
            assert frame is not None  # latin-1 decodes any bytes
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: data file has no columns") from None
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot parse as {fmt.upper()}: {first}") from None
    except Exception as exc:  # pyarrow raises its own types for broken Parquet
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read as {fmt.upper()}: {first}") from None
    if len(frame.columns) == 0:
        raise DataError(f"{path}: data file has no columns")
    if len(frame) == 0:
        raise DataError(f"{path}: data file has a header but no rows")
    frame.columns = [str(c) for c in frame.columns]
    _refuse_duplicates(path, _header_names(path, fmt, frame, used_encoding))
    frame.insert(0, ROW, range(len(frame)))
    loaded = LoadedTable(frame, None if used_encoding in (None, "utf-8-sig") else used_encoding)
    _cache.clear()  # keep one table: the TUI re-prepares the same file after every edit
    _cache[key] = loaded
    return loaded


def _header_names(path: Path, fmt: str, frame: "pd.DataFrame", encoding: str | None) -> list[str]:
    """The column names as the file has them: pandas renames CSV copies `a`, `a.1` without a word."""
    import pandas as pd

    if fmt not in ("csv", "tsv"):
        return [str(c) for c in frame.columns]
    header = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", encoding=encoding, header=None, nrows=1,
                         dtype=str, keep_default_na=False)
    return [str(v) for v in header.iloc[0].tolist() if str(v) != ""]


def _refuse_duplicates(path: Path, names: list[str]) -> None:
    """Fail on a column name used twice: the spec would silently use one of the copies."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    twice = sorted(((n, name) for name, n in counts.items() if n > 1), key=lambda pair: (-pair[0], pair[1]))
    if twice:
        shown = ", ".join(f"'{name}' ({n} times)" for n, name in twice)
        raise DataError(f"{path}: column names used more than once: {shown}; give each column its own name")


@dataclass
class PreparedData:
    """The rows of a task after filtering, label pruning, sampling and splitting."""

    frame: "pd.DataFrame"
    labels: list[str]  # the allowed labels (classification); [] for extraction and generation
    label_column: str | None  # the reference column (classification: the label); None: no reference
    rows_in_file: int
    rows_after_filter: int
    rows_without_label: int = 0
    dropped_labels: dict[str, int] = field(default_factory=dict)
    unsplit_labels: list[str] = field(default_factory=list)
    encoding: str | None = None
    kind: str = kinds.CLASSIFICATION
    eval_capped: tuple[int, int] | None = None  # (asked, held out) when [evaluate] max_rows caps the eval rows

    @property
    def train(self) -> "pd.DataFrame":
        return self.frame[self.frame[SPLIT] == "train"]

    @property
    def eval(self) -> "pd.DataFrame":
        return self.frame[self.frame[SPLIT] == "eval"]

    def label_counts(self, split: str | None = None) -> dict[str, int]:
        if self.kind != kinds.CLASSIFICATION or self.label_column is None:
            return {}
        frame = self.frame if split is None else self.frame[self.frame[SPLIT] == split]
        counts = frame[self.label_column].value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    def notes(self) -> list[str]:
        """Plain-language notes about what preparation did, for the screens and the CLI."""
        out = []
        if self.encoding:
            out.append(f"file is not UTF-8; read as {self.encoding}")
        if self.rows_without_label:
            what = "label" if self.kind == kinds.CLASSIFICATION else "reference"
            out.append(f"{self.rows_without_label} rows have no {what} and are left out")
        if self.dropped_labels:
            n = len(self.dropped_labels)
            out.append(f"{n} label{'s' if n != 1 else ''} below min_per_label dropped "
                       f"({sum(self.dropped_labels.values())} rows)")
        if self.unsplit_labels:
            n = len(self.unsplit_labels)
            out.append(f"{n} label{'s' if n != 1 else ''} too rare to split stay{'s' if n == 1 else ''} in train only")
        if self.eval_capped:
            asked, held = self.eval_capped
            out.append(f"[evaluate] max_rows: {asked:,} of the {held:,} held-out rows are evaluated (sampled with "
                       "the seed); the others are neither trained on nor asked")
        return out


def check_columns(spec: "TaskSpec", columns: list[str]) -> None:
    """Fail when the label or reference column or a prompt placeholder names a column the data lacks."""
    where = str(spec.source)
    shown = ", ".join(c for c in columns if c != ROW)
    if len(shown) > 200:
        shown = shown[:200] + "…"
    for key in ("label", "reference"):
        name = getattr(spec.dataset, key)
        if name is not None and name not in columns:
            raise SpecError(f"{where}: [dataset] {key}: column '{name}' is not in the data (columns: {shown})")
    for key in ("system", "user"):
        for name in prompts.placeholders(getattr(spec.prompt, key)):
            if name == prompts.LABELS_PLACEHOLDER and name not in columns and spec.kind != kinds.CLASSIFICATION:
                raise SpecError(f"{where}: [prompt] {key}: {{{name}}} is the list of allowed labels, and a {spec.kind} "
                                "task has none; leave it out")
            if name == prompts.LABELS_PLACEHOLDER and name in columns:
                # A row's own value would replace the list of allowed labels (the gold answer itself
                # when the label column is `labels`), without a word.
                raise SpecError(
                    f"{where}: [prompt] {key}: {{{name}}} would be the data's column '{name}', not the list of "
                    f"allowed labels; rename that column in {spec.data_path.name} or leave {{{name}}} out"
                )
            if name not in columns and name != prompts.LABELS_PLACEHOLDER:
                raise SpecError(f"{where}: [prompt] {key}: placeholder {{{name}}} names no column (columns: {shown})")


def apply_filter(frame: "pd.DataFrame", expression: str, where: str) -> "pd.DataFrame":
    """Keep the rows the filter selects (the closed language of `filter_language`, never pandas' eval)."""
    return filter_language.apply(frame, expression, where)


def split_rows(labels: list[str], rows: list[int], eval_fraction: float, seed: int) -> tuple[set[int], list[str]]:
    """A stratified split: per label, shuffle its rows with the seed and hold out `eval_fraction`.

    Returns the set of eval row ids and the labels too rare to have any eval row.
    """
    by_label: dict[str, list[int]] = {}
    for label, row in zip(labels, rows):
        by_label.setdefault(label, []).append(row)
    rng = random.Random(seed)
    eval_rows: set[int] = set()
    unsplit: list[str] = []
    if eval_fraction <= 0:
        return eval_rows, unsplit
    for label in sorted(by_label):
        members = sorted(by_label[label])
        rng.shuffle(members)
        n_eval = min(int(len(members) * eval_fraction + 0.5), len(members) - 1)
        if n_eval <= 0:
            unsplit.append(label)
            continue
        eval_rows.update(members[:n_eval])
    return eval_rows, unsplit


def prepare(spec: "TaskSpec") -> PreparedData:
    """Load and prepare the dataset of a spec.

    Raises:
        DataError: the data file cannot be used.
        SpecError: the spec does not fit the data (missing column, bad filter, sample too large…).
    """
    loaded = load_table(spec.data_path)
    frame = loaded.frame
    where = str(spec.source)
    ds, kind = spec.dataset, spec.kind
    check_columns(spec, list(frame.columns))
    rows_in_file = len(frame)
    label_col = kinds.reference_column(spec)
    if ds.filter:
        frame = apply_filter(frame, ds.filter, where)
    if kind == kinds.CLASSIFICATION:
        frame, without = answer_column.labelled(spec, frame, label_col)
    elif label_col is not None:
        frame, without = answer_column.with_reference(spec, frame, label_col)
    else:
        without = 0
    rows_after_filter = len(frame)
    if rows_after_filter == 0 and ds.filter:
        raise SpecError(f"{where}: [dataset] filter {ds.filter!r} leaves no rows")
    dropped: dict[str, int] = {}
    if ds.min_per_label and ds.min_per_label > 1:
        counts = frame[label_col].value_counts()
        rare = counts[counts < ds.min_per_label]
        dropped = {str(k): int(v) for k, v in rare.items()}
        if len(dropped) == len(counts):
            raise SpecError(
                f"{where}: [dataset] min_per_label = {ds.min_per_label}: every label has fewer rows "
                f"(largest: {int(counts.max())}), nothing is left"
            )
        if dropped:
            frame = frame[~frame[label_col].isin(list(dropped))]
    labels = sorted(frame[label_col].unique().tolist()) if kind == kinds.CLASSIFICATION else []
    if ds.sample is not None:
        if ds.sample > len(frame):
            raise SpecError(
                f"{where}: [dataset] sample = {ds.sample} but only {len(frame)} rows remain after filtering"
            )
        frame = frame.sample(n=ds.sample, random_state=ds.seed).sort_values(ROW)
    # Extraction and generation rows have no classes to stratify by: one group, shuffled with the seed.
    strata = frame[label_col].tolist() if kind == kinds.CLASSIFICATION else [""] * len(frame)
    eval_rows, unsplit = split_rows(strata, frame[ROW].tolist(), ds.eval_fraction, ds.seed)
    if kind != kinds.CLASSIFICATION:
        unsplit = []
    capped = None
    if spec.evaluate.max_rows is not None and len(eval_rows) > spec.evaluate.max_rows:
        capped = (spec.evaluate.max_rows, len(eval_rows))
        kept = set(random.Random(ds.seed).sample(sorted(eval_rows), spec.evaluate.max_rows))
        frame = frame[~frame[ROW].isin(eval_rows - kept)]  # still held out: never trained on, not asked
        eval_rows = kept
    frame = frame.copy()
    frame[SPLIT] = ["eval" if r in eval_rows else "train" for r in frame[ROW].tolist()]
    return PreparedData(
        frame=frame.reset_index(drop=True),
        labels=labels,
        label_column=label_col,
        rows_in_file=rows_in_file,
        rows_after_filter=rows_after_filter,
        rows_without_label=without,
        dropped_labels=dropped,
        unsplit_labels=unsplit,
        encoding=loaded.encoding,
        kind=kind,
        eval_capped=capped,
    )


@dataclass
class ColumnSummary:
    name: str
    dtype: str
    non_null: int
    unique: int
    example: str


def summarize_columns(frame: "pd.DataFrame", limit_unique: int = 200_000) -> list[ColumnSummary]:
    """Per-column type, filled count, distinct count and one example, for the Dataset screen."""
    out = []
    for name in frame.columns:
        if name in (ROW, SPLIT):
            continue
        column = frame[name]
        non_null = int(column.notna().sum())
        try:
            unique = int(column.nunique()) if len(column) <= limit_unique else -1
        except TypeError:
            unique = -1
        first = column.dropna()
        example = prompts.format_value(first.iloc[0]) if len(first) else prompts.MISSING
        out.append(ColumnSummary(name, str(column.dtype), non_null, unique, example[:60]))
    return out
