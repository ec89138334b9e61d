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


def _run_executor(executor, input_dir: Path, out_dir: Path) -> dict[str, list[bytes]]:
    """Run an ExampleGen executor as the component would; per split, its examples serialized
    deterministically (CsvExampleGen writes each in its proto map's own feature order)."""
    import tensorflow as tf
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    examples = standard_artifacts.Examples()
    examples.uri = str(out_dir)
    properties = {
        specs.INPUT_BASE_KEY: str(input_dir),
        specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single", pattern="*")])),
        specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
            ]))),
    }
    executor.Do({}, {specs.EXAMPLES_KEY: [examples]}, properties)
    out = {}
    for split in ("train", "eval"):
        files = sorted(str(p) for p in (out_dir / f"Split-{split}").glob("*.gz"))
        out[split] = [
            tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")
        ]
    return out


def _both(input_dir: Path, tmp_path: Path):
    from tfx.components.example_gen.csv_example_gen import executor as tfx_csv

    from framework.components import arrow_csv_example_gen as arrow

    theirs = _run_executor(tfx_csv.Executor(), input_dir, tmp_path / "tfx")
    ours = _run_executor(arrow.Executor(), input_dir, tmp_path / "arrow")
    return theirs, ours


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


def test_block_shuffle_keeps_every_element_and_shuffles_only_within_blocks():
    from framework.components.arrow_csv_example_gen import BlockShuffle

    shuffle = BlockShuffle(block_rows=10, seed=0)
    shuffle.start()
    out = [e for i in range(25) for e in shuffle.add(i)] + shuffle.flush()
    assert sorted(out) == list(range(25))
    assert out != list(range(25))
    # Blocks of ten leave in order: the first ten out are the first ten in.
    assert sorted(out[:10]) == list(range(10)) and sorted(out[10:20]) == list(range(10, 20))


def test_block_shuffle_gives_the_same_order_on_every_run():
    from framework.components.arrow_csv_example_gen import BlockShuffle

    def order():
        shuffle = BlockShuffle(block_rows=50, seed=0)
        shuffle.start()
        return [e for i in range(120) for e in shuffle.add(i)] + shuffle.flush()

    assert order() == order()


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


def test_the_direct_runner_writes_the_taxi_sample_without_a_reshuffle_in_its_pipeline(tmp_path):
    """The bounded path really runs (no Reshuffle step in the executed Beam graph) and still
    writes TFX's examples (the other tests compare them byte for byte)."""
    from unittest import mock

    import apache_beam as beam

    from framework.components import arrow_csv_example_gen as arrow

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(taxi_csv(), data / "data.csv")
    labels: list[str] = []
    real_apply = beam.Pipeline.apply

    def spy(pipeline, transform, pvalueish=None, label=None):
        labels.append(label or transform.label)
        return real_apply(pipeline, transform, pvalueish, label)

    with mock.patch.object(beam.Pipeline, "apply", autospec=True, side_effect=spy):
        ours = _run_executor(arrow.Executor(), data, tmp_path / "out")
    assert any("BlockShuffle" in label for label in labels)
    # TFX's WriteSplit applies 'Shuffle' (a Reshuffle of every example); beam.Create's own
    # MaybeReshuffle only moves the file names.
    assert "Shuffle" not in labels and "Reshuffle" not in labels
    assert len(ours["train"]) + len(ours["eval"]) > 14000
