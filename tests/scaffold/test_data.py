"""The user's table as the CSV file a generated pipeline reads: copied, referenced or
converted, columns renamed, and checked as a run checks its inputs (no statistics here)."""

from __future__ import annotations

import csv

import pytest

from framework.core.errors import UserError
from framework.scaffold import data
from tests.scaffold.conftest import write_csv


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_column_names_become_identifiers_unique_and_in_order():
    assert data.column_names(["sepal length (cm)", "2nd", "", "a-b", "a_b", "ok"]) == [
        "sepal_length_cm", "c_2nd", "column_3", "a_b", "a_b_2", "ok"]


def test_format_comes_from_the_suffix_and_an_unknown_one_is_refused(tmp_path):
    assert data.table_format(tmp_path / "t.CSV") == "csv"
    assert data.table_format(tmp_path / "t.parquet") == "parquet"
    assert data.table_format(tmp_path / "t.tfrecord.gz") == "tfrecord"
    with pytest.raises(UserError, match=r"cannot tell the format of .*t\.xlsx from its name"):
        data.table_format(tmp_path / "t.xlsx")


def test_a_small_csv_file_is_copied_into_the_package(tmp_path):
    source = write_csv(tmp_path / "in" / "sales.csv", {"a": [1, 2], "y": ["p", "q"]})
    prepared = data.prepare(source, tmp_path / "pkg" / "data")
    assert prepared.copied and prepared.csv == tmp_path / "pkg" / "data" / "sales.csv"
    assert prepared.csv.read_bytes() == source.read_bytes()
    assert prepared.how.startswith("copied into the package (")


def test_a_large_csv_file_is_read_where_it_is(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "COPY_LIMIT_BYTES", 10)
    source = write_csv(tmp_path / "sales.csv", {"a": [1, 2], "y": ["p", "q"]})
    prepared = data.prepare(source, tmp_path / "data")
    assert not prepared.copied and prepared.csv == source
    assert not (tmp_path / "data").exists()
    assert prepared.how == ("read in place (12 bytes, over the 10 bytes copy limit): "
                            "pipeline.data_root is its folder")
    # ... unless it lies in the package that --force replaces
    assert data.prepare(source, tmp_path / "data", copy_always=True).copied


def test_a_header_that_needs_renaming_is_rewritten_in_a_copy_whatever_the_size(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(data, "COPY_LIMIT_BYTES", 10)
    source = tmp_path / "r.csv"
    source.write_text('"petal length (cm)","kind"\n1.5,"a, b"\n2.5,c\n')  # R quotes every name
    prepared = data.prepare(source, tmp_path / "data")
    assert prepared.copied and prepared.renamed == {"petal length (cm)": "petal_length_cm"}
    assert _rows(prepared.csv) == [["petal_length_cm", "kind"], ["1.5", "a, b"], ["2.5", "c"]]


def test_a_csv_file_the_pipeline_could_not_read_is_refused_naming_the_user_file(tmp_path):
    source = tmp_path / "broken.csv"
    source.write_text('a,b,y\n1,2,3\n4,"5,6\n')
    with pytest.raises(UserError) as refused:
        data.prepare(source, tmp_path / "data")
    assert str(refused.value) == (f"cannot read {source} as a CSV table: line 3 opens a quoted "
                                  f"value that is never closed: ExampleGen would read the rest of "
                                  f"the file as one value")


def test_another_delimiter_is_refused_rather_than_read_as_one_column(tmp_path):
    source = tmp_path / "excel.csv"
    source.write_text("a;b;y\n1;2;3\n")
    with pytest.raises(UserError, match="the delimiter looks like ';', not ','"):
        data.prepare(source, tmp_path / "data")


def test_parquet_is_converted_integers_with_gaps_stay_integers_and_lists_are_left_out(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"n (count)": pd.array([1, None, 3], dtype="Int64"),
                          "tags": [[1, 2], [3], []], "y": ["a", "b", None]})
    frame.to_parquet(tmp_path / "t.parquet")
    prepared = data.prepare(tmp_path / "t.parquet", tmp_path / "data")
    assert prepared.copied and prepared.csv == tmp_path / "data" / "t.csv"
    assert prepared.dropped == {"tags": "lists of values: a CSV cell holds one"}
    assert _rows(prepared.csv) == [["n_count", "y"], ["1", "a"], ["", "b"], ["3", ""]]


def test_tfrecord_of_examples_is_converted_with_floats_as_written(tmp_path):
    import tensorflow as tf

    path = tmp_path / "t.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(3):
            feature = {
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[0.1 * (i + 1)])),
                "y": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"ab"[i % 2:][:1]])),
                "many": tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 2])),
                "n": tf.train.Feature(int64_list=tf.train.Int64List(value=[i] if i else [])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature))
                         .SerializeToString())
    prepared = data.prepare(path, tmp_path / "data")
    assert prepared.dropped == {"many": "lists of values: a CSV cell holds one"}
    assert _rows(prepared.csv) == [["n", "x", "y"], ["", "0.1", "a"], ["1", "0.2", "b"],
                                   ["2", "0.3", "a"]]


def test_a_file_that_is_not_a_tfrecord_is_refused_in_one_line(tmp_path):
    path = tmp_path / "junk.tfrecord"
    path.write_bytes(b"this is not a TFRecord file at all")
    with pytest.raises(UserError) as refused:
        data.prepare(path, tmp_path / "data")
    message = str(refused.value)
    assert message.startswith(f"cannot read {path} as a TFRecord file of tf.Examples: ")
    assert "\n" not in message and "{{" not in message and "[Op:" not in message


def test_sample_rows_adds_a_row_with_a_gap_when_the_first_rows_have_none(tmp_path):
    path = write_csv(tmp_path / "t.csv", {"a": [1, 2, 3, None, 5], "y": [0, 1, 0, 1, 0]})
    rows = data.sample_rows(path, 2)
    assert [r["a"] for r in rows] == ["1.0", "2.0", ""]
