"""ArrowCsvExampleGen against TFX's own CsvExampleGen executor: byte-identical examples in the
same splits, on the shipped taxi sample and on the awkward files TFX tests its reader with."""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import taxi_csv

TFX_TESTDATA = "tfx/components/testdata/external"


def _tfx_testdata(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("tfx")
    return Path(list(spec.submodule_search_locations)[0]).parent / TFX_TESTDATA / name


def _split_config(**splits):
    from tfx.proto import example_gen_pb2

    return example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
        for name, buckets in splits.items()])


def _run_executor(executor, input_dir: Path, out_dir: Path, input_config=None,
                  output_config=None) -> dict[str, list[bytes]]:
    """Run an ExampleGen executor as the component would; per split, its examples serialized
    deterministically (CsvExampleGen writes each in its proto map's own feature order).
    By default one input split, hashed 4:1 into train and eval."""
    import tensorflow as tf
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    examples = standard_artifacts.Examples()
    examples.uri = str(out_dir)
    input_config = input_config or example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single", pattern="*")])
    output_config = output_config or example_gen_pb2.Output(
        split_config=_split_config(train=4, eval=1))
    properties = {
        specs.INPUT_BASE_KEY: str(input_dir),
        specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
        specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output_config),
    }
    executor.Do({}, {specs.EXAMPLES_KEY: [examples]}, properties)
    out = {}
    for split in artifact_utils.decode_split_names(examples.split_names):
        files = sorted(str(p) for p in (out_dir / f"Split-{split}").glob("*.gz"))
        out[split] = [
            tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")
        ]
    return out


def _both(input_dir: Path, tmp_path: Path, **configs):
    from tfx.components.example_gen.csv_example_gen import executor as tfx_csv

    from framework.components import arrow_csv_example_gen as arrow

    theirs = _run_executor(tfx_csv.Executor(), input_dir, tmp_path / "tfx", **configs)
    ours = _run_executor(arrow.Executor(), input_dir, tmp_path / "arrow", **configs)
    return theirs, ours


def _taxi_rows(folder: Path, rows: int) -> Path:
    """The first `rows` rows of the taxi sample, as folder/data.csv."""
    lines = taxi_csv().read_text().splitlines(keepends=True)
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("".join(lines[:rows + 1]))
    return folder


@pytest.mark.parametrize("name", ["csv_empty", "csv_multi_line_string"])
def test_awkward_files_give_the_examples_and_splits_of_csv_example_gen(name, tmp_path):
    theirs, ours = _both(_tfx_testdata(name), tmp_path)
    assert sum(len(v) for v in ours.values()) == 3
    for split in ("train", "eval"):
        assert sorted(ours[split]) == sorted(theirs[split]), split


def test_taxi_sample_gives_byte_identical_examples_in_the_same_splits(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(taxi_csv(), data / "data.csv")
    theirs, ours = _both(data, tmp_path)
    assert len(ours["train"]) + len(ours["eval"]) == len(theirs["train"]) + len(theirs["eval"]) > 14000
    assert len(ours["eval"]) > 2000  # a real 4:1 hash split, not everything in one split
    for split in ("train", "eval"):
        assert sorted(ours[split]) == sorted(theirs[split]), split


@pytest.mark.parametrize("in_memory", [True, False], ids=["without-beam", "beam-pipeline"])
def test_a_split_by_a_feature_puts_each_example_where_csv_example_gen_does(in_memory, tmp_path):
    from unittest import mock

    from tfx.proto import example_gen_pb2

    from framework.components import arrow_csv_example_gen as arrow

    data = _taxi_rows(tmp_path / "data", 3000)
    split_config = _split_config(train=2, eval=1)
    split_config.partition_feature_name = "company"
    with mock.patch.object(arrow, "shuffles_in_memory", autospec=True, return_value=in_memory):
        theirs, ours = _both(data, tmp_path, output_config=example_gen_pb2.Output(
            split_config=split_config))
    assert len(ours["eval"]) > 300 and len(ours["train"]) > 300
    for split in ("train", "eval"):
        assert sorted(ours[split]) == sorted(theirs[split]), split


def test_input_splits_by_file_pattern_give_csv_example_gens_splits(tmp_path):
    from tfx.proto import example_gen_pb2

    data = tmp_path / "data"
    for split, rows in (("train", slice(1, 3001)), ("eval", slice(3001, 4001))):
        lines = taxi_csv().read_text().splitlines(keepends=True)
        (data / split).mkdir(parents=True)
        (data / split / "part.csv").write_text(lines[0] + "".join(lines[rows]))
    input_config = example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name="train", pattern="train/*"),
        example_gen_pb2.Input.Split(name="eval", pattern="eval/*")])
    theirs, ours = _both(data, tmp_path, input_config=input_config,
                         output_config=example_gen_pb2.Output())
    assert (len(ours["train"]), len(ours["eval"])) == (3000, 1000)
    for split in ("train", "eval"):
        assert sorted(ours[split]) == sorted(theirs[split]), split


