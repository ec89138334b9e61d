"""Checks of local CSV inputs made before a run starts.

TFX's ExampleValidator judges the *content* of the data against the schema; it never sees a
file that CsvExampleGen cannot read at all, and CsvExampleGen's own errors about those are
Beam stack traces or, worse, a silent misreading (a second header line makes every column a
string, an unclosed quote swallows the rest of the file). These checks turn each into one line
naming the file, the line and the cause. They read what the run would read and change nothing.
Remote data (gs://) is left to ExampleGen.

What ExampleGen accepts (framework/components/arrow_csv_example_gen.py) sets the rules: the
header is the first line split at every comma (TFX's `load_csv_column_names`: no quoting, no
byte order mark), the rows are read by pyarrow (CRLF, blank lines and quoted line breaks are
fine), and every file of a split must have the same header line.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from pathlib import Path

from framework.core.errors import DataError, UserError
from framework.pipeline.input_pattern import input_regex

# Leading bytes of files that are not UTF-8 CSV text, and what to do about each. A BOM is not
# stripped for the user: ExampleGen would still read it, and the framework does not rewrite data.
_SIGNATURES = (
    (b"\xef\xbb\xbf", "starts with a UTF-8 byte order mark (Excel's 'CSV UTF-8' writes one), "
                      "which ExampleGen would read as part of the first column's name; save the "
                      "file as UTF-8 without a byte order mark"),
    (b"\xff\xfe", "is UTF-16 text (Excel's 'Unicode Text'?); save it as UTF-8 CSV without a "
                  "byte order mark"),
    (b"\xfe\xff", "is UTF-16 text; save it as UTF-8 CSV without a byte order mark"),
    (b"\x1f\x8b", "is gzip-compressed; ExampleGen reads plain CSV: decompress it"),
    (b"PK\x03\x04", "is a zip archive (an Excel .xlsx workbook?), not CSV: export the sheet as "
                    "CSV"),
    (b"\xd0\xcf\x11\xe0", "is an Excel .xls workbook, not CSV: export the sheet as CSV"),
)
# Lifecycle stages whose features TFDV does not expect in the data.
_IN_USE = ("UNKNOWN_STAGE", "BETA", "PRODUCTION")


def _root(data_root: str) -> Path:
    root = Path(data_root)
    if root.is_file():
        raise DataError(
            f"pipeline.data_root {root} is a file, not a folder: set pipeline.data_root to "
            f"{root.parent} (and pipeline.input_pattern to '{root.name}' to read only this file)"
        )
    if not root.is_dir():
        raise DataError(f"pipeline.data_root {root} does not exist")
    return root


def data_files(data_root: str, pattern: str) -> list[Path]:
    """The files ExampleGen will read this run: with {SPAN}, those of the newest span."""
    root = _root(data_root)
    glob = pattern.replace("{SPAN}", "*").replace("{VERSION}", "*")
    matched = sorted(root.glob(glob))
    if not matched:
        held = sorted(p.name for p in root.iterdir())
        listed = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
        what = f" (pipeline.input_pattern; the folder holds {listed})" if held else ""
        raise DataError(f"no data files match '{pattern}' under {root}{what}")
    files = _newest_span(root, pattern, matched)
    for path in files:
        # ExampleGen's glob returns these too and would try to read each as a CSV file.
        if path.is_dir():
            kind = "a folder"
        elif path.name.startswith((".", "~$")):
            kind = "a hidden or lock file (a spreadsheet has the data open?)"
        else:
            continue
        raise DataError(f"{path} is {kind}, and pipeline.input_pattern '{pattern}' matches it: "
                        f"ExampleGen would read it as data; narrow the pattern (e.g. '*.csv')")
    return files


def _newest_span(root: Path, pattern: str, files: list[Path]) -> list[Path]:
    """ExampleGen ingests the newest span (and version) only: older spans are not re-read."""
    if "{SPAN}" not in pattern:
        return files
    regex, keys = input_regex(pattern), {}
    for path in files:
        match = regex.fullmatch(path.relative_to(root).as_posix())
        if match:
            found = match.groupdict()
            keys[path] = (int(found["span"]), int(found.get("version") or -1))
    newest = max(keys.values(), default=None)
    return [p for p, key in keys.items() if key == newest] or files


@dataclass(frozen=True)
class SchemaColumns:
    """The columns a pipeline's curated schema knows, and those every file must have."""

    source: str
    known: frozenset
    required: frozenset


