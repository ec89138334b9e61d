"""The Evaluator's lean extractors (framework/components/lean_evaluation.py): only what no
metric or slice reads is dropped, and TFMA's metrics per slice come out the same."""

from __future__ import annotations

import numpy as np
import pytest

from framework.components.lean_evaluation import custom_extractors, keep_only, read_features


def _config(slices=("hour",)):
    import tensorflow_model_analysis as tfma

    # Model-agnostic: the prediction is a feature of the example, so no model is needed.
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(prediction_key="score", label_key="label")],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[s]) for s in slices],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name=c) for c in ("AUC", "ExampleCount", "BinaryAccuracy")])])


def test_slice_columns_and_ranking_query_keys_are_what_is_read():
    import tensorflow_model_analysis as tfma

    config = _config(slices=("hour",))
    config.slicing_specs.append(tfma.SlicingSpec(feature_values={"company": "Flash Cab"}))
    config.cross_slicing_specs.append(tfma.CrossSlicingSpec(
        baseline_spec=tfma.SlicingSpec(feature_keys=["day"]),
        slicing_specs=[tfma.SlicingSpec(feature_keys=["month"])]))
    config.metrics_specs.append(tfma.MetricsSpec(query_key="session"))
    assert read_features(config) == {"hour", "company", "day", "month", "session"}
    assert read_features(_config(slices=())) == frozenset()


def test_serialized_examples_and_unread_features_are_dropped_the_rest_kept():
    batch = {
        "input": np.array([b"ex1", b"ex2"]),
        "features": {"hour": np.array([[1], [2]]), "fare": np.array([[3.0], [4.0]])},
        "transformed_features": {"hour": np.array([1, 2]), "fare_xf": np.array([0.1, 0.2])},
        "labels": np.array([0.0, 1.0]),
        "predictions": np.array([[0.2], [0.9]]),
        "example_weights": np.array([1.0, 1.0]),
    }
    lean = keep_only(batch, frozenset({"hour"}))
    assert set(lean) == {"features", "transformed_features", "labels", "predictions",
                         "example_weights"}
    assert list(lean["features"]) == ["hour"] and list(lean["transformed_features"]) == ["hour"]
    assert lean["labels"] is batch["labels"] and lean["predictions"] is batch["predictions"]
    assert "fare" in batch["features"], "the batch given is left as it was"


def test_transformed_features_of_two_models_are_filtered_per_model():
    batch = {"transformed_features": {
        "candidate": {"hour_xf": np.array([1]), "fare_xf": np.array([0.1])},
        "baseline": {"hour_xf": np.array([1]), "fare_xf": np.array([0.1])}}}
    lean = keep_only(batch, frozenset({"hour_xf"}))
    assert {m: list(f) for m, f in lean["transformed_features"].items()} == {
        "candidate": ["hour_xf"], "baseline": ["hour_xf"]}


def test_the_drop_runs_right_before_the_per_example_split():
    from tensorflow_model_analysis.extractors import unbatch_extractor

    names = [e.stage_name for e in custom_extractors(
        eval_shared_model=None, eval_config=_config(), tensor_adapter_config=None)]
    split = names.index(unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME)
    assert names[split - 1] == "DropWhatNoMetricOrSliceReads"
    assert names.count("DropWhatNoMetricOrSliceReads") == 1


def _examples(n: int) -> list[bytes]:
    import tensorflow as tf

    rng = np.random.default_rng(7)
    examples = []
    for i in range(n):
        label = float(rng.random() < 0.4)
        feature = {
            "label": tf.train.Feature(float_list=tf.train.FloatList(value=[label])),
            "score": tf.train.Feature(float_list=tf.train.FloatList(
                value=[float(np.clip(0.3 * label + rng.random() * 0.7, 0, 1))])),
            "hour": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 5])),
            "fare": tf.train.Feature(float_list=tf.train.FloatList(value=[rng.random() * 40])),
            "company": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"Flash Cab"])),
        }
        examples.append(tf.train.Example(
            features=tf.train.Features(feature=feature)).SerializeToString())
    return examples


def _metrics_per_slice(tmp_path, name: str, extractors) -> dict:
    import apache_beam as beam
    import tensorflow_model_analysis as tfma
    from tfx_bsl.tfxio import tf_example_record

    config, out = _config(), str(tmp_path / name)
    tfxio = tf_example_record.TFExampleBeamRecord(
        physical_format="inmem", telemetry_descriptors=["test"],
        raw_record_column_name=tfma.constants.ARROW_INPUT_COLUMN)
    with beam.Pipeline() as p:
        _ = (p | beam.Create(_examples(600)) | tfxio.BeamSource()
             | tfma.ExtractEvaluateAndWriteResults(
                 eval_config=config, output_path=out,
                 extractors=extractors(config) if extractors else None))
    return dict(tfma.load_eval_result(out).slicing_metrics)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_slice_gets_the_same_metrics_as_with_tfma_defaults(tmp_path):
    lean = _metrics_per_slice(tmp_path, "lean", lambda config: custom_extractors(
        eval_shared_model=None, eval_config=config, tensor_adapter_config=None))
    default = _metrics_per_slice(tmp_path, "default", None)
    assert len(default) == 6, "overall and one slice per hour"
    assert lean == default
