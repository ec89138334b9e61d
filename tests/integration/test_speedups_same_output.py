"""framework/core/speedups.py changes how fast a run is, never what it computes.

The taxi pipeline runs twice on the sample data: the session's run, with the speedups (as
every run), then in a copy of its workspace with MLOPS_SPEEDUPS=0 and --no-cache, so every
component runs again.
The model is not seeded, so the two Trainers fit different weights: what is compared is what
is deterministic given the same input, settings and code, and would differ if a work-around
changed a result:

- the examples and their statistics (ExampleGen, StatisticsGen: hash splits, no randomness);
- the Transform graph's analysis (vocabularies, schema) and what it makes of the same rows;
- the models' signatures (the same function of the same inputs, whatever the weights);
- the first model's metrics: the second run's Evaluator scores that model again, as the
  blessed baseline, with the speedups off (TFMA calls its signatures, which one work-around
  changes), on the same eval split. Same model, same rows: equal up to float summation order.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import mlops, workspace_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def two_runs(taxi_run, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("speedups")
    # The copy's store still points at the session run's outputs (read, never written), and
    # the run without speedups writes its own under the copy's pipeline root.
    shutil.copytree(taxi_run.workdir / "pipeline_root", workdir / "pipeline_root")
    shutil.copy(taxi_run.workdir / "metadata.sqlite", workdir / "metadata.sqlite")
    env = workspace_env(workdir, MLOPS_SPEEDUPS="0")
    off = mlops("run", "--pipeline", "taxi", "--no-cache", env=env, json_out=workdir / "off.json")
    assert off.returncode == 0, off.output[-3000:]
    assert off.result["cached"] == [], off.result  # every component ran with speedups off
    return workdir / "pipeline_root"


def outputs(root: Path, component: str, output: str) -> tuple[Path, Path]:
    """The output folders of the session's first run (speedups on) and of the run without,
    in that order (MLMD numbers executions in order; the first run's are the lowest)."""
    runs = sorted((root / component / output).iterdir(), key=lambda p: int(p.name))
    assert len(runs) >= 2, runs
    return runs[0], runs[-1]


def records(folder: Path) -> list[bytes]:
    """The serialized records of a split's gzipped TFRecord files, in a stable order."""
    import tensorflow as tf

    files = sorted(str(p) for p in folder.iterdir())
    return sorted(r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def test_examples_and_statistics_are_the_same(two_runs):
    on, off = outputs(two_runs, "CsvExampleGen", "examples")
    for split in ("Split-train", "Split-eval"):
        assert records(on / split) == records(off / split), split
    on, off = outputs(two_runs, "StatisticsGen", "statistics")
    for split in ("Split-train", "Split-eval"):
        # Counts, quantiles, histograms equal; means and deviations are sums Beam may combine
        # in another order from one run to the next (seen: the last digit of a mean).
        first, second = _statistics(on / split), _statistics(off / split)
        assert first.keys() == second.keys(), split
        exact = {k for k, v in first.items() if not isinstance(v, float)}
        assert {k: first[k] for k in exact} == {k: second[k] for k in exact}, split
        floats = {k: first[k] for k in first.keys() - exact}
        assert floats == pytest.approx({k: second[k] for k in floats}, rel=1e-12), split


def _statistics(split: Path) -> dict:
    """Every value of a split's statistics by its path in the proto."""
    from google.protobuf import json_format
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString((split / "FeatureStats.pb").read_bytes())
    flat = {}

    def walk(value, path):
        if isinstance(value, (dict, list)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, sub in items:
                walk(sub, f"{path}/{key}")
        else:
            flat[path] = value

    walk(json_format.MessageToDict(stats), "")
    return flat


def _transformed(transform_graph: Path, examples: list[bytes]) -> dict:
    import tensorflow as tf
    import tensorflow_transform as tft

    output = tft.TFTransformOutput(str(transform_graph))
    raw = tf.io.parse_example(tf.constant(examples), output.raw_feature_spec())
    return {k: v.numpy() for k, v in output.transform_raw_features(raw).items()}


def test_transform_analysis_and_its_output_are_the_same(two_runs):
    import numpy as np

    on, off = outputs(two_runs, "Transform", "transform_graph")
    assets_on, assets_off = on / "transform_fn" / "assets", off / "transform_fn" / "assets"
    assert sorted(p.name for p in assets_on.iterdir()) == sorted(p.name for p in assets_off.iterdir())
    for vocabulary in assets_on.iterdir():
        assert vocabulary.read_bytes() == (assets_off / vocabulary.name).read_bytes()
    schema = Path("transformed_metadata") / "schema.pbtxt"
    assert (on / schema).read_text() == (off / schema).read_text()
    examples, _ = outputs(two_runs, "CsvExampleGen", "examples")
    rows = records(examples / "Split-eval")[:500]
    first, second = _transformed(on, rows), _transformed(off, rows)
    assert first.keys() == second.keys()
    # Means and variances are float32 sums over the same rows, maybe in another order, so
    # they can differ in their last bits. A scaled value near zero then differs by a few
    # float32 steps of the unit scale (about 1e-7 each) and a lot relatively: hence atol.
    for name in first:
        np.testing.assert_allclose(first[name], second[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def _signatures(model: Path) -> dict:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    loaded = tf.saved_model.load(str(model / "Format-Serving"))
    return {name: (str(f.structured_input_signature), str(f.structured_outputs))
            for name, f in loaded.signatures.items()}


def test_the_models_have_the_same_signatures(two_runs):
    on, off = outputs(two_runs, "Trainer", "model")
    assert _signatures(on) == _signatures(off)


def _metrics(evaluation: Path, model_name: str) -> dict:
    import tensorflow_model_analysis as tfma

    values = {}
    for per_slice in tfma.load_metrics(str(evaluation)):
        for key_value in per_slice.metric_keys_and_values:
            key = key_value.key
            if key.model_name == model_name and not key.is_diff:
                slice_key = per_slice.slice_key.SerializeToString(deterministic=True)
                values[(slice_key, key.name)] = key_value.value.double_value.value
    return values


def test_the_first_model_scores_the_same_without_the_speedups(two_runs):
    on, off = outputs(two_runs, "Evaluator", "evaluation")
    scored_with = _metrics(on, "")  # the first run: the candidate alone, no model name
    scored_without = _metrics(off, "baseline")  # the same model, as the second's baseline
    assert scored_with and scored_with.keys() == scored_without.keys()
    assert scored_with == pytest.approx(scored_without, rel=1e-6, abs=1e-9)
