"""The taxi pipeline end to end on the local runner, as `mlops run` runs it."""

import csv
import os
from pathlib import Path

import pytest

from tests.conftest import ROOT, mlops, taxi_csv

pytestmark = pytest.mark.integration

COMPONENTS = {
    "CsvExampleGen", "StatisticsGen", "schema_importer", "ExampleValidator", "ValidationGate",
    "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator", "Pusher",
}


def _store(env):
    from framework.metadata.store import open_store
    from framework.settings import load_settings

    return open_store(load_settings("taxi", "test", environ=env))


def _executions(env, run_id):
    from framework.metadata.store import run_executions

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
    # Everything but the resolver is cached: the baseline leaves out the candidate itself,
    # so the Evaluator does not re-judge the model it just blessed (baseline_strategy.py).
    for name in COMPONENTS - {"latest_blessed_model_resolver"}:
        assert states[name] == "cached", (name, states)
    # .model-digests beside the versions: the pusher's record of what each one holds
    versions = [p.name for p in (taxi_run.workdir / "serving").iterdir()
                if p.name != ".model-digests"]
    assert len(versions) == 1, versions
    assert second.result["pushed_model"] == taxi_run.first.result["pushed_model"]


def test_schema_check_reads_the_statistics_of_this_run(taxi_run):
    """`mlops schema` finds StatisticsGen's output in the records a real run wrote."""
    schema_file = ROOT / "pipelines" / "taxi" / "schema" / "schema.pbtxt"
    before = schema_file.read_bytes()
    check = mlops("schema", "--pipeline", "taxi", "--check", env=taxi_run.env)
    assert check.returncode in (0, 1), check.output[-2000:]  # 1: something would change
    statistics = Path(check.stdout.splitlines()[0].removeprefix("statistics: "))
    assert statistics.parent == taxi_run.workdir / "pipeline_root" / "StatisticsGen" / "statistics"
    assert (statistics / "Split-train" / "FeatureStats.pb").is_file()
    assert schema_file.read_bytes() == before  # --check writes nothing


# `--no-cache`: tests/unit/test_run_command.py checks the flag turns caching off;
# tests/integration/test_speedups_same_output.py checks such a run caches nothing.
# Bad data (wrong type, missing column and the rest) is covered in tests/reliability/.
