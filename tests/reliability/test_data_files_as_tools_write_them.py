"""Data files as spreadsheets, exports and hand edits write them: read correctly, or refused
before any component runs with one line naming the file, the line and the real cause.

Most cases call the pre-run check directly (framework/pipeline/data_checks.py); the last two go through
`mlops run` and show the line, the exit code and that nothing ran.
"""

import csv
import gzip
import io
import zipfile
from types import SimpleNamespace

import pytest

from framework.core.errors import DataError
from framework.pipeline.data_checks import check_csv_file, check_local_inputs, data_files, schema_columns
from tests.conftest import ROOT
from tests.reliability.conftest import error_lines, run_cli, sample

ROWS = 40


@pytest.fixture
def schema(monkeypatch):
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(ROOT))
    return schema_columns("taxi")


def csv_text(rows, terminator="\n") -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerows(rows)
    return out.getvalue()


def taxi_text(terminator="\n") -> str:
    header, rows = sample(ROWS)
    return csv_text([header, *rows], terminator)


def write(tmp_path, content, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def refused(path, schema, *fragments):
    with pytest.raises(DataError) as caught:
        check_csv_file(path, 65536, schema)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def read(path, schema):
    return check_csv_file(path, 65536, schema)


# --- container formats that are fine: read, every row counted once ------------------------

def test_crlf_line_endings_are_read(tmp_path, schema):
    assert read(write(tmp_path, taxi_text(terminator="\r\n")), schema) == ROWS


def test_trailing_blank_line_is_fine(tmp_path, schema):
    assert read(write(tmp_path, taxi_text() + "\n"), schema) == ROWS


def test_columns_moved_with_their_data_are_read(tmp_path, schema):
    rows = list(csv.reader(io.StringIO(taxi_text())))
    moved = [[r[-1], *r[:-1]] for r in rows]  # ExampleGen reads columns by name
    text = csv_text(moved)
    assert read(write(tmp_path, text), schema) == ROWS


def test_quoted_line_breaks_are_one_row_and_later_lines_are_numbered_right(tmp_path, schema):
    header, rows = sample(ROWS)
    for row in rows[:3]:
        row[header.index("company")] = "Taxi\nAffiliation"  # 3 rows of 2 lines each
    rows[10] = rows[10][:-1]
    text = csv_text([header, *rows])
    refused(write(tmp_path, text), schema, "line 15 has 17 fields, the header has 18")
    rows[10] = sample(ROWS)[1][10]
    text = csv_text([header, *rows])
    assert read(write(tmp_path, text), schema) == ROWS


def test_example_gen_reads_these_files_as_the_check_counts_them(tmp_path):
    from tfx.utils import io_utils

    from framework.components.arrow_csv_example_gen import encode_file, file_column_kinds

    header, rows = sample(ROWS)
    rows[0][header.index("company")] = "two\nlines"
    text = csv_text([header, *rows], "\r\n")
    path = str(write(tmp_path, text + "\r\n"))
    names = io_utils.load_csv_column_names(path)
    assert names == header
    assert len(list(encode_file(path, names, file_column_kinds(path, names)))) == ROWS
    # Why a BOM is refused rather than passed on: ExampleGen's header keeps it.
    bom = write(tmp_path, b"\xef\xbb\xbf" + taxi_text().encode(), "bom.csv")
    assert io_utils.load_csv_column_names(str(bom))[0] == "\ufeff" + header[0]


# --- encodings and markers ---------------------------------------------------------------

def test_utf8_bom_is_refused_with_how_to_save(tmp_path, schema):
    path = write(tmp_path, b"\xef\xbb\xbf" + taxi_text(terminator="\r\n").encode())
    refused(path, schema, "byte order mark", "CSV UTF-8", "save the file as UTF-8 without")


def test_latin1_byte_names_line_byte_column_and_encoding(tmp_path, schema):
    header, rows = sample(ROWS)
    rows[4][header.index("company")] = "Café Cab"
    text = csv_text([header, *rows])
    path = write(tmp_path, text.encode("cp1252"))  # "ANSI" in Windows tools
    byte = path.read_bytes().split(b"\n")[5].index(b"\xe9") + 1
    refused(path, schema, f"line 6, byte {byte} (column 'company'): 0xe9 is not UTF-8",
            "in Windows-1252/Latin-1 it is 'é'", "save the file as UTF-8")


@pytest.mark.parametrize("content, fragment", [
    ("utf-16", "is UTF-16 text"),
    ("gzip", "is gzip-compressed"),
    ("xlsx", "zip archive (an Excel .xlsx workbook?)"),
])
def test_files_that_are_not_csv_text_say_what_they_are(tmp_path, schema, content, fragment):
    text = taxi_text()
    if content == "utf-16":
        data = text.encode("utf-16")
    elif content == "gzip":
        data = gzip.compress(text.encode())
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as book:
            book.writestr("xl/workbook.xml", "<workbook/>")
        data = buffer.getvalue()
    refused(write(tmp_path, data), schema, fragment)


def test_bare_carriage_returns_are_named(tmp_path, schema):
    refused(write(tmp_path, taxi_text(terminator="\r")), schema, "bare carriage return")


# --- headers edited by hand --------------------------------------------------------------

def test_renamed_column_is_named_with_its_schema_name(tmp_path, schema):
    text = taxi_text().replace("trip_miles", "Trip Miles", 1)
    message = refused(write(tmp_path, text), schema, "line 1:", "'Trip Miles' should be 'trip_miles'",
                      "pipelines/taxi/schema/schema.pbtxt")
    assert "pickup_community_area" not in message  # not the whole header


def test_missing_column_is_named(tmp_path, schema):
    header, rows = sample(ROWS)
    i = header.index("trip_miles")
    text = csv_text([r[:i] + r[i + 1:] for r in [header, *rows]])
    message = refused(write(tmp_path, text), schema, "line 1:", "'trip_miles' missing",
                      "DEPRECATED")
    assert "pickup_community_area" not in message  # not the whole header


def test_a_column_only_the_data_has_is_left_to_the_validation_gate(tmp_path, schema):
    # The gate names it after StatisticsGen, whose statistics `mlops schema` can learn it from.
    text = "".join(line + (",driver_rating" if n == 0 else ",5") + "\n"
                   for n, line in enumerate(taxi_text().splitlines()))
    assert read(write(tmp_path, text), schema) == ROWS


def test_a_deprecated_column_may_be_missing(tmp_path, schema):
    header, rows = sample(ROWS)
    i = header.index("trip_start_timestamp")  # DEPRECATED in the taxi schema
    text = csv_text([r[:i] + r[i + 1:] for r in [header, *rows]])
    assert read(write(tmp_path, text), schema) == ROWS


@pytest.mark.parametrize("edit, fragment", [
    (lambda t: t.replace("\n", ",\n", 1), "column 19 has no name (a trailing comma?)"),
    (lambda t: t.replace("fare,", "tips,", 1), "column 'tips' appears twice (columns 2 and 18)"),
    (lambda t: t.split("\n", 1)[1], "(the file has no header line?)"),
    (lambda t: t.replace("fare,", '"fare",', 1), "would name column 2 '\"fare\"'"),
])
def test_header_mistakes_name_the_column(tmp_path, schema, edit, fragment):
    refused(write(tmp_path, edit(taxi_text())), schema, "line 1:", fragment)


@pytest.mark.parametrize("sep, name", [(";", "';'"), ("\t", "a tab")])
def test_other_delimiters_are_named(tmp_path, schema, sep, name):
    text = taxi_text().replace(",", sep)
    refused(write(tmp_path, text), schema, f"line 1: the delimiter looks like {name}")


# --- rows ---------------------------------------------------------------------------------

def test_two_files_concatenated_name_the_repeated_header(tmp_path, schema):
    text = taxi_text()
    refused(write(tmp_path, text + text), schema, f"line {ROWS + 2} repeats the header line")


def test_two_excel_utf8_files_concatenated_after_the_first_bom_was_removed(tmp_path, schema):
    text = taxi_text()
    refused(write(tmp_path, text + "\ufeff" + text), schema, f"line {ROWS + 2} repeats the header")


def test_files_joined_without_a_line_break(tmp_path, schema):
    text = taxi_text()
    refused(write(tmp_path, text.rstrip("\n") + text), schema,
            f"line {ROWS + 1} has 35 fields", "it ends with the header")


@pytest.mark.parametrize("change, count", [(lambda r: r + ["x"], 19), (lambda r: r[:-3], 15)])
def test_row_with_wrong_number_of_fields_names_line_and_counts(tmp_path, schema, change, count):
    header, rows = sample(ROWS)
    rows[5] = change(rows[5])
    text = csv_text([header, *rows])
    refused(write(tmp_path, text), schema, f"line 7 has {count} fields, the header has 18")


def test_empty_spreadsheet_rows_are_named(tmp_path, schema):
    refused(write(tmp_path, taxi_text() + "," * 17 + "\n"), schema,
            f"line {ROWS + 2} has no values, only commas")


def test_unclosed_quote_is_named_not_swallowed(tmp_path, schema):
    lines = taxi_text().splitlines(keepends=True)
    lines[3] = lines[3].replace(",", ',"', 1)
    refused(write(tmp_path, "".join(lines)), schema, "line 4 opens a quoted value that is never closed")


@pytest.mark.parametrize("content, fragment", [
    ("", "the file is empty"),
    (None, "the file has a header but no rows"),
])
def test_empty_and_header_only(tmp_path, schema, content, fragment):
    text = content if content is not None else taxi_text().splitlines()[0] + "\r\n\r\n"
    refused(write(tmp_path, text), schema, fragment)


# --- the data root ------------------------------------------------------------------------

def test_data_root_that_is_a_file_says_so_and_what_to_set(tmp_path):
    path = write(tmp_path, taxi_text())
    with pytest.raises(DataError, match=r"is a file, not a folder: set pipeline.data_root to "
                                        rf"{tmp_path} \(and pipeline.input_pattern to 'data.csv'"):
        data_files(str(path), "*")


def test_data_root_that_does_not_exist(tmp_path):
    with pytest.raises(DataError, match=r"pipeline.data_root .*/nope does not exist$"):
        data_files(str(tmp_path / "nope"), "*")


def test_no_file_matches_the_pattern_says_what_is_there(tmp_path):
    write(tmp_path, "x", "taxi.xlsx")
    with pytest.raises(DataError, match=r"^no data files match '\*.csv' under .* "
                                        r"\(pipeline.input_pattern; the folder holds taxi.xlsx\)$"):
        data_files(str(tmp_path), "*.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"^no data files match '\*' under .*/empty$"):
        data_files(str(tmp_path / "empty"), "*")


@pytest.mark.parametrize("name", ["old", ".~lock.data.csv#", ".DS_Store"])
def test_pattern_matching_folders_or_lock_files_is_refused(tmp_path, name):
    write(tmp_path, taxi_text())
    if name == "old":
        (tmp_path / name).mkdir()
    else:
        write(tmp_path, ",me,host;", name)
    with pytest.raises(DataError, match=r"pipeline.input_pattern '\*' matches it.*'\*.csv'"):
        data_files(str(tmp_path), "*")


def settings(root, pattern="*"):
    return SimpleNamespace(pipeline=SimpleNamespace(
        data_root=str(root), input_pattern=pattern, max_line_bytes=65536, name="taxi"))


def test_files_with_columns_in_another_order_are_refused_by_name(tmp_path, schema):
    write(tmp_path, taxi_text(), "a.csv")
    rows = list(csv.reader(io.StringIO(taxi_text())))
    text = csv_text([[r[-1], *r[:-1]] for r in rows])
    write(tmp_path, text, "b.csv")
    with pytest.raises(DataError, match=r"b.csv: line 1 has the columns of a.csv in another order "
                                        r"\(column 1 is 'tips' here, 'pickup_community_area' there\)"):
        check_local_inputs(settings(tmp_path))


def test_only_the_newest_span_is_checked(tmp_path, schema):
    # ExampleGen ingests the newest span; an old span in an older layout must not stop the run.
    (tmp_path / "span-1").mkdir()
    (tmp_path / "span-2").mkdir()
    write(tmp_path / "span-1", taxi_text().replace("trip_miles", "miles", 1))
    write(tmp_path / "span-2", taxi_text())
    assert check_local_inputs(settings(tmp_path, "span-{SPAN}/*.csv")) == ROWS
    write(tmp_path / "span-2", taxi_text().replace("trip_miles", "miles", 1))
    with pytest.raises(DataError, match="span-2/data.csv: line 1: .*'miles' should be 'trip_miles'"):
        check_local_inputs(settings(tmp_path, "span-{SPAN}/*.csv"))


# --- through the CLI: one line, exit 3, nothing ran ----------------------------------------

def _refused_by_cli(workspace, capfd):
    code, out, err = run_cli(capfd, "run", "--pipeline", "taxi")
    lines = error_lines(err)
    assert code == 3 and len(lines) == 1, err[-2000:]
    assert "Traceback" not in err
    assert "CsvExampleGen" not in out  # no component started
    assert not (workspace.tmp / "metadata.sqlite").exists()
    assert workspace.serving_untouched()
    return lines[0]


@pytest.mark.integration
def test_cli_excel_csv_utf8_export(workspace, capfd):
    workspace.data.mkdir()
    path = write(workspace.data, b"\xef\xbb\xbf" + taxi_text(terminator="\r\n").encode())
    line = _refused_by_cli(workspace, capfd)
    assert line.startswith(f"error: {path}: the file starts with a UTF-8 byte order mark"), line


@pytest.mark.integration
def test_cli_data_root_that_is_a_file(workspace, capfd, monkeypatch):
    workspace.data.mkdir()
    path = write(workspace.data, taxi_text())
    monkeypatch.setenv("MLOPS_PIPELINE__DATA_ROOT", str(path))
    line = _refused_by_cli(workspace, capfd)
    assert line == (f"error: pipeline.data_root {path} is a file, not a folder: set "
                    f"pipeline.data_root to {workspace.data} (and pipeline.input_pattern to "
                    f"'data.csv' to read only this file)")
