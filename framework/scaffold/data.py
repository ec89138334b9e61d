"""The user's table as the CSV file a generated pipeline reads.

The framework's ExampleGen reads CSV (framework/components/arrow_csv_example_gen.py) and the
local runner checks every CSV input before a run (framework/pipeline/data_checks.py), so a
generated package always reads one CSV file:

- a CSV file of at most COPY_LIMIT_BYTES is copied into `pipelines/<name>/data/`, so the
  package holds what it trains on; a larger one is read where it is (`pipeline.data_root` is
  its folder, `pipeline.input_pattern` its name);
- a Parquet file, or a TFRecord file of tf.Examples, is converted to CSV in
  `pipelines/<name>/data/`;
- column names that are not identifiers ("sepal length (cm)") are renamed
  (`sepal_length_cm`): they become feature names in TensorFlow graphs, Keras layer names and
  Python constants. A CSV file whose header needs renaming is copied whatever its size.

The file is then checked as a run checks it (`check_csv_file`), so a table `mlops new`
accepts is one `mlops run` reads.
"""

from __future__ import annotations

import csv
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from framework.core.errors import DataError, UserError

# Larger CSV files are read where they are rather than copied into the package.
COPY_LIMIT_BYTES = 10 * 1024 * 1024
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".tfrecord": "tfrecord",
           ".tfrecords": "tfrecord", ".tfr": "tfrecord"}


@dataclass
class PreparedData:
    """The CSV file the statistics and the pipeline read, and how it came from the source."""

    source: Path
    csv: Path
    copied: bool  # csv is in the package's data folder; else it is the source, read in place
    how: str  # one line for the user: copied, converted or referenced, and why
    columns: list[str]  # of csv, renamed
    renamed: dict[str, str] = field(default_factory=dict)  # source name -> csv name
    # Source columns not carried into the CSV, and why (lists of values).
    dropped: dict[str, str] = field(default_factory=dict)


def table_format(path: Path) -> str:
    """csv, parquet or tfrecord, from the file's suffix (.gz for a compressed TFRecord)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-2:-1] and suffixes[-1] == ".gz" and FORMATS.get(suffixes[-2]) == "tfrecord":
        return "tfrecord"
    kind = FORMATS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise UserError(f"cannot tell the format of {path} from its name: expected a .csv, "
                        f".parquet or .tfrecord file (tf.Examples; .tfrecord.gz if compressed)")
    return kind


def column_names(names: list[str]) -> list[str]:
    """Identifier-like names (letters, digits, '_'; no leading digit), unique, in order.

    'sepal length (cm)' -> 'sepal_length_cm', '2nd' -> 'c_2nd', '' -> 'column_1'.
    """
    result: list[str] = []
    for number, name in enumerate(names, start=1):
        clean = re.sub(r"[^0-9A-Za-z_]+", "_", name.strip()).strip("_")
        if not clean:
            clean = f"column_{number}"
        elif clean[0].isdigit():
            clean = f"c_{clean}"
        unique, n = clean, 2
        while unique in result:
            unique, n = f"{clean}_{n}", n + 1
        result.append(unique)
    return result


def _size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def _check(path: Path, source: Path) -> int:
    """Rows of `path`, checked as a run checks its inputs; problems name the source file."""
    from framework.pipeline.data_checks import check_csv_file
    from framework.settings.model import PipelineSection

    limit = PipelineSection.__dataclass_fields__["max_line_bytes"].default
    try:
        return check_csv_file(path, limit)
    except DataError as exc:
        message = str(exc).replace(str(path), str(source))
        raise UserError(f"cannot read {source} as a CSV table: "
                        f"{message.removeprefix(f'{source}: ')}") from None


def _header(source: Path) -> tuple[str, list[str]] | None:
    """(first line, names read with CSV quoting), or None when it is not UTF-8 text."""
    with open(source, "rb") as handle:
        raw = handle.readline()
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    try:
        return line, next(csv.reader([line], strict=True), [])
    except csv.Error:
        return None


def _prepare_csv(source: Path, data_dir: Path, copy_always: bool) -> PreparedData:
    header = _header(source)
    if header is None or not header[1]:
        _check(source, source)  # says what is wrong with the file (encoding, emptiness, ...)
        raise UserError(f"cannot read {source} as a CSV table: its first line is not a header")
    line, names = header
    if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
        _check(source, source)  # another delimiter: renaming would hide it in one column
    clean = column_names([n.lstrip("\ufeff") for n in names])
    renamed = {old: new for old, new in zip(names, clean) if old != new}
    header_as_read = line == ",".join(clean)  # ExampleGen splits the line at every comma
    big = source.stat().st_size > COPY_LIMIT_BYTES
    if big and header_as_read and not copy_always:
        _check(source, source)
        how = (f"read in place ({_size(source.stat().st_size)}, over the "
               f"{_size(COPY_LIMIT_BYTES)} copy limit): pipeline.data_root is its folder")
        return PreparedData(source, source, False, how, clean, renamed)
    target = data_dir / f"{column_names([source.stem])[0]}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as inp, open(target, "wb") as out:
        inp.readline()
        out.write((",".join(clean) + "\n").encode())
        shutil.copyfileobj(inp, out)
    why = "its header renamed" if not header_as_read else _size(source.stat().st_size)
    _check(target, source)
    return PreparedData(source, target, True, f"copied into the package ({why})", clean, renamed)


def _list_valued(series) -> bool:
    """Whether a column holds lists (Python lists, numpy arrays) or structs in some row."""
    return bool(series.map(lambda v: isinstance(v, (list, tuple, dict))
                           or getattr(v, "ndim", 0) > 0).any())


def _write_frame(frame, source: Path, data_dir: Path, dropped: dict, what: str) -> PreparedData:
    """A converted table as CSV in the package's data folder."""
    for column in list(frame.columns):
        if frame[column].dtype == object and _list_valued(frame[column]):
            dropped[str(column)] = "lists of values: a CSV cell holds one"
            frame = frame.drop(columns=[column])
    names = [str(c) for c in frame.columns]
    clean = column_names(names)
    frame.columns = clean
    target = data_dir / f"{column_names([source.name.split('.')[0]])[0]}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(target, index=False, lineterminator="\n")
    _check(target, source)
    renamed = {old: new for old, new in zip(names, clean) if old != new}
    how = f"converted from {what} to CSV in the package (the pipeline's ExampleGen reads CSV)"
    return PreparedData(source, target, True, how, clean, renamed, dropped)


