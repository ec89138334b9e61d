"""`mlops schema`: which statistics it reads, how it reads them, what it keeps.

ML-Metadata is a real SQLite store holding the records a TFX run writes for StatisticsGen
(the pipeline, run and node contexts, the execution and its output artifact with an OUTPUT
event), and the statistics are a small FeatureStats.pb in a temporary folder: no pipeline
runs. tests/integration/test_taxi_pipeline.py checks the command on a real run's store.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from framework.core.errors import UserError
from framework.pipeline.schema_tools import latest_statistics_uri, pipeline_statistics_uri, refresh_schema
from framework.settings import load_settings
from tests.doubles import signature_of

ROOT = Path(__file__).resolve().parents[2]
STATISTICS_GEN = "tfx.components.statistics_gen.component.StatisticsGen"
TRANSFORM = "tfx.components.transform.component.Transform"


def write_statistics(folder: Path, features: dict[str, str]) -> str:
    """Split-train/FeatureStats.pb under `folder` for {name: 'INT'|'FLOAT'|'STRING'}."""
    from tensorflow_metadata.proto.v0 import statistics_pb2 as st

    stats = st.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=100)
    for name, kind in features.items():
        feature = dataset.features.add(type=getattr(st.FeatureNameStatistics, kind))
        feature.path.step.append(name)
        common = st.CommonStatistics(num_non_missing=100, min_num_values=1, max_num_values=1,
                                     avg_num_values=1, tot_num_values=100)
        if kind == "STRING":
            feature.string_stats.common_stats.CopyFrom(common)
            feature.string_stats.unique = 500  # too many values for an inferred domain
        else:
            feature.num_stats.common_stats.CopyFrom(common)
    (folder / "Split-train").mkdir(parents=True)
    (folder / "Split-train" / "FeatureStats.pb").write_bytes(stats.SerializeToString())
    return str(folder)


class Store:
    """A real MLMD SQLite store, written as a TFX run writes a component's execution."""

    def __init__(self, path: Path):
        from ml_metadata.metadata_store import metadata_store
        from ml_metadata.proto import metadata_store_pb2 as pb

        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = str(path)
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.mlmd = metadata_store.MetadataStore(config)

    def _context(self, kind: str, name: str):
        from ml_metadata.proto import metadata_store_pb2 as pb

        found = self.mlmd.get_context_by_type_and_name(kind, name)
        if found is not None:
            return found
        type_id = self.mlmd.put_context_type(pb.ContextType(name=kind))
        [context_id] = self.mlmd.put_contexts([pb.Context(type_id=type_id, name=name)])
        return self.mlmd.get_contexts_by_id([context_id])[0]

    def record(self, pipeline: str, run_id: str, uri: str, *, component=STATISTICS_GEN,
               node="StatisticsGen", key="statistics", state="COMPLETE") -> None:
        """One execution of `component` in a run of `pipeline`, with ExampleStatistics at uri."""
        from ml_metadata.proto import metadata_store_pb2 as pb

        contexts = [self._context("pipeline", pipeline), self._context("pipeline_run", run_id),
                    self._context("node", f"{pipeline}.{node}")]
        execution = pb.Execution(
            type_id=self.mlmd.put_execution_type(pb.ExecutionType(name=component)),
            last_known_state=getattr(pb.Execution, state))
        artifact = pb.Artifact(
            type_id=self.mlmd.put_artifact_type(pb.ArtifactType(name="ExampleStatistics")),
            uri=uri, state=pb.Artifact.LIVE)
        event = pb.Event(type=pb.Event.OUTPUT)
        event.path.steps.add().key = key
        event.path.steps.add().index = 0
        self.mlmd.put_execution(execution, [(artifact, event)], contexts)


@pytest.fixture
def settings(tmp_path):
    return load_settings("taxi", "test", environ={
        "MLOPS_PROJECT_ROOT": str(ROOT),
        "MLOPS_METADATA__SQLITE_PATH": str(tmp_path / "metadata.sqlite")})


