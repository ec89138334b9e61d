"""CsvExampleGen with Arrow's C++ CSV reader: same inputs, same examples, same splits.

TFX's CsvExampleGen parses every line in Python (the csv module, then one tf.train.Example
proto per row built cell by cell). At 1.5M taxi rows that took 475 s, most of a 10-minute
budget. This executor reads each file with pyarrow's streaming CSV reader, infers each
column's type as CsvExampleGen does (int, else float, else string; an empty cell is a
missing value; a column with no value at all has no type) and has tfx_bsl's C++ encoder
write the tf.Examples. Each is then re-serialized deterministically (features sorted by
name, ~8 us a row): CsvExampleGen's hash split fingerprints exactly those bytes, so every
example lands in the split CsvExampleGen would put it in
(tests/unit/test_arrow_csv_example_gen.py holds it to that).

On Beam's DirectRunner (the one process that runs the component, whatever its mode) the
splits are written without a Beam pipeline, by `write_splits`: the same reading and encoding,
then TFX's own partition function per example, then `SplitWriter`
(framework/components/tfrecord_split_writer.py), which shuffles each split in blocks of
`SHUFFLE_BLOCK_ROWS` examples (a fixed seed, so a rerun writes the same files) and writes the
gzipped TFRecords itself. That replaces TFX's global shuffle: a `beam.Reshuffle()`, a
group-by-key that the DirectRunner holds whole in memory (about 3 GB of the peak at 1.5M
taxi rows, growing with the rows), and Beam's per-element work around the partition and the
write, about half of the component's time. Same examples, same splits; only the order
within the files differs, and the Trainer shuffles again as it reads. Runners with a real
shuffle service (Dataflow, Flink, Spark, a portable job server) run TFX's Beam pipeline.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from tfx.components.example_gen import component as example_gen_component
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.components.base import executor_spec

# CsvExampleGen's type lattice: a column takes the widest kind any of its cells needs.
UNKNOWN, INT, FLOAT, STRING = 0, 1, 2, 3
_INTEGER = r"^[+-]?\d+$"
# pyarrow parses CSV in blocks of this size; a row may not be longer than one block.
BLOCK_BYTES = 1 << 22
# Examples shuffled together on the DirectRunner (about 40 MB of taxi examples).
SHUFFLE_BLOCK_ROWS = 100_000
# Runners that hold a group-by-key in the memory of one process.
IN_MEMORY_SHUFFLE_RUNNERS = {"directrunner", "direct", "switchingdirectrunner",
                             "bundlebaseddirectrunner"}


def _read_batches(path: str, column_names: list[str]) -> Iterable[Any]:
    """The file's rows as record batches of string columns; empty cells are nulls."""
    import pyarrow as pa
    from apache_beam.io.filesystems import FileSystems
    from pyarrow import csv

    convert = csv.ConvertOptions(
        column_types={name: pa.string() for name in column_names},
        null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
    )
    with FileSystems.open(path) as stream:
        reader = csv.open_csv(
            stream,
            read_options=csv.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=csv.ParseOptions(newlines_in_values=True),
            convert_options=convert,
        )
        for batch in reader:
            if batch.schema.names != column_names:
                raise RuntimeError(f"{path}: header {batch.schema.names} is not {column_names}")
            yield batch


def cast_or_none(values, arrow_type):
    """`values` (strings, nulls dropped) cast to `arrow_type`, or None if any cell does not fit."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(values, arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def column_kind(column) -> int:
    """The kind of one string column (nulls are empty cells), as CsvExampleGen infers it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.utf8_trim_whitespace(column.drop_null())  # int() and float() allow spaces
    if len(values) == 0:
        return UNKNOWN
    if cast_or_none(values, pa.int64()) is not None:
        return INT
    if pc.all(pc.match_substring_regex(values, _INTEGER)).as_py():
        return STRING  # an integer outside int64: CsvExampleGen reads it as a string
    if cast_or_none(values, pa.float64()) is not None:
        return FLOAT
    return STRING


def file_column_kinds(path: str, column_names: list[str]) -> dict[str, int]:
    kinds = dict.fromkeys(column_names, UNKNOWN)
    for batch in _read_batches(path, column_names):
        for name, column in zip(column_names, batch.columns):
            if kinds[name] != STRING:
                kinds[name] = max(kinds[name], column_kind(column))
    return kinds


