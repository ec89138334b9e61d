"""The taxi pipeline end to end on the local runner, as `mlops run` runs it."""

import csv
import os
from pathlib import Path

import pytest

from tests.conftest import mlops, taxi_csv, workspace_env

pytestmark = pytest.mark.integration

COMPONENTS = {
    "CsvExampleGen", "StatisticsGen", "schema_importer", "ExampleValidator", "ValidationGate",
    "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher",
}


def _store(env):
    from framework.metadata import open_store
    from framework.settings import load_settings

    return open_store(load_settings("taxi", "test", environ=env))


def _executions(env, run_id):
    from framework.metadata import run_executions

    with _store(env) as store:
        return {r.node: r.state for r in run_executions(store, "taxi", run_id)}


def test_whole_pipeline_runs_and_reports_progress_and_summary(taxi_run):
    out = taxi_run.first.stdout
    for name in COMPONENTS:
        assert f"{name} " in out, f"no progress line for {name}"
    assert "run id:" in out and "blessed:     yes" in out
    assert "binary_accuracy=" in out
    result = taxi_run.first.result
    assert result["succeeded"] and result["blessed"] is True
    assert set(result["metrics"]) >= {"binary_accuracy", "auc", "example_count"}
    assert "INFO" not in out  # TFX's log flood went to the log file, not the terminal


def test_mlmd_holds_every_component_a_model_and_a_blessing(taxi_run):
    states = _executions(taxi_run.env, taxi_run.first.result["run_id"])
    assert set(states) == COMPONENTS
    assert all(state == "complete" for state in states.values()), states
    with _store(taxi_run.env) as store:
        models = store.get_artifacts_by_type("Model")
        blessings = store.get_artifacts_by_type("ModelBlessing")
    assert len(models) >= 1
    assert any(b.custom_properties["blessed"].int_value == 1 for b in blessings)


def test_pushed_model_loads_and_predicts_on_raw_examples(taxi_run):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    pushed = Path(taxi_run.first.result["pushed_model"])
    assert pushed.parent == taxi_run.workdir / "serving"
    model = tf.saved_model.load(str(pushed))
    serve = model.signatures["serving_default"]
    spec = serve.structured_input_signature[1]
    with open(taxi_csv(), newline="") as handle:
        rows = [row for _, row in zip(range(5), csv.DictReader(handle))]

    def column(name, dtype):
        if dtype == tf.string:
            return tf.constant([r[name] for r in rows])
        return tf.constant([float(r[name] or 0) for r in rows], dtype=tf.float64).numpy().astype(
            dtype.as_numpy_dtype)

    outputs = serve(**{name: tf.constant(column(name, s.dtype)) for name, s in spec.items()})
    probabilities = outputs["outputs"].numpy()
    assert probabilities.shape == (5, 1)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


def test_unchanged_rerun_is_served_from_cache_and_pushes_nothing_new(taxi_run):
    second = mlops("run", "--pipeline", "taxi", env=taxi_run.env,
                   json_out=taxi_run.workdir / "second.json")
    assert second.returncode == 0, second.output[-2000:]
    states = _executions(taxi_run.env, second.result["run_id"])
    for name in ("CsvExampleGen", "StatisticsGen", "ExampleValidator", "ValidationGate",
                 "Transform", "Trainer"):
        assert states[name] == "cached", (name, states)
    # The Evaluator runs again (its baseline is now the blessed model); the push of the same
    # model lands on the version already in the serving folder, not a copy.
    versions = [p.name for p in (taxi_run.workdir / "serving").iterdir()]
    assert len(versions) == 1, versions
    assert second.result["pushed_model"] == taxi_run.first.result["pushed_model"]


def test_no_cache_runs_every_component_again(taxi_run):
    # Only checks the wiring of --no-cache into settings; a full rerun is too slow to repeat.
    from framework.settings import load_settings

    settings = load_settings("taxi", "test", environ={**taxi_run.env, "MLOPS_ENABLE_CACHE": "false"})
    from framework.discovery import load_factory

    pipeline = load_factory("taxi")(settings)
    assert pipeline.enable_cache is False


def _bad_data_run(tmp_path, mutate):
    """Run on 400 sample rows changed by `mutate(header, rows)`; return (run, serving dir)."""
    with open(taxi_csv(), newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [row for _, row in zip(range(400), reader)]
    header, rows = mutate(header, rows)
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "data.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    serving = tmp_path / "serving"
    (serving / "1000").mkdir(parents=True)
    (serving / "1000" / "saved_model.pb").write_bytes(b"the model being served")
    env = workspace_env(tmp_path, MLOPS_PIPELINE__DATA_ROOT=str(data))
    run = mlops("run", "--pipeline", "taxi", env=env, json_out=tmp_path / "run.json")
    return run, serving, env


def _assert_stopped_by_validation(run, serving, env, column):
    assert run.returncode == 3, run.output[-2000:]
    error_lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "stopped before Transform and Trainer" in error_lines[0]
    assert f"column '{column}'" in error_lines[0]
    assert [p.name for p in serving.iterdir()] == ["1000"]
    assert (serving / "1000" / "saved_model.pb").read_bytes() == b"the model being served"
    states = _executions(env, run.result["run_id"])
    assert states["ValidationGate"] == "failed"
    assert "Transform" not in states and "Trainer" not in states and "Pusher" not in states


def test_wrong_typed_column_stops_at_validation_and_pushes_nothing(tmp_path):
    def fare_as_text(header, rows):
        index = header.index("fare")
        for row in rows:
            row[index] = "twelve dollars"
        return header, rows

    run, serving, env = _bad_data_run(tmp_path, fare_as_text)
    _assert_stopped_by_validation(run, serving, env, "fare")


def test_missing_column_stops_at_validation_and_pushes_nothing(tmp_path):
    def drop_trip_miles(header, rows):
        index = header.index("trip_miles")
        return header[:index] + header[index + 1:], [r[:index] + r[index + 1:] for r in rows]

    run, serving, env = _bad_data_run(tmp_path, drop_trip_miles)
    _assert_stopped_by_validation(run, serving, env, "trip_miles")