@pytest.fixture
def store(settings):
    return Store(Path(settings.metadata.sqlite_path))


def test_the_newest_statistics_gen_output_of_the_pipeline_is_read(settings, store, tmp_path):
    store.record("taxi", "run-1", str(tmp_path / "stats-1"))
    store.record("taxi", "run-2", str(tmp_path / "stats-2"))
    store.record("taxi", "run-3", str(tmp_path / "stats-3"), state="FAILED")
    assert latest_statistics_uri(settings) == str(tmp_path / "stats-2")


def test_two_pipelines_in_one_store_do_not_mix(settings, store, tmp_path):
    store.record("taxi", "run-1", str(tmp_path / "taxi-stats"))
    store.record("other", "run-2", str(tmp_path / "other-stats"))  # newer, another pipeline
    assert latest_statistics_uri(settings) == str(tmp_path / "taxi-stats")
    assert pipeline_statistics_uri(store.mlmd, "other") == str(tmp_path / "other-stats")


def test_statistics_of_transformed_data_are_not_the_raw_statistics(settings, store, tmp_path):
    store.record("taxi", "run-1", str(tmp_path / "raw"))
    store.record("taxi", "run-1", str(tmp_path / "transformed"), component=TRANSFORM,
                 node="Transform", key="post_transform_stats")
    assert latest_statistics_uri(settings) == str(tmp_path / "raw")


def test_no_store_yet_is_one_error_and_creates_no_store(settings):
    with pytest.raises(UserError, match="^no runs of pipeline 'taxi' recorded in ML-Metadata"):
        latest_statistics_uri(settings)
    assert not os.path.exists(settings.metadata.sqlite_path)


def test_runs_of_another_pipeline_only_are_no_runs_of_this_one(settings, store, tmp_path):
    store.record("other", "run-1", str(tmp_path / "other-stats"))
    with pytest.raises(UserError, match="^no runs of pipeline 'taxi'"):
        latest_statistics_uri(settings)


def test_runs_that_stopped_before_statistics_gen_are_one_error(settings, store, tmp_path):
    store.record("taxi", "run-1", str(tmp_path / "stats"), state="FAILED")
    with pytest.raises(UserError, match="^no StatisticsGen output of pipeline 'taxi'"):
        latest_statistics_uri(settings)


def test_refresh_keeps_curation_and_reports_changes(tmp_path):
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    curated = schema_pb2.Schema()
    fare = curated.feature.add(name="fare", type=schema_pb2.FLOAT)
    fare.float_domain.min = 0
    gone = curated.feature.add(name="old_column", type=schema_pb2.INT)
    gone.lifecycle_stage = schema_pb2.DEPRECATED
    schema_file = tmp_path / "schema" / "schema.pbtxt"
    schema_file.parent.mkdir()
    tfdv.write_schema_text(curated, str(schema_file))
    stats = write_statistics(tmp_path / "stats", {"fare": "FLOAT", "company": "STRING"})

    assert refresh_schema(stats, schema_file, write=False) == [
        "feature 'fare': presence or value counts updated", "added feature 'company'",
        "removed feature 'old_column'"]
    assert tfdv.load_schema_text(str(schema_file)) == curated  # --check writes nothing
    refresh_schema(stats, schema_file, write=True)
    written = {f.name: f for f in tfdv.load_schema_text(str(schema_file)).feature}
    assert set(written) == {"fare", "company"}
    assert written["fare"].float_domain.min == 0  # the curated domain is kept
    assert refresh_schema(stats, schema_file, write=False) == []


