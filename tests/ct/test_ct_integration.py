"""Continuous training against a real trained model and its ML-Metadata.

The session's `taxi_run` provides the serving model (trained on the sample). The CT tests
work on a copy of its metadata store, so the runs they start never change what other
tests see. Two pipeline runs happen here: `ct run` on a new span, and two overlapping
watchers on the next span (one run between them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from framework.ct import EXIT_FIRED, history
from framework.ct.triggers import evaluate
from framework.metadata.lineage import Graph, props, serving_model, training_record
from tests.conftest import ROOT, mlops
from tests.ct.helpers import generator

pytestmark = pytest.mark.integration

ROWS = 2500


class Workspace:
    def __init__(self, root, env):
        self.root = root
        self.env = env

    def settings(self, **extra):
        from framework.settings import load_settings

        return load_settings("taxi", "test", environ={**self.env, **extra})

    def with_data(self, folder: str) -> dict:
        return {**self.env, "MLOPS_PIPELINE__DATA_ROOT": str(self.root / folder)}


@pytest.fixture(scope="module")
def workspace(taxi_run, tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("ct")
    shutil.copy(taxi_run.workdir / "metadata.sqlite", root / "metadata.sqlite")
    env = {
        **taxi_run.env,
        "MLOPS_METADATA__SQLITE_PATH": str(root / "metadata.sqlite"),
        "MLOPS_PIPELINE__PIPELINE_ROOT": str(root / "pipeline_root"),
        "MLOPS_PIPELINE__SERVING_DIR": str(root / "serving"),
        "MLOPS_PIPELINE__DATA_ROOT": str(root / "spans"),
        "MLOPS_PIPELINE__INPUT_PATTERN": "span-{SPAN}/*.csv",
        "MLOPS_PIPELINE__SPAN_WINDOW": "2",
    }
    return Workspace(root, env)


def test_same_distribution_span_does_not_fire_drift(workspace):
    generator().generate_span(workspace.root / "same", ROWS, seed=11, span=1)
    settings = workspace.settings(MLOPS_PIPELINE__DATA_ROOT=str(workspace.root / "same"))
    [drift] = evaluate(settings, ["drift"])
    assert drift.error is None, drift.error
    assert not drift.fired, drift.reason
    assert drift.evidence and all(e["value"] <= e["threshold"] for e in drift.evidence)


def test_shifted_span_fires_drift_naming_feature_and_statistic(workspace):
    generator().generate_span(workspace.root / "shifted", ROWS, seed=12, span=1,
                              shifts={"trip_miles": "+8"})
    check = mlops("ct", "check", env=workspace.with_data("shifted"))
    assert check.returncode == EXIT_FIRED, check.output[-2000:]
    assert "drift     FIRED" in check.stdout
    assert ("feature=trip_miles statistic=jensen_shannon_divergence" in check.stdout), check.stdout
    record = history.read(workspace.settings(**workspace.with_data("shifted")))[-1]
    drift = next(t for t in record["triggers"] if t["name"] == "drift")
    assert drift["fired"] and drift["evidence"][0]["feature"] == "trip_miles"
    assert drift["evidence"][0]["value"] > drift["evidence"][0]["threshold"]


def test_worse_labelled_feedback_fires_decay(workspace):
    gen = generator()
    same = gen.generate_span(workspace.root / "feedback-same", ROWS, seed=13, span=1)
    worse = gen.generate_span(workspace.root / "feedback-worse", ROWS, seed=13, span=1,
                              label_rate=0.95)
    results = {}
    for name, path in (("same", same), ("worse", worse)):
        settings = workspace.settings(MLOPS_CT__DECAY__ENABLED="true",
                                      MLOPS_CT__DECAY__LABELLED_DATA=str(path))
        [results[name]] = evaluate(settings, ["decay"])
    assert results["worse"].error is None, results["worse"].error
    assert results["worse"].fired, results["worse"].reason
    evidence = results["worse"].evidence[0]
    assert evidence["metric"] == "binary_accuracy" and evidence["rows"] == ROWS
    assert evidence["evaluation"] - evidence["value"] > evidence["threshold"]
    assert not results["same"].fired, results["same"].reason


def _trained_spans(settings) -> set[int]:
    from framework.metadata.store import open_store

    with open_store(settings) as store:
        graph = Graph(store, "taxi")
        record = training_record(graph, serving_model(graph))
        return {props(a).get("span") for a in record.raw_examples}


def test_new_span_ct_run_starts_a_run_that_trains_on_it(workspace):
    generator().generate_span(workspace.root / "spans", ROWS, seed=21, span=1)
    run = mlops("ct", "run", env=workspace.env)
    assert run.returncode == EXIT_FIRED, run.output[-3000:]
    assert "new_data  FIRED  new span 1" in run.stdout
    assert 1 in _trained_spans(workspace.settings())
    record = history.read(workspace.settings())[-1]
    assert record["action"] == "run" and record["run"]["succeeded"]


def test_two_overlapping_watchers_start_one_run(workspace):
    from framework.metadata.store import open_store

    settings = workspace.settings()
    generator().generate_span(workspace.root / "spans", ROWS, seed=22, span=2)
    before = len(history.read(settings))
    with open_store(settings) as store:
        runs_before = len(store.get_contexts_by_type("pipeline_run"))
    cmd = [sys.executable, "-m", "framework", "ct", "watch", "--interval", "1",
           "--max-iterations", "1"]
    watchers = [subprocess.Popen(cmd, cwd=ROOT, env=workspace.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=1200)[0] for w in watchers]
    decisions = history.read(settings)[before:]
    assert len(decisions) == 2, outputs
    assert [d["action"] for d in decisions].count("run") == 1, json.dumps(decisions)[:3000]
    with open_store(settings) as store:
        assert len(store.get_contexts_by_type("pipeline_run")) == runs_before + 1
    assert 2 in _trained_spans(settings)


def test_lineage_of_a_pushed_model_shows_the_whole_chain(taxi_run):
    shown = mlops("lineage", "latest", "--json", env=taxi_run.env)
    assert shown.returncode == 0, shown.output[-2000:]
    steps = json.loads(shown.stdout)
    stages = [s["stage"] for s in steps]
    assert stages == ["span", "examples", "statistics", "anomalies", "transform", "model",
                      "evaluation", "blessing", "push"]
    assert all(s["run_id"] and s["time"] != "?" for s in steps)
    assert steps[-1]["details"]["destination"].startswith(str(taxi_run.workdir / "serving"))
    by_version = mlops("lineage", str(steps[-1]["details"]["version"]), env=taxi_run.env)
    assert by_version.returncode == 0 and "push" in by_version.stdout
    run_id = taxi_run.first.result["run_id"]
    by_run = mlops("lineage", run_id, "--json", env=taxi_run.env)
    assert by_run.returncode == 0, by_run.output[-2000:]
    assert json.loads(by_run.stdout)[-1]["stage"] == "push"