def schema_columns(pipeline_name: str) -> SchemaColumns | None:
    """From pipelines/<name>/schema/schema.pbtxt (as `mlops schema`), None without one."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from framework.pipeline.discovery import find_pipeline, shown
    from framework.pipeline.schema_tools import parse_schema_file

    try:
        path = find_pipeline(pipeline_name).folder / "schema" / "schema.pbtxt"
        schema = parse_schema_file(path)
    except (UserError, OSError, text_format.ParseError):
        return None  # no schema to compare with; a broken one fails in its own component
    required = {
        f.name for f in schema.feature
        if schema_pb2.LifecycleStage.Name(f.lifecycle_stage) in _IN_USE and not f.deprecated
        and not (f.in_environment or f.not_in_environment)
        and (f.presence.min_count > 0 or f.presence.min_fraction > 0)
    }
    return SchemaColumns(shown(path), frozenset(f.name for f in schema.feature),
                         frozenset(required))


class _NotUtf8(Exception):
    def __init__(self, number: int, raw: bytes, start: int):
        super().__init__(number)
        self.number, self.raw, self.start = number, raw, start


def _lines(path: Path, max_line_bytes: int):
    """Decoded lines of path; raises DataError on a runaway line, _NotUtf8 on bad bytes."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            # Checked before the length: a file of bare CRs is one huge "line".
            if number == 1 and b"\r" in raw.rstrip(b"\r\n"):
                raise DataError(f"{path}: its lines end in a bare carriage return (\\r, classic "
                                f"Mac OS); save it with LF or CRLF line endings")
            if len(raw) > max_line_bytes:
                raise DataError(
                    f"{path}: line {number} is {len(raw)} bytes, over the limit of "
                    f"{max_line_bytes} (pipeline.max_line_bytes); the file looks corrupt"
                )
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _NotUtf8(number, raw, exc.start) from None


def _not_utf8(path: Path, err: _NotUtf8, header: list[str] | None) -> DataError:
    byte = err.raw[err.start]
    field = len(next(csv.reader([err.raw[:err.start].decode("latin-1")]), [""]))
    column = f" (column {header[field - 1]!r})" if header and field <= len(header) else ""
    char = bytes([byte]).decode("cp1252", errors="replace")
    return DataError(
        f"{path}: line {err.number}, byte {err.start + 1}{column}: 0x{byte:02x} is not UTF-8 "
        f"(in Windows-1252/Latin-1 it is {char!r}); save the file as UTF-8"
    )


def _names(names, limit: int = 3) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _delimiter_problem(header: list[str], schema: SchemaColumns | None) -> str | None:
    if len(header) != 1 or (schema and header[0] in schema.known):
        return None
    for sep, name in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
        if sep in header[0]:
            return (f"the delimiter looks like {name}, not ',' (a European-locale Excel "
                    f"export?); save the file with commas")
    return None


def _split_problem(first_line: str, header: list[str]) -> str | None:
    """ExampleGen names the columns by splitting the line at commas; pyarrow parses CSV."""
    naive = first_line.strip().split(",")
    if naive == header:
        return None
    i = next((i for i, (a, b) in enumerate(zip(naive, header)) if a != b),
             min(len(naive), len(header)))
    seen = repr(naive[i]) if i < len(naive) else "nothing"
    fix = "write the names without quotes" if '"' in first_line else "remove the spaces"
    return (f"ExampleGen splits the header at every comma, without CSV quoting, and would name "
            f"column {i + 1} {seen}, not {header[i]!r}: {fix}")


