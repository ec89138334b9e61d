"""The dashboard's pure helpers on small synthetic inputs (no store, no server)."""

from __future__ import annotations

import re

from framework.release.policy import RollbackPolicy
from framework.release.registry import ReleaseState
from framework.ui import charts, dag
from framework.ui.data import anomaly_rows, feature_rows
from framework.ui.model import checks, metric_name, thresholds, why
from framework.ui.release import canary_view, version_rows
from framework.ui.runs import ct_triggers, status_of, trigger_of

FAILED, RUNNING, COMPLETE, CACHED, CANCELED = 4, 2, 3, 5, 6


def test_a_node_without_inputs_sits_just_above_its_first_consumer():
    nodes = ["gen", "stats", "train", "resolver", "evaluator"]
    edges = [("gen", "stats"), ("stats", "train"), ("train", "evaluator"),
             ("resolver", "evaluator")]
    layer = dag.layers(nodes, edges)
    assert layer == {"gen": 0, "stats": 1, "train": 2, "resolver": 2, "evaluator": 3}


def test_a_cycle_or_unknown_node_in_the_edges_still_lays_out_every_node():
    layer = dag.layers(["a", "b", "c"], [("a", "b"), ("b", "a"), ("x", "c")])
    assert set(layer) == {"a", "b", "c"}


def test_svg_draws_one_group_per_node_coloured_by_state_and_edges_that_skip_go_around():
    nodes = [{"id": "gen", "state": "complete"}, {"id": "stats", "state": "cached"},
             {"id": "train", "state": "failed", "href": "#node-train"}]
    svg = dag.svg(nodes, [("gen", "stats"), ("stats", "train"), ("gen", "train")])
    assert svg.count('<g class="node') == 3
    assert 'class="node state-failed" data-node="train"' in svg and 'href="#node-train"' in svg
    assert svg.count('class="edge"') == 3
    labels = re.findall(r'<text class="label" x="(\d+)" y="\d+" text-anchor="middle">(\w+)<', svg)
    assert [name for _, name in labels] == ["gen", "stats", "train"]
    position, _, _ = dag.layout(["gen", "stats", "train"],
                                [("gen", "stats"), ("stats", "train"), ("gen", "train")])
    bends = dag.bends(position, [("gen", "stats"), ("stats", "train"), ("gen", "train")])
    assert bends[("gen", "stats")] is None
    assert bends[("gen", "train")] > max(x for x, _ in position.values()) + dag.NODE_W


def test_status_of_a_run_failed_before_running_before_canceled():
    assert status_of([COMPLETE, FAILED, RUNNING]) == "failed"
    assert status_of([COMPLETE, RUNNING]) == "running"
    assert status_of([COMPLETE, CANCELED]) == "canceled"
    assert status_of([COMPLETE, CACHED]) == "succeeded"
    assert status_of([]) == "running"


def test_trigger_comes_from_the_run_context_then_the_ct_history_then_manual():
    records = [{"action": "run", "pipeline": "taxi", "fired": ["new_data", "drift"],
                "run": {"run_id": "r2"}},
               {"action": "none", "pipeline": "taxi", "fired": [], "run": None},
               {"action": "run", "pipeline": "other", "fired": ["decay"], "run": {"run_id": "r3"}}]
    ct = ct_triggers(records, "taxi")
    assert ct == {"r2": "new data + drift"}
    assert trigger_of({}, "r2", ct) == "new data + drift"
    assert trigger_of({}, "r1", ct) == "manual"
    assert trigger_of({"commit": "0123456789abcdef"}, "r1", ct) == "CI commit 0123456"
    assert trigger_of({"trigger": "schedule"}, "r2", ct) == "schedule"


def test_timeline_has_a_bar_per_started_node_from_the_runs_start():
    rows = [{"id": "a", "state": "complete", "start_ms": 1000, "end_ms": 3000, "duration": "2 s"},
            {"id": "b", "state": "running", "start_ms": 3000, "end_ms": None},
            {"id": "c", "state": "not run"}]
    figure = charts.timeline(rows)
    bar = figure["data"][0]
    assert bar["y"] == ["a", "b"] and bar["base"] == [0.0, 2.0] and bar["x"][0] == 2.0
    assert charts.timeline([{"id": "c", "state": "not run"}]) is None


def test_metric_names_follow_tfma_and_thresholds_are_read_from_either_json_spelling():
    assert metric_name("BinaryAccuracy") == "binary_accuracy"
    assert metric_name("AUC") == "auc"
    assert metric_name("MeanSquaredError") == "mean_squared_error"
    camel = {"metricsSpecs": [{"metrics": [{"className": "BinaryAccuracy", "threshold": {
        "valueThreshold": {"lowerBound": 0.6},
        "changeThreshold": {"absolute": -0.01, "direction": "HIGHER_IS_BETTER"}}},
        {"className": "ExampleCount"}]}]}
    snake = {"metrics_specs": [{"metrics": [{"class_name": "BinaryAccuracy", "threshold": {
        "value_threshold": {"lower_bound": 0.6},
        "change_threshold": {"absolute": -0.01, "direction": "HIGHER_IS_BETTER"}}}]}]}
    expected = {"binary_accuracy": {"lower_bound": 0.6, "upper_bound": None, "change": -0.01,
                                    "direction": "HIGHER_IS_BETTER"}}
    assert thresholds(camel) == expected == thresholds(snake)


