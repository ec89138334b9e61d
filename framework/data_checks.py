"""Checks of local CSV inputs made before a run starts.

TFX's ExampleValidator judges the *content* of the data against the schema; it never sees a
file that CsvExampleGen cannot read at all (empty, header only, bytes that are not UTF-8, a
runaway line, rows with the wrong number of fields), and CsvExampleGen's own errors about
those are Beam stack traces. These checks turn each into one line naming the file and line.
Remote data (gs://) is left to ExampleGen.
"""

from __future__ import annotations

import csv
from pathlib import Path

from framework.errors import DataError


def data_files(data_root: str, pattern: str) -> list[Path]:
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist (pipeline.data_root)")
    glob = pattern.replace("{SPAN}", "*").replace("{VERSION}", "*")
    files = sorted(p for p in root.glob(glob) if p.is_file())
    if not files:
        raise DataError(f"no data files match '{pattern}' under {root}")
    return files


def _lines(path: Path, max_line_bytes: int):
    """Decoded lines of path; raises DataError on a long line or bytes that are not UTF-8."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if len(raw) > max_line_bytes:
                raise DataError(
                    f"{path}: line {number} is {len(raw)} bytes, over the limit of "
                    f"{max_line_bytes} (pipeline.max_line_bytes); the file looks corrupt"
                )
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}: line {number} is not UTF-8 (byte 0x{raw[exc.start]:02x} at "
                    f"column {exc.start + 1}); save the file as UTF-8"
                ) from None


def check_csv_file(path: Path, max_line_bytes: int) -> int:
    """Number of data rows in path, after checking it is a readable CSV with a header."""
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (expected a CSV header and rows)")
    reader = csv.reader(_lines(path, max_line_bytes))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise DataError(f"{path}: the first line is not a CSV header")
    rows = 0
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {reader.line_num} has {len(row)} fields, the header has "
                f"{len(header)}"
            )
        rows += 1
    if rows == 0:
        raise DataError(f"{path}: the file has a header but no rows")
    return rows


def check_local_inputs(settings) -> int:
    """Check every local CSV input of a run; returns the number of data rows (0 if remote)."""
    data_root = settings.pipeline.data_root
    if "://" in data_root:
        return 0
    files = data_files(data_root, settings.pipeline.input_pattern)
    # CsvExampleGen reads every matching file, whatever its suffix: so does the check.
    return sum(check_csv_file(f, settings.pipeline.max_line_bytes) for f in files)