def merge_kinds(per_file: Iterable[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for kinds in per_file:
        for name, kind in kinds.items():
            merged[name] = max(merged.get(name, UNKNOWN), kind)
    return merged


def _list_column(column, kind: int):
    """A list column for the encoder: one value per cell, an empty list for an empty cell."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == UNKNOWN:  # no value anywhere: CsvExampleGen writes an empty Feature()
        return pa.nulls(len(column), pa.list_(pa.int64()))
    present = column.drop_null()
    if kind == STRING:
        values = pc.cast(present, pa.binary())
    else:
        values = pc.cast(pc.utf8_trim_whitespace(present), pa.int64() if kind == INT else pa.float64())
        if kind == FLOAT:
            values = pc.cast(values, pa.float32())  # tf.Example floats are float32
    counts = column.is_valid().to_numpy(zero_copy_only=False).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def encode_file(path: str, column_names: list[str], kinds: dict[str, int]) -> Iterable[bytes]:
    """Deterministically serialized tf.Examples of one CSV file, in its row order."""
    import pyarrow as pa
    from tensorflow.core.example import example_pb2
    from tfx_bsl.coders import example_coder

    parse = example_pb2.Example.FromString
    for batch in _read_batches(path, column_names):
        arrays = [_list_column(column, kinds[name]) for name, column in zip(column_names, batch.columns)]
        record_batch = pa.RecordBatch.from_arrays(arrays, column_names)
        # The encoder's feature order is its map's; the split hashes the sorted order.
        for example in example_coder.RecordBatchToExamples(record_batch):
            yield parse(example).SerializeToString(deterministic=True)


def split_files(exec_properties: dict[str, Any], split_pattern: str) -> tuple[list, list]:
    """(the CSV files of one input split, their column names), checked as CsvExampleGen does."""
    import os

    from tfx.dsl.io import fileio
    from tfx.types import standard_component_specs
    from tfx.utils import io_utils

    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    csv_files = fileio.glob(pattern)
    if not csv_files:
        raise RuntimeError(f"Split pattern {pattern} does not match any files.")
    column_names = io_utils.load_csv_column_names(csv_files[0])
    for csv_file in csv_files[1:]:
        if io_utils.load_csv_column_names(csv_file) != column_names:
            raise RuntimeError(f"Files in same split {pattern} have different header.")
    return csv_files, column_names


def _arrow_csv_to_example(pipeline, exec_properties: dict[str, Any], split_pattern: str):
    """CsvExampleGen's `_CsvToExample` contract: the split's files -> serialized examples."""
    import apache_beam as beam

    csv_files, column_names = split_files(exec_properties, split_pattern)
    files = pipeline | "CreateFilenames" >> beam.Create(csv_files)
    kinds = (
        files
        | "InferColumnKinds" >> beam.Map(file_column_kinds, column_names)
        | "MergeColumnKinds" >> beam.CombineGlobally(merge_kinds)
    )
    examples = files | "ToTFExample" >> beam.FlatMap(
        encode_file, column_names, beam.pvalue.AsSingleton(kinds)
    )
    if not _partitioned_by_feature(exec_properties):
        return examples
    # TFX's partition function reads a feature only from a proto (it refuses bytes), which
    # is what CsvExampleGen gives it; the base executor serializes the protos it writes.
    from tensorflow.core.example import example_pb2

    return examples | "ParseForPartition" >> beam.Map(example_pb2.Example.FromString)


def _partitioned_by_feature(exec_properties: dict[str, Any]) -> bool:
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    output_config = proto_utils.json_to_proto(exec_properties[specs.OUTPUT_CONFIG_KEY],
                                              example_gen_pb2.Output())
    return output_config.split_config.HasField("partition_feature_name")


def encode_split(exec_properties: dict[str, Any], split_pattern: str) -> Iterable[bytes]:
    """What `_arrow_csv_to_example` makes of one input split, without Beam."""
    csv_files, column_names = split_files(exec_properties, split_pattern)
    kinds = merge_kinds(file_column_kinds(path, column_names) for path in csv_files)
    for path in csv_files:
        yield from encode_file(path, column_names, kinds)


def hash_partition(split_config) -> Callable[[bytes], int]:
    """The output split of a serialized example: TFX's own partition function, given what
    CsvExampleGen gives it (the example as a proto when a feature names the partition)."""
    from tensorflow.core.example import example_pb2
    from tfx.components.example_gen.base_example_gen_executor import _PartitionFn

    buckets, total = [], 0
    for split in split_config.splits:
        total += split.hash_buckets
        buckets.append(total)
    if split_config.HasField("partition_feature_name"):
        parse = example_pb2.Example.FromString
        return lambda record: _PartitionFn(parse(record), len(buckets), buckets, split_config)
    return lambda record: _PartitionFn(record, len(buckets), buckets, split_config)


def write_splits(exec_properties: dict[str, Any], input_config, output_config,
                 folders: list[str]) -> list[int]:
    """ExampleGen's splits, in the order of their names, written to `folders` by
    SplitWriter; the examples written to each. One input split partitioned by hash, or
    one output split per input split, as the base executor's GenerateExamplesByBeam.
    `input_config` and `output_config` are exec_properties' own, already parsed."""
    from contextlib import ExitStack

    from framework.components.tfrecord_split_writer import SplitWriter

    with ExitStack() as stack:
        writers = [stack.enter_context(SplitWriter(folder, SHUFFLE_BLOCK_ROWS))
                   for folder in folders]
        if output_config.split_config.splits:
            if len(input_config.splits) != 1:
                raise RuntimeError("input must have only one split when output split is "
                                   "specified.")
            partition = hash_partition(output_config.split_config)
            for record in encode_split(exec_properties, input_config.splits[0].pattern):
                writers[partition(record)].add(record)
        else:
            for split, writer in zip(input_config.splits, writers):
                for record in encode_split(exec_properties, split.pattern):
                    writer.add(record)
    return [writer.records for writer in writers]


def shuffles_in_memory(beam_pipeline_args: list[str]) -> bool:
    """Whether these Beam arguments run on a runner that holds a shuffle in memory."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(beam_pipeline_args or []).view_as(StandardOptions).runner
    return runner is None or str(runner).lower() in IN_MEMORY_SHUFFLE_RUNNERS


class Executor(BaseExampleGenExecutor):
    """CsvExampleGen's executor with the Arrow reader and the C++ example encoder."""

    def GetInputSourceToExamplePTransform(self):
        import apache_beam as beam

        return beam.ptransform_fn(_arrow_csv_to_example)

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        if not shuffles_in_memory(self._beam_pipeline_args):
            return super().Do(input_dict, output_dict, exec_properties)
        self._write_without_beam(output_dict, exec_properties)

    def _write_without_beam(self, output_dict, exec_properties) -> None:
        """The base executor's Do for tf.Examples in gzipped TFRecords (all this executor
        writes), each split written by `write_splits`."""
        import logging

        from tfx.components.example_gen import utils
        from tfx.proto import example_gen_pb2
        from tfx.types import artifact_utils
        from tfx.types import standard_component_specs as specs
        from tfx.utils import proto_utils

        input_config = proto_utils.json_to_proto(exec_properties[specs.INPUT_CONFIG_KEY],
                                                 example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(exec_properties[specs.OUTPUT_CONFIG_KEY],
                                                  example_gen_pb2.Output())
        outputs = output_dict[specs.EXAMPLES_KEY]
        names = utils.generate_output_split_names(input_config, output_config)
        artifact_utils.get_single_instance(outputs).split_names = \
            artifact_utils.encode_split_names(names)
        written = write_splits(exec_properties, input_config, output_config,
                               [artifact_utils.get_split_uri(outputs, name) for name in names])
        logging.info("Examples written per split: %s", dict(zip(names, written)))
        _set_formats(outputs, exec_properties)


def _set_formats(outputs, exec_properties) -> None:
    """Record the payload and file format on the artifacts, as the base executor does."""
    from tfx.components.example_gen import write_split
    from tfx.components.util import examples_utils
    from tfx.types import standard_component_specs as specs

    payload = exec_properties.get(specs.OUTPUT_DATA_FORMAT_KEY)
    file_format = exec_properties.get(specs.OUTPUT_FILE_FORMAT_KEY)
    for artifact in outputs:
        if payload:
            examples_utils.set_payload_format(artifact, payload)
        if file_format:
            examples_utils.set_file_format(artifact, write_split.to_file_format_str(file_format))


class ArrowCsvExampleGen(example_gen_component.FileBasedExampleGen):
    """CsvExampleGen's inputs, outputs and parameters; a faster executor."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
