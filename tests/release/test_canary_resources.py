"""The rollback policy's resource and prediction limits, over HTTP, on the taxi model.

One server with copies of the pushed model: the same model again, one that does the same
and then a chain of matrix products (more CPU a request, same answers), one that answers
(1 + p) / 2 (always higher, and far from p for the few trips sent here), and one that
carries a large unused variable (more memory to load). Each test sends
a canary out at 50 % with a policy that judges 20 requests of each version, drives one
client's traffic, and reads the registry's history.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from framework.release.policy import RollbackPolicy
from framework.release.registry import Registry
from framework.release.stats import ServingStats
from tests.conftest import ROOT
from tests.release.test_serving import INSTANCE, predict, pushed_model, wait_until_serving

pytestmark = pytest.mark.integration

GOOD, SAME, HEAVY, SHIFTED, FAT = "100", "200", "300", "400", "500"
AUTO = "mlops serve (automatic rollback policy)"
BALLAST_MB = 256  # the FAT model's unused variable
# A few different trips, so the scores are not all one value.
TRIPS = [dict(INSTANCE, fare=fare, trip_miles=miles)
         for fare, miles in ((5.0, 0.8), (12.5, 3.0), (30.0, 9.0), (60.0, 20.0), (9.0, 1.5))]


def _wrap(source: Path, target: Path, change, ballast_mb: int = 0) -> None:
    """A SavedModel with the source's serving signature whose serving function returns
    change(module, features, the source's outputs); with `ballast_mb`, the module also
    holds a variable of that many MB, which loading restores into memory."""
    import tensorflow as tf

    base = tf.saved_model.load(str(source))
    specs = base.signatures["serving_default"].structured_input_signature[1]

    class Wrapped(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base
            if ballast_mb:
                self.ballast = tf.Variable(tf.ones([ballast_mb << 18]))  # 4-byte floats

        @tf.function(input_signature=[specs])
        def serve(self, features):
            return change(self, features, self.base.signatures["serving_default"](**features))

    module = Wrapped()
    tf.saved_model.save(module, str(target),
                        signatures={"serving_default": module.serve.get_concrete_function()})


def _heavy(module, features, outputs):
    """The same answers for several times the CPU: six 512x512 matrix products a request
    (TensorFlow runs them on its op threads), built from the input so nothing is folded
    away, and a test that is never true so they are not pruned."""
    import tensorflow as tf

    fare = tf.abs(tf.reduce_mean(tf.cast(features["fare"], tf.float32)))
    x = tf.fill([512, 512], (fare + 1.0) / (fare + 1.0) / 512.0)
    for _ in range(6):
        x = tf.matmul(x, x)
    never = tf.reduce_mean(x) < -1.0
    return {k: v + tf.cast(never, v.dtype) for k, v in outputs.items()}


def _shifted(module, features, outputs):
    return {k: (1.0 + v) / 2.0 for k, v in outputs.items()}


def _with_ballast(module, features, outputs):
    return {k: v + 0.0 * module.ballast[0] for k, v in outputs.items()}


def save_models(source: Path, serving: Path) -> None:
    shutil.copytree(source, serving / GOOD)
    shutil.copytree(source, serving / SAME)
    _wrap(source, serving / HEAVY, _heavy)
    _wrap(source, serving / SHIFTED, _shifted)
    _wrap(source, serving / FAT, _with_ballast, ballast_mb=BALLAST_MB)


@pytest.fixture(scope="module")
def served(taxi_run, tmp_path_factory):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from framework.serving.app import PredictionService
    from framework.serving.batching import Batcher
    from framework.serving.server import serve

    root = tmp_path_factory.mktemp("canary-resources")
    serving = root / "serving"
    serving.mkdir()
    # Built in another process: memory this one allocated and freed to build them (the
    # 256 MB variable) would be reused by the loads and hide their cost.
    built = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from tests.release.test_canary_resources import save_models; "
         "save_models(Path(sys.argv[1]), Path(sys.argv[2]))",
         str(pushed_model(taxi_run)), str(serving)],
        cwd=ROOT, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"}, capture_output=True,
        text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    registry = Registry(root / "serving.release.json", str(serving), "taxi")
    registry.promote(GOOD, by="test")
    service = PredictionService(
        registry, model_name="taxi", policy=RollbackPolicy(enabled=False),
        stats=ServingStats(root / "stats.json", interval_s=0.1), poll_interval_s=0.05,
        batcher=Batcher())
    server = serve(service)
    yield server, registry
    server.stop()


def canary_out(served, version: str, **limits) -> tuple:
    """GOOD in production, `version` a 50 % canary, judged by a policy of 20 requests with
    these limits (the others as the defaults)."""
    server, registry = served
    server.service.policy = RollbackPolicy(window=20, drift_examples=20, **limits)
    with registry.transaction() as state:
        for info in state.versions.values():
            info["stage"] = "candidate"
            info.pop("rolled_back", None)
        state.versions[GOOD]["stage"] = "production"
        state.production, state.canary, state.canary_percent = GOOD, None, 0
        state.previous, state.rolled_back = [], None
    wait_until_serving(registry, server)
    registry.canary(version, 50, by="test")
    wait_until_serving(registry, server)
    return server, registry


def drive(server, registry, requests_at_most: int) -> int:
    """One client's predictions (a few trips in turn) until the canary is rolled back or
    `requests_at_most` were sent; the canary's requests answered."""
    canary = registry.read().canary
    answered = 0
    with requests.Session() as s:
        for i in range(requests_at_most):
            response = predict(s, server, {"instances": [TRIPS[i % len(TRIPS)]]})
            assert response.status_code == 200, response.text
            answered += response.headers["X-Model-Version"] == canary
            if server.service.routing.canary is None:
                break
    deadline = time.monotonic() + 30  # the registry write follows in the background
    while server.service.routing.canary is None and registry.read().canary is not None:
        assert time.monotonic() < deadline, "the rollback was not written to the registry"
        time.sleep(0.05)
    return answered


def rolled_back_because(registry, version: str) -> str:
    state = registry.read()
    assert state.canary is None and state.traffic() == {GOOD: 100}
    assert state.versions[version]["stage"] == "archived"
    last = state.history[-1]
    assert last["action"] == "rollback" and last["version"] == version and last["by"] == AUTO
    return last["reason"]


def judged(server, rule: str) -> dict:
    policy = server.service.stats.snapshot()["policy"]
    return next(c for c in policy["checks"] if c["rule"] == rule)


def test_a_canary_using_several_times_productions_cpu_is_rolled_back_on_cpu(served):
    server, registry = canary_out(served, HEAVY, max_cpu_ratio=2.0)
    answered = drive(server, registry, 200)
    reason = rolled_back_because(registry, HEAVY)
    assert reason.startswith("CPU ") and reason.endswith("above 2x"), reason
    assert answered >= 20
    check = judged(server, "cpu_ratio")
    assert check["crossed"] and check["value"] > 2.0


def test_a_canary_of_the_same_cost_stays_out_with_its_cpu_judged(served):
    server, registry = canary_out(served, SAME, max_cpu_ratio=2.0)
    answered = drive(server, registry, 120)
    assert registry.read().canary == SAME and server.service.routing.canary == SAME
    assert answered >= 40  # judged again on each of the canary's requests after its 20th
    check = judged(server, "cpu_ratio")
    assert check["value"] is not None and not check["crossed"]
    assert 0.5 < check["value"] < 2.0, check
    drift = judged(server, "drift")  # the same answers to the same trips
    assert drift["value"] is not None and drift["value"] < 0.1 and not drift["crossed"]


def test_a_canary_whose_predictions_differ_is_rolled_back_on_drift(served):
    server, registry = canary_out(served, SHIFTED, max_prediction_drift=0.3)
    drive(server, registry, 200)
    reason = rolled_back_because(registry, SHIFTED)
    assert reason.startswith("prediction drift ") and reason.endswith("is above 0.3"), reason
    assert judged(server, "drift")["value"] > 0.5


def test_a_canary_whose_load_cost_exceeds_the_memory_budget_is_rolled_back(served):
    budget = BALLAST_MB // 2
    server, registry = canary_out(served, FAT, max_memory_growth_mb=budget)
    load_cost = server.service.stats.load_cost_mb(FAT)
    assert load_cost > BALLAST_MB * 0.9, load_cost  # measured as the version loaded
    drive(server, registry, 200)
    reason = rolled_back_because(registry, FAT)
    assert reason == (f"canary load cost {load_cost:.0f} MB of resident memory is above "
                      f"{budget} MB")