def _name_problem(header: list[str]) -> str | None:
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if not name.strip():
            trailing = " (a trailing comma?)" if number == len(header) else ""
            return f"column {number} has no name{trailing}"
        if name in seen:
            return f"column {name!r} appears twice (columns {seen[name]} and {number})"
        seen[name] = number
    return None


def _no_header(header: list[str], schema: SchemaColumns) -> str | None:
    if schema.known & set(header):
        return None
    return f"none of its names is a column of {schema.source} (the file has no header line?)"


def _schema_problem(header: list[str], schema: SchemaColumns) -> str | None:
    """Missing columns the schema requires; a column only the data has is left to the gate,
    after StatisticsGen, whose statistics `mlops schema` can then learn it from."""
    missing = sorted(schema.required - set(header))
    if not missing:
        return None
    parts, lowered = [], {m.lower(): m for m in missing}
    for name in (h for h in header if h not in schema.known):
        close = difflib.get_close_matches(name.strip().lower(), list(lowered), n=1)
        if close:
            parts.append(f"{name!r} should be {lowered.pop(close[0])!r}")
    if lowered:
        parts.append(f"{_names(sorted(lowered.values()))} missing (required by the schema; "
                     f"mark a column DEPRECATED there if the data no longer has it)")
    return f"the header does not match {schema.source}: " + "; ".join(parts)


def _check_header(path: Path, first_line: str, header: list[str],
                  schema: SchemaColumns | None) -> None:
    if not header or not any(h.strip() for h in header):
        raise DataError(f"{path}: the first line is not a CSV header")
    problem = (_delimiter_problem(header, schema) or _split_problem(first_line, header)
               or (schema and _no_header(header, schema)) or _name_problem(header)
               or (schema and _schema_problem(header, schema)))
    if problem:
        raise DataError(f"{path}: line 1: {problem}")


def _is_header(row: list[str], header: list[str]) -> bool:
    # The cheap comparison first: this runs on every row. A joined file's BOM may lead it.
    return (row[-1] == header[-1] and row[0].lstrip("\ufeff") == header[0]
            and row[1:-1] == header[1:-1])


def _check_row(path: Path, line: int, row: list[str], header: list[str]) -> bool:
    """False for a blank line (ExampleGen skips it); raises DataError for a bad row."""
    if not row:
        return False
    if len(row) != len(header):
        glued = len(header) > 1 and row[-(len(header) - 1):] == header[1:]
        hint = (" (it ends with the header: two files joined without a line break between "
                "them?)") if glued else ""
        raise DataError(f"{path}: line {line} has {len(row)} fields, the header has "
                        f"{len(header)}{hint}")
    if _is_header(row, header):
        raise DataError(f"{path}: line {line} repeats the header line (two CSV files joined "
                        f"together?); remove it")
    if not any(row):
        raise DataError(f"{path}: line {line} has no values, only commas (a spreadsheet's "
                        f"formatted but empty row?); remove it")
    return True


def _quoting_problem(path: Path, line: int, exc: csv.Error) -> DataError:
    text = str(exc)
    if "unexpected end of data" in text:
        cause = ("opens a quoted value that is never closed: ExampleGen would read the rest "
                 "of the file as one value")
    elif "field limit" in text:
        cause = ("has a value longer than 131072 characters: a quote that is never closed? "
                 "ExampleGen would read the rest of the file as one value")
    elif "expected after" in text:
        cause = ("has text after the closing quote of a value; quote the whole value and "
                 "double any quote inside it")
    elif "new-line character" in text:
        cause = "has a carriage return (\\r) inside a value, where ExampleGen would end the row"
    else:
        cause = f"is not valid CSV ({text})"
    return DataError(f"{path}: line {line} {cause}")


