"""The registry, the traffic splitter and the rollback policy, without TensorFlow."""

from __future__ import annotations

import json
import multiprocessing
from collections import Counter
from pathlib import Path

import pytest

from framework.release.policy import RollbackPolicy, percentile
from framework.release.registry import Registry, ReleaseError
from framework.release.routing import TrafficSplitter


def fake_push(serving, version: str) -> None:
    """What the atomic pusher leaves: <serving>/<version>/saved_model.pb (+ variables)."""
    (serving / version / "variables").mkdir(parents=True)
    (serving / version / "saved_model.pb").write_bytes(b"pb")


@pytest.fixture
def registry(tmp_path):
    serving = tmp_path / "serving"
    serving.mkdir()
    for version in ("100", "200", "300"):
        fake_push(serving, version)
    return Registry(tmp_path / "serving.release.json", str(serving), "taxi")


def test_pushed_versions_are_discovered_as_candidates_and_partial_pushes_are_not(registry):
    serving = registry.serving_dir
    (Path(registry.state_path).parent / "serving" / ".tmp-400-123").mkdir()  # a push in progress
    (Path(registry.state_path).parent / "serving" / "500").mkdir()  # no saved_model.pb yet
    state = registry.sync()
    assert {v: i["stage"] for v, i in state.versions.items()} == {
        "100": "candidate", "200": "candidate", "300": "candidate"}
    assert [h["action"] for h in state.history] == ["discovered"] * 3
    fake_push(Path(registry.state_path).parent / "serving", "600")
    assert registry.sync().versions["600"]["stage"] == "candidate"
    assert serving == registry.serving_dir


def test_canary_needs_a_production_version_first(registry):
    with pytest.raises(ReleaseError, match="no production version yet"):
        registry.canary("200", 10, by="test")


def test_canary_promote_rollback_cycle_derives_traffic_and_keeps_history(registry):
    registry.promote("100", by="test", reason="first model")
    state = registry.canary("200", 10, by="mlops release canary 200 --percent 10")
    assert state.traffic() == {"100": 90, "200": 10}
    assert state.last_good == "100"
    assert state.stage("200") == "canary"

    state = registry.promote(by="test")
    assert state.traffic() == {"200": 100}
    assert (state.stage("100"), state.stage("200")) == ("archived", "production")
    assert state.last_good == "100"  # a rollback now would return to 100

    state = registry.canary("300", 25, by="test")
    state = registry.rollback(by="test", reason="bad canary")
    assert state.traffic() == {"200": 100}
    assert state.rolled_back == "300"
    assert state.versions["300"]["rolled_back"] == "bad canary"

    state = registry.rollback(by="test", reason="production regressed")
    assert state.production == "100" and state.traffic() == {"100": 100}
    assert state.stage("200") == "archived"

    actions = [(h["action"], h["version"]) for h in registry.read().history
               if h["action"] != "discovered"]
    assert actions == [("promote", "100"), ("canary", "200"), ("promote", "200"),
                       ("canary", "300"), ("rollback", "300"), ("rollback", "200")]
    canary_entry = registry.read().history[4]
    assert canary_entry["by"] == "mlops release canary 200 --percent 10"
    assert canary_entry["traffic"] == {"100": 90, "200": 10}


def test_the_state_file_is_plain_json_with_traffic_and_last_good(registry):
    registry.promote("100", by="test")
    registry.canary("200", 5, by="test")
    data = json.loads(Path(registry.state_path).read_text())
    assert data["traffic"] == {"100": 95, "200": 5}
    assert data["last_good"] == "100"
    assert data["canary_percent"] == 5
    assert not list(Path(registry.state_path).parent.glob("*.tmp-*"))  # no temporary left


@pytest.mark.parametrize("percent", [0, 100, -5])
def test_canary_percent_outside_1_to_99_is_refused(registry, percent):
    registry.promote("100", by="test")
    with pytest.raises(ReleaseError, match="between 1 and 99"):
        registry.canary("200", percent, by="test")


def test_promoting_a_version_that_skipped_the_canary_needs_force(registry):
    registry.promote("100", by="test")
    with pytest.raises(ReleaseError, match="has not been out as a canary"):
        registry.promote("300", by="test")
    assert registry.promote("300", by="test", force=True).production == "300"


def test_a_second_canary_while_one_is_out_is_refused(registry):
    registry.promote("100", by="test")
    registry.canary("200", 10, by="test")
    with pytest.raises(ReleaseError, match="already the canary"):
        registry.canary("300", 10, by="test")


def test_unknown_version_names_the_known_ones(registry):
    with pytest.raises(ReleaseError, match=r"unknown version '999' \(known versions: 100, 200"):
        registry.promote("999", by="test")


def test_rollback_with_nothing_to_return_to_is_refused(registry):
    registry.promote("100", by="test")
    with pytest.raises(ReleaseError, match="nothing to roll back"):
        registry.rollback(by="test")


def test_policy_rollback_is_a_no_op_when_the_canary_has_changed(registry):
    registry.promote("100", by="test")
    registry.canary("200", 10, by="test")
    assert registry.rollback(by="server", reason="x", only_canary="300") is None
    assert registry.read().canary == "200"


def _bump_percent(args):
    state_path, serving, rounds = args
    registry = Registry(state_path, serving, "taxi")
    for _ in range(rounds):
        with registry.transaction() as state:
            state.history.append({"action": "test"})


def test_concurrent_commands_lose_no_update(registry):
    registry.sync()
    before = len(registry.read().history)
    # spawn, not fork: a forked child of a threaded test process (pytest-xdist's worker has
    # threads) can start with a lock held by a thread that does not exist in it, and hang.
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_bump_percent, [(str(registry.state_path), registry.serving_dir, 25)] * 4)
    assert len(registry.read().history) == before + 100


def test_splitter_gives_the_canary_its_share_at_any_sample_size():
    splitter = TrafficSplitter()
    counts = Counter(splitter.choose({"100": 90, "200": 10}) for _ in range(2000))
    assert counts == {"100": 1800, "200": 200}
    fresh = TrafficSplitter()
    first_50 = Counter(fresh.choose({"a": 70, "b": 30}) for _ in range(50))
    assert first_50 == {"a": 35, "b": 15}


def test_sticky_key_always_lands_on_the_same_version_and_keys_spread():
    splitter = TrafficSplitter()
    traffic = {"100": 50, "200": 50}
    for key in ("alice", "bob", "carol"):
        assert len({splitter.choose(traffic, key) for _ in range(20)}) == 1
    spread = Counter(splitter.choose(traffic, f"user-{i}") for i in range(1000))
    assert 400 < spread["200"] < 600


def test_policy_waits_for_a_full_window_then_judges_errors_and_latency():
    policy = RollbackPolicy(window=10, max_error_rate=0.2, max_p99_ms=100)
    assert policy.verdict([(True, 1.0)] * 9) is None
    assert "error rate 100%" in policy.verdict([(True, 1.0)] * 10)
    assert policy.verdict([(False, 5.0)] * 8 + [(True, 5.0)] * 2) is None
    assert "p99 latency 500 ms" in policy.verdict([(False, 5.0)] * 9 + [(False, 500.0)])
    assert RollbackPolicy(window=1, enabled=False).verdict([(True, 1.0)]) is None
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 99) == 4