def _kinds_of(cells: list[str]) -> tuple[int, int]:
    """(our kind, CsvExampleGen's kind) of one column holding `cells`."""
    import pyarrow as pa
    from tfx_bsl.coders import csv_decoder

    from framework.components.arrow_csv_example_gen import column_kind

    column = pa.array([c if c else None for c in cells], pa.string())
    theirs = max(
        (csv_decoder._InferValueType(c.encode()) for c in cells),
        key=lambda t: [csv_decoder.ColumnType.UNKNOWN, csv_decoder.ColumnType.INT,
                       csv_decoder.ColumnType.FLOAT, csv_decoder.ColumnType.STRING].index(t),
    )
    names = {csv_decoder.ColumnType.UNKNOWN: 0, csv_decoder.ColumnType.INT: 1,
             csv_decoder.ColumnType.FLOAT: 2, csv_decoder.ColumnType.STRING: 3}
    return column_kind(column), names[theirs]


@pytest.mark.parametrize("cells", [
    ["1", "", "-7"],                       # int with a missing cell
    ["1", "2.5"],                          # int widened to float
    ["1e3", "-0.5", ".5"],                 # float spellings
    ["nan", "inf", "1"],                   # Python's float() reads these
    [" 12", "13 "],                        # int() allows surrounding spaces
    ["99999999999999999999", "1"],         # beyond int64: a string, as in CsvExampleGen
    ["1", "x"],                            # any text makes a string column
    ["", ""],                              # no value at all
])
def test_column_type_inference_matches_csv_example_gen(cells):
    ours, theirs = _kinds_of(cells)
    assert ours == theirs


def test_a_row_with_too_few_fields_stops_the_executor_with_the_file_named(tmp_path):
    from framework.components import arrow_csv_example_gen as arrow

    data = tmp_path / "data"
    data.mkdir()
    (data / "bad.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(Exception, match="Expected 2 columns, got 1"):
        _run_executor(arrow.Executor(), data, tmp_path / "out")


def test_component_keeps_csv_example_gen_spec():
    from tfx.components import CsvExampleGen

    from framework.components.arrow_csv_example_gen import ArrowCsvExampleGen, Executor

    gen = ArrowCsvExampleGen(input_base="/data")
    assert type(gen).SPEC_CLASS is CsvExampleGen.SPEC_CLASS
    assert gen.executor_spec.executor_class is Executor
    assert os.path.basename(gen.exec_properties["input_base"]) == "data"


@pytest.mark.parametrize("args, in_memory", [
    ([], True),
    (["--runner=DirectRunner", "--direct_running_mode=multi_processing"], True),
    (["--runner=DataflowRunner", "--project=p"], False),
    (["--runner=FlinkRunner"], False),
    (["--runner=PortableRunner", "--job_endpoint=localhost:8099"], False),
])
def test_only_the_direct_runner_gets_the_bounded_shuffle(args, in_memory):
    from framework.components.arrow_csv_example_gen import shuffles_in_memory

    assert shuffles_in_memory(args) is in_memory


def test_the_direct_runner_writes_the_taxi_sample_without_a_beam_pipeline(tmp_path):
    """On the DirectRunner no Beam pipeline runs at all (so no Reshuffle holds a split in
    memory), and the examples are still TFX's (the other tests compare them byte for byte)."""
    from unittest import mock

    import apache_beam as beam

    from framework.components import arrow_csv_example_gen as arrow

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(taxi_csv(), data / "data.csv")
    with mock.patch.object(beam.Pipeline, "run", autospec=True,
                           side_effect=AssertionError("a Beam pipeline ran")) as run:
        ours = _run_executor(arrow.Executor(), data, tmp_path / "out")
    run.assert_not_called()
    assert len(ours["train"]) + len(ours["eval"]) > 14000
    assert sorted(p.name for p in (tmp_path / "out" / "Split-train").iterdir()) == [
        "data_tfrecord-00000-of-00001.gz"]


def test_a_runner_with_a_shuffle_service_gets_tfxs_beam_pipeline(tmp_path):
    """Elsewhere (here a portable runner, stood in for by the DirectRunner's own pipeline)
    the base executor's Beam pipeline writes the splits, with the same examples."""
    from unittest import mock

    from framework.components import arrow_csv_example_gen as arrow

    data = _taxi_rows(tmp_path / "data", 3000)
    executor = arrow.Executor()
    without_beam = mock.create_autospec(arrow.write_splits)
    with mock.patch.object(arrow, "shuffles_in_memory", autospec=True, return_value=False), \
            mock.patch.object(arrow, "write_splits", without_beam):
        ours = _run_executor(executor, data, tmp_path / "beam")
    without_beam.assert_not_called()
    theirs = _run_executor(arrow.Executor(), data, tmp_path / "direct")
    for split in ("train", "eval"):
        assert sorted(ours[split]) == sorted(theirs[split]), split
