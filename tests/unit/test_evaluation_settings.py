"""evaluation.*: neutral defaults, and a metric or slice the model or data lacks is an error
when the pipeline is built (framework/pipeline/pipeline_support.py `eval_config`)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from framework.core.errors import SettingsError
from framework.pipeline.pipeline_support import check_evaluation, eval_config
from framework.settings.model import DecaySection, EvaluationSection
from tests.conftest import ROOT, mlops, workspace_env

TAXI_SCHEMA = ROOT / "pipelines" / "taxi" / "schema" / "schema.pbtxt"


def _settings(**evaluation) -> SimpleNamespace:
    return SimpleNamespace(source="settings.yaml [test]",
                           evaluation=EvaluationSection(**evaluation))


def test_defaults_name_no_taxi_column_or_metric():
    ev = EvaluationSection()
    assert ev.slices == [] and ev.metric is None
    assert ev.lower_bound is None and ev.upper_bound is None
    assert DecaySection().metric is None


def test_taxi_sets_its_metric_and_slices_explicitly():
    from framework.settings import load_settings

    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    ev = load_settings("taxi", "local", environ=environ).evaluation
    assert (ev.metric, ev.slices, ev.lower_bound) == ("binary_accuracy", ["trip_start_hour"], 0.6)


def test_unset_metric_is_an_error_naming_the_key():
    with pytest.raises(SettingsError, match=r"key 'evaluation.metric'.*nothing is set"):
        check_evaluation(_settings(), "binary", TAXI_SCHEMA)


@pytest.mark.parametrize("task, metric", [("binary", "root_mean_squared_error"),
                                          ("regression", "binary_accuracy"),
                                          ("multiclass", "auc")])
def test_a_metric_the_task_cannot_have_is_an_error(task, metric):
    with pytest.raises(SettingsError, match=rf"key 'evaluation.metric': a {task} model .*"
                                            rf"got '{metric}'"):
        check_evaluation(_settings(metric=metric), task, TAXI_SCHEMA)


def test_a_slice_column_the_schema_lacks_is_an_error():
    settings = _settings(metric="auc", slices=["trip_start_hour", "no_such_column"])
    with pytest.raises(SettingsError, match=r"key 'evaluation.slices': no column "
                                            r"no_such_column in the pipeline's schema"):
        check_evaluation(settings, "binary", TAXI_SCHEMA)


def test_regression_blesses_on_an_upper_bound_and_a_lower_is_better_change():
    import tensorflow_model_analysis as tfma

    settings = _settings(metric="mean_absolute_error", upper_bound=3.0, max_regression=0.5)
    config = eval_config(settings, task="regression", label_key="y", schema_file=TAXI_SCHEMA)
    [spec] = config.metrics_specs
    judged, *others = spec.metrics
    assert judged.class_name == "MeanAbsoluteError"
    assert [m.class_name for m in others] == ["ExampleCount", "RootMeanSquaredError"]
    assert judged.threshold.value_threshold.upper_bound.value == 3.0
    assert not judged.threshold.value_threshold.HasField("lower_bound")
    change = judged.threshold.change_threshold
    assert change.direction == tfma.MetricDirection.LOWER_IS_BETTER
    assert change.absolute.value == 0.5
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[]]  # overall only


def test_taxi_eval_config_is_the_binary_one_with_hourly_slices():
    settings = _settings(metric="binary_accuracy", lower_bound=0.6, slices=["trip_start_hour"])
    config = eval_config(settings, task="binary", label_key="tips_xf", schema_file=TAXI_SCHEMA,
                         signature_name="from_examples",
                         preprocessing_function_names=("transform_features",))
    judged, *others = config.metrics_specs[0].metrics
    assert (judged.class_name, judged.threshold.value_threshold.lower_bound.value) == (
        "BinaryAccuracy", 0.6)
    assert judged.threshold.change_threshold.absolute.value == -0.01
    assert [m.class_name for m in others] == ["ExampleCount", "AUC"]
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["trip_start_hour"]]


def test_the_cli_stops_with_one_error_line_before_compiling(tmp_path):
    env = workspace_env(tmp_path, MLOPS_EVALUATION__SLICES="[no_such_column]")
    run = mlops("compile", "--env", "dev", "--tag", "t1", "--target", "kubeflow",
                "--out", str(tmp_path / "out"), env={**env, "MLOPS_ENV": "dev"})
    assert run.returncode == 2, run.output[-2000:]
    errors = [line for line in run.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "evaluation.slices" in errors[0], run.output[-2000:]
    assert not (tmp_path / "out").exists()