def _read(path: Path, max_line_bytes: int, schema: SchemaColumns | None):
    """(header, data rows) of path, after checking ExampleGen reads it as the CSV it is."""
    lines = _lines(path, max_line_bytes)
    first = next(lines, "")
    try:
        header = next(csv.reader([first], strict=True), [])
    except csv.Error as exc:
        raise _quoting_problem(path, 1, exc) from None
    _check_header(path, first, header, schema)
    reader = csv.reader(lines, strict=True)
    rows = 0
    while True:
        start = reader.line_num + 2  # line 1 is the header; a row may span lines
        try:
            row = next(reader, None)
        except csv.Error as exc:
            raise _quoting_problem(path, start, exc) from None
        if row is None:
            return header, rows
        rows += _check_row(path, start, row, header)


def _check_file(path: Path, max_line_bytes: int, schema: SchemaColumns | None):
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
        for signature, problem in _SIGNATURES:
            if head.startswith(signature):
                raise DataError(f"{path}: the file {problem}")
        if not head:
            raise DataError(f"{path}: the file is empty (expected a CSV header and rows)")
        try:
            header, rows = _read(path, max_line_bytes, schema)
        except _NotUtf8 as err:
            raise _not_utf8(path, err, _first_row(path)) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    if rows == 0:
        raise DataError(f"{path}: the file has a header but no rows")
    return header, rows


def _first_row(path: Path) -> list[str] | None:
    """The header, to name the column of a bad byte further down (None if it is the culprit)."""
    with open(path, "rb") as handle:
        try:
            return next(csv.reader([handle.readline().decode("utf-8")]), None)
        except UnicodeDecodeError:
            return None


def check_csv_file(path: Path, max_line_bytes: int, schema: SchemaColumns | None = None) -> int:
    """Number of data rows in path, after checking ExampleGen will read it correctly."""
    return _check_file(path, max_line_bytes, schema)[1]


def _same_header(checked: list[tuple[Path, list[str]]]) -> None:
    """ExampleGen refuses a split whose files' header lines differ, even only in order."""
    first, expected = checked[0]
    for path, header in checked[1:]:
        if header == expected:
            continue
        if sorted(header) == sorted(expected):
            i = next(i for i, (a, b) in enumerate(zip(header, expected)) if a != b)
            what = (f"has the columns of {first.name} in another order (column {i + 1} is "
                    f"{header[i]!r} here, {expected[i]!r} there)")
        else:
            here, there = set(header) - set(expected), set(expected) - set(header)
            what = (f"has other columns than {first.name} (only here: "
                    f"{_names(sorted(here)) or 'none'}; only there: {_names(sorted(there)) or 'none'})")
        raise DataError(f"{path}: line 1 {what}; ExampleGen needs the same header line in "
                        f"every file it reads")


def check_local_inputs(settings) -> int:
    """Check every local CSV input of a run; returns the number of data rows (0 if remote)."""
    data_root = settings.pipeline.data_root
    if "://" in data_root:
        return 0
    files = data_files(data_root, settings.pipeline.input_pattern)
    schema = schema_columns(settings.pipeline.name)
    # CsvExampleGen reads every matching file, whatever its suffix: so does the check.
    checked = [(f, *_check_matched(f, settings, schema)) for f in files]
    _same_header([(f, header) for f, header, _ in checked])
    return sum(rows for _, _, rows in checked)


def _check_matched(path: Path, settings, schema: SchemaColumns | None):
    try:
        return _check_file(path, settings.pipeline.max_line_bytes, schema)
    except DataError as exc:
        if path.suffix.lower() == ".csv":
            raise
        pattern = settings.pipeline.input_pattern
        raise DataError(f"{exc} (pipeline.input_pattern '{pattern}' matches this file; if it "
                        f"is not data, narrow the pattern, e.g. '*.csv')") from None