def _prepare_parquet(source: Path, data_dir: Path) -> PreparedData:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Nullable integers: a column of integers with gaps stays integers ("3", ""), not floats.
    integers = {t: pd.Int64Dtype() for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64(),
                                             pa.uint8(), pa.uint16(), pa.uint32())}
    try:
        frame = pq.read_table(source).to_pandas(types_mapper=integers.get)
    except Exception as exc:  # pyarrow's errors have no common base worth naming
        raise UserError(f"cannot read {source} as Parquet: {_first_line(exc)}") from None
    return _write_frame(frame, source, data_dir, {}, "Parquet")


def _examples(source: Path):
    """tf.Examples of a TFRecord file (GZIP when its name ends in .gz)."""
    import tensorflow as tf

    compression = "GZIP" if source.suffix.lower() == ".gz" else ""
    for record in tf.data.TFRecordDataset(str(source), compression_type=compression):
        yield tf.train.Example.FromString(record.numpy())


def _first_line(exc: Exception) -> str:
    """An error's message without TensorFlow's op decorations ({{function_node ...}}, [Op:...])."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", text.strip().splitlines()[0])
    return re.sub(r"\s*\[Op:.*$", "", text)


def _value(kind: str, value):
    if kind == "bytes_list":
        return value.decode("utf-8", "replace")
    if kind == "float_list":  # a float32: its shortest text, 5.1 rather than 5.099999904632568
        import numpy as np

        return float(str(np.float32(value)))
    return value


def _prepare_tfrecord(source: Path, data_dir: Path) -> PreparedData:
    import pandas as pd

    columns: dict[str, dict[int, object]] = {}
    kinds: dict[str, str] = {}
    dropped: dict[str, str] = {}
    rows = 0
    try:
        for rows, example in enumerate(_examples(source), start=1):
            for name, feature in example.features.feature.items():
                kind = feature.WhichOneof("kind")
                if kind is None:
                    continue
                values = list(getattr(feature, kind).value)
                kinds.setdefault(name, kind)
                if len(values) > 1:
                    dropped[name] = "lists of values: a CSV cell holds one"
                elif values:
                    columns.setdefault(name, {})[rows - 1] = _value(kind, values[0])
    except Exception as exc:  # DataLossError (not TFRecord framing), DecodeError (no tf.Example)
        raise UserError(f"cannot read {source} as a TFRecord file of tf.Examples: "
                        f"{_first_line(exc)}") from None
    if rows == 0:
        raise UserError(f"cannot read {source} as a table: it holds no tf.Example")
    dtypes = {"int64_list": "Int64", "float_list": "Float64", "bytes_list": "string"}
    # A tf.Example's features have no order: the columns are sorted by name.
    frame = pd.DataFrame({
        name: pd.array([columns[name].get(i) for i in range(rows)], dtype=dtypes[kinds[name]])
        for name in sorted(columns) if name not in dropped
    })
    return _write_frame(frame, source, data_dir, dropped, "TFRecord")


def prepare(source: Path, data_dir: Path, *, copy_always: bool = False) -> PreparedData:
    """The CSV file for `source`: copied or converted into `data_dir`, or (a large CSV file,
    unless `copy_always`) the source itself."""
    if not source.is_file():
        raise UserError(f"--data {source}: no such file")
    kind = table_format(source)
    if kind == "csv":
        return _prepare_csv(source, data_dir, copy_always)
    return (_prepare_parquet if kind == "parquet" else _prepare_tfrecord)(source, data_dir)


def sample_rows(path: Path, count: int, scan: int = 10000) -> list[dict[str, str]]:
    """The first `count` data rows of a CSV file as text, and the first row with an empty
    cell among the first `scan` rows when those have none (it shows how gaps are filled)."""
    rows: list[dict[str, str]] = []
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle)):
            has_gap = any("" in r.values() for r in rows)
            if number >= count and (has_gap or number >= scan):
                break
            if number < count or "" in row.values():
                rows.append(row)
    return rows
