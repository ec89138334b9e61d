"""The rollback policy's rules, one at a time, and the prediction-drift distance (no TF)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from framework.release.policy import (
    Memory,
    Outcome,
    RollbackPolicy,
    Window,
    drift,
    histogram,
    js_distance,
    prediction_scores,
    score_range,
)
from framework.release.stats import ServingStats

# Every rule off but the one under test, so a verdict can only come from it.
QUIET = dict(max_error_rate=1.0, max_p99_ms=1e9, max_cpu_ratio=None, max_memory_growth_mb=None,
             max_prediction_drift=None)


def window(canary_cpu=1.0, production_cpu=1.0, n=10, canary_scores=(), production_scores=(),
           size=10) -> Window:
    return Window.of([Outcome(False, 5.0, canary_cpu)] * n,
                     [Outcome(False, 5.0, production_cpu)] * n, size=size,
                     canary_scores=canary_scores, production_scores=production_scores)


def test_js_distance_is_0_for_the_same_shape_1_for_disjoint_and_symmetric():
    assert js_distance([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0)
    assert js_distance([5, 0], [0, 7]) == pytest.approx(1.0)
    p, q = [3, 1, 0, 2], [1, 1, 4, 0]
    assert js_distance(p, q) == pytest.approx(js_distance(q, p))
    assert 0.0 < js_distance(p, q) < 1.0
    # Against a direct computation of sqrt(JS divergence), base 2.
    a, b = np.array(p) / sum(p), np.array(q) / sum(q)
    m = (a + b) / 2
    kl = lambda x, y: sum(xi * np.log2(xi / yi) for xi, yi in zip(x, y) if xi > 0)  # noqa: E731
    assert js_distance(p, q) == pytest.approx(np.sqrt(0.5 * kl(a, m) + 0.5 * kl(b, m)))
    assert js_distance([0, 0], [1, 2]) == 0.0  # nothing to compare


def test_histogram_bins_probabilities_over_0_1_and_other_scores_over_productions_range():
    assert score_range([0.1, 0.9, 1.0]) == (0.0, 1.0)
    assert score_range([2.0, 30.0, 12.0]) == (2.0, 30.0)
    assert score_range([4.0, 4.0]) == (3.5, 4.5)
    assert score_range([]) == (0.0, 1.0)
    counts = histogram([0.0, 0.01, 0.5, 1.0, -0.2, 1.5, float("nan")], 0.0, 1.0)
    assert len(counts) == 22 and sum(counts) == 7
    assert counts[0] == 1 and counts[-1] == 2  # below the range; above it (and NaN)
    assert counts[1] == 2 and counts[11] == 1 and counts[20] == 1


def test_drift_of_two_samples_of_one_distribution_is_small_and_of_a_flipped_one_large():
    rng = np.random.default_rng(7)
    production = rng.beta(2, 5, 500).tolist()
    same = rng.beta(2, 5, 500).tolist()
    flipped = (1 - rng.beta(2, 5, 500)).tolist()
    assert drift(production, same) < 0.2
    assert drift(production, flipped) > 0.6
    # Scores outside production's range are not folded into its edge bins.
    regression = rng.normal(20, 2, 500).tolist()
    assert drift(regression, [x + 100 for x in regression]) == pytest.approx(1.0)


def test_prediction_scores_take_the_first_value_of_each_row_of_the_first_numeric_output():
    outputs = {"classes": np.array([[b"a"], [b"b"]]),
               "scores": np.array([[0.2, 0.8], [0.6, 0.4]], dtype=np.float32)}
    assert prediction_scores(outputs) == pytest.approx([0.2, 0.6])
    assert prediction_scores({"outputs": np.array([[0.25]], dtype=np.float32)}) == [0.25]
    assert prediction_scores(None) == [] and prediction_scores({"x": np.array([])}) == []


def test_error_rate_and_p99_rules_keep_their_verdicts():
    policy = RollbackPolicy(window=10, max_error_rate=0.2, max_p99_ms=100)
    assert policy.verdict([(True, 1.0)] * 9) is None
    assert policy.verdict([(True, 1.0)] * 10) == (
        "error rate 100% (10 of the last 10 canary requests) is above 20%")
    assert policy.verdict([(False, 5.0)] * 9 + [(False, 500.0)]) == (
        "p99 latency 500 ms over the last 10 canary requests is above 100 ms")


def test_cpu_rule_trips_on_the_ratio_to_production_and_only_with_both_windows_full():
    policy = RollbackPolicy(window=10, **dict(QUIET, max_cpu_ratio=2.0))
    assert policy.verdict(window(canary_cpu=1.9, production_cpu=1.0)) is None
    assert policy.verdict(window(canary_cpu=3.0, production_cpu=1.0)) == (
        "CPU 3.00 ms per request (mean of 10 canary requests) is 3.0x production's 1.00 ms, "
        "above 2x")
    short = window(canary_cpu=3.0)
    short.production.pop()  # production has 9 of its 10 requests: not judged yet
    assert policy.verdict(short) is None
    [check] = [c for c in policy.checks(short) if c.rule == "cpu_ratio"]
    assert check.value is None and check.limit == 2.0
    for off in (None, 0):
        assert RollbackPolicy(window=10, **dict(QUIET, max_cpu_ratio=off)).verdict(
            window(canary_cpu=30.0)) is None


def test_cpu_rule_averages_since_the_canary_went_out_over_requests_measured_alone():
    policy = RollbackPolicy(window=10, **dict(QUIET, max_cpu_ratio=2.0))
    w = window(canary_cpu=1.0, production_cpu=1.0)
    for _ in range(10):  # more requests than the window holds: the mean keeps them all
        w.add(True, Outcome(False, 5.0, 5.0))
    assert policy.verdict(w).startswith("CPU 3.00 ms per request (mean of 20 canary requests)")
    # Requests batched with others carry no CPU figure (None) and do not count; fewer than
    # half the window measured alone is not enough to judge.
    batched = window(canary_cpu=None, production_cpu=1.0)
    for _ in range(4):
        batched.add(True, Outcome(False, 5.0, 9.0))
    [check] = [c for c in policy.checks(batched) if c.rule == "cpu_ratio"]
    assert check.value is None and check.figures["canary_measured"] == 4
    batched.add(True, Outcome(False, 5.0, 9.0))
    assert policy.verdict(batched).startswith("CPU 9.00 ms per request (mean of 5 canary")


def test_memory_rule_trips_on_the_load_cost_or_the_growth_since_the_canary_went_out():
    policy = RollbackPolicy(window=10, **dict(QUIET, max_memory_growth_mb=100))
    full = window()
    assert policy.verdict(full, Memory(load_cost_mb=80, growth_mb=10)) is None
    assert policy.verdict(full, Memory(load_cost_mb=150, growth_mb=10)) == (
        "canary load cost 150 MB of resident memory is above 100 MB")
    assert policy.verdict(full, Memory(load_cost_mb=20, growth_mb=120)) == (
        "resident memory grew 120 MB since the canary began taking traffic, above 100 MB")
    assert policy.verdict(window(n=9), Memory(load_cost_mb=150, growth_mb=0)) is None
    assert policy.verdict(full, None) is None  # nothing measured
    assert RollbackPolicy(window=10, **QUIET).verdict(full, Memory(5000, 5000)) is None


def test_drift_rule_trips_on_the_distance_once_both_have_enough_scores():
    policy = RollbackPolicy(window=10, drift_examples=50, **dict(QUIET, max_prediction_drift=0.3))
    rng = random.Random(3)
    production = [rng.betavariate(2, 5) for _ in range(50)]
    assert policy.verdict(window(canary_scores=production[::-1],
                                 production_scores=production)) is None
    flipped = [1 - s for s in production]
    reason = policy.verdict(window(canary_scores=flipped, production_scores=production))
    assert reason.startswith("prediction drift 0.") and reason.endswith(
        "(Jensen-Shannon distance of the last 50 canary scores from production's) is above 0.3")
    assert policy.verdict(window(canary_scores=flipped[:49],
                                 production_scores=production)) is None


def test_checks_carry_each_figure_and_limit_for_release_status():
    policy = RollbackPolicy(window=10, max_cpu_ratio=2.0, max_memory_growth_mb=100,
                            max_prediction_drift=0.3, drift_examples=10)
    checks = policy.checks(window(canary_cpu=3.0, canary_scores=[0.9] * 10,
                                  production_scores=[0.1] * 10), Memory(10, 2, 700))
    by_rule = {c.rule: c.to_dict() for c in checks}
    assert list(by_rule) == ["error_rate", "p99_ms", "cpu_ratio", "memory_mb", "drift"]
    assert by_rule["cpu_ratio"]["value"] == pytest.approx(3.0)
    assert by_rule["cpu_ratio"]["crossed"] and by_rule["drift"]["crossed"]
    assert by_rule["memory_mb"] == {"rule": "memory_mb", "value": 10, "limit": 100,
                                    "crossed": False, "reason": None, "load_cost_mb": 10,
                                    "growth_mb": 2, "rss_mb": 700}
    json.dumps(by_rule)  # goes into the stats file as it is
    # The verdict is the first rule crossed, in that order.
    assert policy.verdict(window(canary_cpu=3.0, canary_scores=[0.9] * 10,
                                 production_scores=[0.1] * 10)).startswith("CPU 3.00 ms")
    assert by_rule["cpu_ratio"]["canary_ms"] == 3.0 and by_rule["cpu_ratio"][
        "production_measured"] == 10


def test_serving_stats_snapshot_has_cpu_memory_scores_and_drift_per_version(tmp_path):
    stats = ServingStats(tmp_path / "stats.json")
    stats.loaded("100", 500.0, 800.0)
    stats.loaded("200", 800.0, 850.5)
    for i in range(100):
        score = np.array([[(i + 0.5) / 100]], dtype=np.float32)
        stats.record("100", False, 2.0, cpu_ms=1.0 + (i == 99) * 9,
                     scores=prediction_scores({"outputs": score}), production="100")
        stats.record("200", i % 10 == 0, 3.0, cpu_ms=2.0,
                     scores=prediction_scores({"outputs": 1 - score / 2}), production="100")
    stats.judged({"canary": "200", "checks": []})
    stats.write()
    snapshot = json.loads((tmp_path / "stats.json").read_text())
    assert snapshot["production"] == "100" and snapshot["rss_mb"] > 0
    assert snapshot["policy"] == {"canary": "200", "checks": []}
    prod, canary = snapshot["versions"]["100"], snapshot["versions"]["200"]
    assert prod["cpu_ms_mean"] == pytest.approx(1.09) and prod["cpu_ms_p99"] == 1.0
    assert canary["cpu_ms_mean"] == 2.0 and canary["errors"] == 10
    assert canary["error_rate"] == 0.1
    assert prod["load_cost_mb"] == 300.0 and canary["load_cost_mb"] == 50.5
    assert canary["rss_after_load_mb"] == 850.5 and canary["rss_mb"] == snapshot["rss_mb"]
    assert prod["scores"]["range"] == [0.0, 1.0] and prod["scores"]["bins"] == 20
    assert prod["scores"]["counts"] == [5] * 20 and prod["scores"]["count"] == 100
    assert sum(canary["scores"]["counts"][10:]) == 100  # 1 - p/2 lies in [0.5, 1]
    assert prod["drift"] is None and 0.5 < canary["drift"] <= 1.0


def test_serving_stats_bins_unbounded_scores_over_productions_range():
    stats = ServingStats()
    for value in (10.0, 20.0, 30.0):
        stats.record("100", False, 1.0, scores=prediction_scores({"y": np.array([value])}),
                     production="100")
        stats.record("200", False, 1.0, scores=prediction_scores({"y": np.array([value + 100])}))
    versions = stats.snapshot()["versions"]
    assert versions["100"]["scores"]["range"] == [10.0, 30.0]
    assert versions["200"]["scores"]["above"] == 3 and versions["200"]["drift"] == 1.0


def test_drift_is_computed_again_once_a_fiftieth_of_the_scores_are_new():
    w = Window(10, scores=100)
    for _ in range(10):
        w.add(True, Outcome(False, 1.0), [0.9] * 10)
        w.add(False, Outcome(False, 1.0), [0.1] * 10)
    assert w.drift()[0] == pytest.approx(1.0)
    w.add(False, Outcome(False, 1.0), [0.9])  # 1 new score of 100: the last figure stands
    assert w.drift()[0] == pytest.approx(1.0)
    w.add(False, Outcome(False, 1.0), [0.9] * 60)  # production now mostly like the canary
    assert w.drift()[0] < 0.7


def test_release_status_shows_each_figure_next_to_its_limit_and_marks_the_crossed(
        tmp_path, capsys):
    from types import SimpleNamespace

    from framework.commands.release import _status
    from framework.release.registry import Registry, stats_path_for
    from tests.release.test_registry import fake_push

    for version in ("100", "200"):
        fake_push(tmp_path / "serving", version)
    registry = Registry(tmp_path / "serving.release.json", str(tmp_path / "serving"), "taxi")
    registry.promote("100", by="test")
    registry.canary("200", 50, by="test")
    policy = RollbackPolicy(window=10, drift_examples=10)
    w = window(canary_cpu=3.0, production_cpu=1.0, canary_scores=[0.5] * 10,
               production_scores=[0.52] * 10)
    stats = ServingStats(stats_path_for(registry.state_path))
    stats.loaded("200", 600.0, 660.0)
    for version, cpu in (("100", 1.0), ("200", 3.0)):
        stats.record(version, False, 2.0, cpu_ms=cpu, scores=prediction_scores({"y": np.array([[0.5]])}),
                     production="100")
    checks = policy.checks(w, Memory(60.0, 1.5, 700.0))
    stats.judged({"canary": "200", "production": "100", "canary_requests": 10,
                  "production_requests": 10, "limits": policy.limits(),
                  "checks": [c.to_dict() for c in checks], "verdict": None})
    stats.write()
    _status(registry, SimpleNamespace(json=False, history=0))
    out = capsys.readouterr().out
    # 100 columns, but for the first line's registry path (here a long temporary one).
    assert all(len(line) <= 100 for line in out.splitlines()[1:]), out
    rows = {line.split("  ")[1].strip(): line for line in out.splitlines()
            if line.startswith("  ") and "  " in line[2:]}
    assert rows["CPU per request"].split()[-1] == "CROSSED", out
    assert "3.00 ms (3.0x)" in rows["CPU per request"] and "2x production" in out
    assert "load +60 MB, then +2 MB" in rows["memory (RSS)"] and "1024 MB" in out
    assert "0.00 (10 scores)" in rows["prediction drift"]
    assert not any(r.endswith("CROSSED") for k, r in rows.items() if k != "CPU per request")
    assert "rollback policy: canary 200 vs production 100 (window: 10 requests)" in out
    _status(registry, SimpleNamespace(json=True, history=0))
    shown = json.loads(capsys.readouterr().out)["serving_stats"]
    assert shown["policy"]["limits"]["max_cpu_ratio"] == 2.0
    assert shown["versions"]["200"]["load_cost_mb"] == 60.0
    assert {c["rule"]: c["crossed"] for c in shown["policy"]["checks"]}["cpu_ratio"] is True
