"""Bad input data: one clear error line, a non-zero exit, nothing pushed, nothing overwritten.

Files CsvExampleGen cannot read are stopped by the pre-run data check; readable files whose
content breaks the schema are stopped by the validation gate before Transform and Trainer.
"""

import pytest

from tests.reliability.conftest import error_lines, run_cli, sample, write_csv

pytestmark = pytest.mark.integration


def _run(workspace, capfd):
    code, out, err = run_cli(capfd, "run", "--pipeline", "taxi")
    lines = error_lines(err)
    assert code != 0, out[-2000:]
    assert len(lines) == 1, err[-2000:]
    assert workspace.serving_untouched()
    assert "Traceback" not in err
    return code, lines[0], out


# --- files ExampleGen cannot read: stopped before the run starts -------------------------

def test_empty_file(workspace, capfd):
    workspace.data.mkdir()
    (workspace.data / "data.csv").write_bytes(b"")
    code, line, out = _run(workspace, capfd)
    assert code == 3 and "the file is empty" in line
    assert "CsvExampleGen" not in out  # no component started


def test_header_only(workspace, capfd):
    header, _ = sample()
    write_csv(workspace.data, header, [])
    code, line, _ = _run(workspace, capfd)
    assert code == 3 and "has a header but no rows" in line


def test_non_utf8_bytes(workspace, capfd):
    header, rows = sample(50)
    path = write_csv(workspace.data, header, rows)
    path.write_bytes(path.read_bytes().replace(b"Credit Card", b"Cr\xe9dit Card", 1))
    code, line, _ = _run(workspace, capfd)
    assert code == 3 and "is not UTF-8" in line and "line " in line


def test_very_long_line(workspace, capfd):
    header, rows = sample(50)
    rows[10][header.index("company")] = "x" * 100_000
    write_csv(workspace.data, header, rows)
    code, line, _ = _run(workspace, capfd)
    assert code == 3 and "line 12 is" in line and "pipeline.max_line_bytes" in line


def test_row_with_wrong_number_of_fields(workspace, capfd):
    header, rows = sample(50)
    rows[5] = rows[5][:-3]
    write_csv(workspace.data, header, rows)
    code, line, _ = _run(workspace, capfd)
    assert code == 3 and "line 7 has" in line


def test_missing_column(workspace, capfd):
    header, rows = sample()
    i = header.index("trip_miles")
    write_csv(workspace.data, header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in rows])
    code, line, out = _run(workspace, capfd)
    assert code == 3 and "line 1: the header does not match" in line and "'trip_miles' missing" in line
    assert "CsvExampleGen" not in out


# --- readable files whose content breaks the schema: stopped by the validation gate ------

def _gate_stop(workspace, capfd, mutate, column):
    header, rows = sample()
    header, rows = mutate(header, rows)
    write_csv(workspace.data, header, rows)
    code, line, out = _run(workspace, capfd)
    assert code == 3
    assert "stopped before Transform and Trainer" in line and f"column '{column}'" in line
    assert "Transform " not in out and "Trainer " not in out  # never started
    return line


def test_extra_column(workspace, capfd):
    def add(header, rows):
        return header + ["driver_rating"], [r + ["5"] for r in rows]

    _gate_stop(workspace, capfd, add, "driver_rating")


def test_wrong_type(workspace, capfd):
    def text_fares(header, rows):
        for row in rows:
            row[header.index("fare")] = "twelve dollars"
        return header, rows

    _gate_stop(workspace, capfd, text_fares, "fare")


def test_nan_and_infinite_values(workspace, capfd):
    def poison(header, rows):
        rows[3][header.index("trip_miles")] = "nan"
        rows[4][header.index("trip_miles")] = "inf"
        return header, rows

    _gate_stop(workspace, capfd, poison, "trip_miles")


def test_missing_labels(workspace, capfd):
    def unlabel(header, rows):
        for row in rows[::3]:
            row[header.index("tips")] = ""
        return header, rows

    _gate_stop(workspace, capfd, unlabel, "tips")


def test_new_categorical_value(workspace, capfd):
    def bitcoin(header, rows):
        for row in rows[:40]:
            row[header.index("payment_type")] = "Bitcoin"
        return header, rows

    _gate_stop(workspace, capfd, bitcoin, "payment_type")