def test_refresh_keeps_environments_and_comparators(tmp_path):
    """The label kept out of SERVING (mlops new writes it so) must survive a refresh, or
    serving would start asking for it; so must a curated drift threshold."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    curated = schema_pb2.Schema()
    curated.default_environment.extend(["TRAINING", "SERVING"])
    label = curated.feature.add(name="tips", type=schema_pb2.FLOAT)
    label.not_in_environment.append("SERVING")
    fare = curated.feature.add(name="fare", type=schema_pb2.FLOAT)
    fare.drift_comparator.jensen_shannon_divergence.threshold = 0.1
    schema_file = tmp_path / "schema.pbtxt"
    tfdv.write_schema_text(curated, str(schema_file))
    stats = write_statistics(tmp_path / "stats", {"tips": "FLOAT", "fare": "FLOAT",
                                                  "company": "STRING"})

    refresh_schema(stats, schema_file, write=True)
    written = tfdv.load_schema_text(str(schema_file))
    features = {f.name: f for f in written.feature}
    assert list(written.default_environment) == ["TRAINING", "SERVING"]
    assert list(features["tips"].not_in_environment) == ["SERVING"]
    assert features["fare"].drift_comparator.jensen_shannon_divergence.threshold == 0.1
    assert not features["company"].not_in_environment  # a new feature is in every one
    assert refresh_schema(stats, schema_file, write=False) == []


def test_a_missing_split_is_one_error(tmp_path):
    with pytest.raises(UserError, match="^no statistics for split 'train' at .*/Split-train/"):
        refresh_schema(str(tmp_path / "empty"), tmp_path / "schema.pbtxt", write=False)


def test_statistics_in_a_bucket_are_read_through_tf_io_gfile(tmp_path, monkeypatch):
    """A gs:// statistics URI (pipeline_root in a bucket) goes to tf.io.gfile, never open()
    or pathlib. TensorFlow's GCS file system cannot be pointed at the project's emulator
    (its endpoint is fixed), so gfile is replaced by a bucket in a folder here."""
    import tensorflow as tf

    bucket = tmp_path / "bucket"
    write_statistics(bucket / "root" / "StatisticsGen" / "statistics" / "7", {"fare": "FLOAT"})
    asked = []

    def local(path: str) -> str:
        if not path.startswith("gs://"):
            return path  # the curated schema, in the pipeline's folder
        asked.append(path)
        return str(bucket / path[len("gs://portable-mlops/"):])

    real_gfile = tf.io.gfile.GFile
    monkeypatch.setattr(tf.io.gfile, "exists", signature_of(tf.io.gfile.exists)(
        lambda path: os.path.exists(local(path))))
    monkeypatch.setattr(tf.io.gfile, "GFile", signature_of(real_gfile)(
        lambda name, mode="r": real_gfile(local(name), mode)))

    changes = refresh_schema("gs://portable-mlops/root/StatisticsGen/statistics/7",
                             tmp_path / "schema.pbtxt", write=True)
    assert changes == ["added feature 'fare'"]
    expected = "gs://portable-mlops/root/StatisticsGen/statistics/7/Split-train/FeatureStats.pb"
    assert asked == [expected, expected]  # exists, then read


def test_the_command_reads_the_pipelines_statistics_and_errors_in_one_line(
        settings, store, tmp_path, monkeypatch, capsys):
    from framework.cli import main

    for name in [n for n in os.environ if n.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(ROOT))
    monkeypatch.setenv("MLOPS_METADATA__SQLITE_PATH", settings.metadata.sqlite_path)
    assert main(["schema", "--pipeline", "taxi", "--env", "test", "--check"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: no runs of pipeline 'taxi' recorded in ML-Metadata "
        f"(SQLite {settings.metadata.sqlite_path}): run `mlops run --pipeline taxi` first"]

    stats = write_statistics(tmp_path / "stats", {"fare": "FLOAT"})
    store.record("taxi", "run-1", stats)
    schema_file = ROOT / "pipelines" / "taxi" / "schema" / "schema.pbtxt"
    before = schema_file.read_bytes()
    assert main(["schema", "--pipeline", "taxi", "--env", "test", "--check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"statistics: {stats}\n{schema_file}: would change:\n")
    assert schema_file.read_bytes() == before