def test_why_a_model_was_not_blessed_names_the_threshold_it_missed():
    limits = {"binary_accuracy": {"lower_bound": 0.6, "upper_bound": None, "change": -0.01,
                                  "direction": "HIGHER_IS_BETTER"}}
    held = checks({"binary_accuracy": {"candidate": 0.55, "baseline": 0.7, "diff": -0.15}},
                  limits)
    assert [c["held"] for c in held] == [False, False]
    lines = why(False, None, held, has_baseline=True)
    assert lines[0].startswith("not blessed: binary_accuracy 0.55 ≥ 0.6 (lower bound) does not")
    first = checks({"binary_accuracy": {"candidate": 0.8}}, limits)
    assert first[0]["held"] and first[1]["held"] is None
    lines = why(True, {"ok": True, "failures": [], "missing_slices": []}, first,
                has_baseline=False)
    assert "every threshold held" in lines[0] and "no blessed baseline" in lines[-1]


def _stats():
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=10)
    fare = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.FLOAT)
    fare.path.step.append("fare")
    fare.num_stats.mean = 2.5
    fare.num_stats.common_stats.num_non_missing = 8
    fare.num_stats.common_stats.num_missing = 2
    histogram = fare.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    histogram.buckets.add(low_value=0, high_value=1, sample_count=5)
    histogram.buckets.add(low_value=1, high_value=2, sample_count=3)
    company = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    company.path.step.append("company")
    company.string_stats.unique = 2
    company.string_stats.common_stats.num_non_missing = 10
    company.string_stats.top_values.add(value="b", frequency=3)
    company.string_stats.top_values.add(value="a", frequency=7)
    return stats


def test_feature_rows_give_missing_share_histogram_and_top_values():
    rows = {r["feature"]: r for r in feature_rows(_stats())}
    assert rows["fare"]["missing_pct"] == 20.0 and rows["fare"]["kind"] == "numeric"
    assert [b["count"] for b in rows["fare"]["buckets"]] == [5, 3]
    assert rows["fare"]["chart"]["data"][0]["y"] == [5, 3]
    assert [v["value"] for v in rows["company"]["top"]] == ["a", "b"]
    assert rows["company"]["chart"]["data"][0]["y"] == ["a", "b"]


def test_anomaly_rows_from_tfdv_protos():
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info["payment_type"]
    info.severity = anomalies_pb2.AnomalyInfo.ERROR
    info.short_description = "Unexpected string values"
    assert anomaly_rows(anomalies) == [{"feature": "payment_type", "severity": "error",
                                        "short": "Unexpected string values", "description": ""}]


def test_drift_rows_are_the_triggers_measurement_most_drifted_first():
    """The Data page's drift table comes from framework/ct/drift.measure, the trigger's own."""
    from types import SimpleNamespace

    import pandas as pd
    import tensorflow_data_validation as tfdv

    from framework.ct.drift import measure

    baseline = pd.DataFrame({"payment_type": ["Cash", "Card"] * 200,
                             "fare": [float(i % 40) for i in range(400)]})
    current = pd.DataFrame({"payment_type": ["Cash"] * 400,
                            "fare": [float(i % 40) for i in range(400)]})
    before = tfdv.generate_statistics_from_dataframe(baseline)
    after = tfdv.generate_statistics_from_dataframe(current)
    settings = SimpleNamespace(ct=SimpleNamespace(drift=SimpleNamespace(
        features=[], thresholds={"fare": 0.3}, default_threshold=0.2)))
    rows = measure(tfdv.infer_schema(before), settings, before, after)
    assert rows[0] == {"feature": "payment_type", "statistic": "l_infinity", "value": 0.5,
                       "threshold": 0.2, "drifted": True}
    assert rows[1]["feature"] == "fare" and rows[1]["threshold"] == 0.3
    assert rows[1]["drifted"] is False


def test_release_rows_tolerate_missing_and_new_statistics_keys():
    state = ReleaseState(model_name="taxi", versions={"1": {"stage": "production"},
                                                      "2": {"stage": "canary"}},
                         production="1", canary="2", canary_percent=10)
    stats = {"1": {"requests": 100, "errors": 1, "p50_ms": 3.0, "p99_ms": 9.0,
                   "cpu_ms_mean": 1.5, "scores": None},
             "2": {"requests": 40}}
    rows = {r["version"]: r for r in version_rows(state, stats, {"3": "/serving/3"})}
    assert rows["1"]["traffic"] == 90 and rows["1"]["error_rate"] == 0.01
    assert rows["1"]["extra"] == {"cpu_ms_mean": 1.5}
    assert rows["2"]["errors"] is None and rows["2"]["error_rate"] is None
    assert rows["3"]["registered"] is False and rows["3"]["stage"] == "candidate"


def test_canary_counters_over_the_policy_limits_are_flagged():
    state = ReleaseState(versions={"1": {}, "2": {}}, production="1", canary="2",
                         canary_percent=20)
    policy = RollbackPolicy(window=50, max_error_rate=0.05, max_p99_ms=100.0)
    view = canary_view(state, {"2": {"requests": 60, "errors": 6, "p99_ms": 50.0}}, policy)
    assert view["error_rate_over"] and not view["p99_over"] and view["judged"]
    assert canary_view(ReleaseState(production="1"), {}, policy) is None
