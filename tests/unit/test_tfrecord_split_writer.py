"""SplitWriter: gzipped TFRecord files that TensorFlow's and Beam's readers both read back
record for record, checksums equal to Beam's, a bounded seeded shuffle, and no finished-looking
file after a failure."""

from __future__ import annotations

import pytest

from framework.components.tfrecord_split_writer import (
    FILE_NAME,
    BlockShuffle,
    SplitWriter,
    masked_crc32c,
)

RECORDS = [b"", b"x", bytes(range(256)) * 5, *(f"example {i}".encode() for i in range(997))]


def write(folder, records, block_rows=100) -> SplitWriter:
    with SplitWriter(str(folder), block_rows) as writer:
        for record in records:
            writer.add(record)
    return writer


@pytest.mark.parametrize("value", [b"", b"a", b"\x00" * 8, bytes(range(256)) * 40])
def test_checksums_are_beams_masked_crc32c(value):
    from apache_beam.io.tfrecordio import _TFRecordUtil

    assert masked_crc32c(value) == _TFRecordUtil._masked_crc32c(value)


def test_tensorflow_reads_back_every_record_and_the_file_is_named_as_beams(tmp_path):
    import tensorflow as tf

    writer = write(tmp_path / "split", RECORDS)
    assert [p.name for p in (tmp_path / "split").iterdir()] == [FILE_NAME]
    read = [r.numpy() for r in tf.data.TFRecordDataset(writer.path, compression_type="GZIP")]
    assert sorted(read) == sorted(RECORDS) and writer.records == len(RECORDS)


def test_beams_tfrecord_reader_reads_back_every_record(tmp_path):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    writer = write(tmp_path / "split", RECORDS)
    with beam.Pipeline() as pipeline:
        read = pipeline | beam.io.ReadFromTFRecord(writer.path)
        assert_that(read, equal_to(RECORDS))


def test_records_are_shuffled_within_blocks_only_and_the_same_on_every_run(tmp_path):
    import tensorflow as tf

    records = [f"{i:04d}".encode() for i in range(250)]
    orders = []
    for run in ("a", "b"):
        writer = write(tmp_path / run, records, block_rows=100)
        orders.append([r.numpy() for r in tf.data.TFRecordDataset(writer.path, "GZIP")])
    assert orders[0] == orders[1] != records
    assert sorted(orders[0][:100]) == records[:100]  # a block leaves whole, in block order
    assert sorted(orders[0][200:]) == records[200:]


def test_block_shuffle_holds_at_most_one_block():
    shuffle = BlockShuffle(block_rows=10, seed=0)
    out = []
    for i in range(25):
        ready = shuffle.add(i)
        assert len(ready) in (0, 10)
        out += ready
    out += shuffle.flush()
    assert sorted(out) == list(range(25)) and out != list(range(25))


def test_a_failure_while_writing_leaves_no_file_behind(tmp_path):
    folder = tmp_path / "split"
    with pytest.raises(RuntimeError, match="reading failed"):
        with SplitWriter(str(folder), 10) as writer:
            for record in RECORDS[:50]:
                writer.add(record)
            raise RuntimeError("reading failed")
    assert list(folder.iterdir()) == []
