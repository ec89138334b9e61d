"""The prediction service over HTTP, on the model the taxi pipeline pushed.

One server per module (the model loads once); each test sets the registry state it needs
and waits until the server has switched to it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from framework.release.policy import RollbackPolicy
from framework.release.registry import Registry
from framework.release.stats import ServingStats
from pipelines.taxi.features import EXAMPLE_INSTANCE as INSTANCE

pytestmark = pytest.mark.integration

GOOD, CANARY, BROKEN, CORRUPT = "100", "200", "300", "400"


def pushed_model(taxi_run) -> Path:
    versions = sorted(p for p in (taxi_run.workdir / "serving").iterdir() if p.name.isdigit())
    assert versions, "the taxi pipeline pushed no model"
    return versions[-1]


def save_broken_model(source: Path, target: Path) -> None:
    """A SavedModel with the same serving signature that fails every prediction."""
    import tensorflow as tf

    specs = tf.saved_model.load(str(source)).signatures["serving_default"] \
        .structured_input_signature[1]

    class Broken(tf.Module):
        @tf.function(input_signature=[specs])
        def serve(self, features):
            size = tf.shape(features["fare"])[0]
            tf.debugging.assert_equal(size, -1, message="deliberately broken model")
            return {"outputs": tf.zeros([size, 1])}

    module = Broken()
    tf.saved_model.save(module, str(target),
                        signatures={"serving_default": module.serve.get_concrete_function()})


@pytest.fixture(scope="module")
def served(taxi_run, tmp_path_factory):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from framework.serving.app import PredictionService
    from framework.serving.server import serve

    root = tmp_path_factory.mktemp("serving")
    serving = root / "serving"
    source = pushed_model(taxi_run)
    for version in (GOOD, CANARY):
        shutil.copytree(source, serving / version)
    save_broken_model(source, serving / BROKEN)
    (serving / CORRUPT).mkdir()
    (serving / CORRUPT / "saved_model.pb").write_bytes(b"not a saved model")
    registry = Registry(root / "serving.release.json", str(serving), "taxi")
    registry.promote(GOOD, by="test")
    service = PredictionService(
        registry, model_name="taxi",
        policy=RollbackPolicy(window=20, max_error_rate=0.2, max_p99_ms=60_000),
        stats=ServingStats(root / "stats.json", interval_s=0.1), max_request_bytes=64 * 1024,
        sticky_header="X-Session-Id", poll_interval_s=0.05)
    server = serve(service)
    yield server, registry
    server.stop()


def reset(registry: Registry, server) -> None:
    """Back to GOOD alone in production, and wait until the server serves that."""
    with registry.transaction() as state:
        for info in state.versions.values():
            info["stage"] = "candidate"
            info.pop("rolled_back", None)
        state.versions[GOOD]["stage"] = "production"
        state.production, state.canary, state.canary_percent = GOOD, None, 0
        state.previous, state.rolled_back = [], None
    wait_until_serving(registry, server)


def wait_until_serving(registry: Registry, server, timeout: float = 60) -> None:
    want = registry.read().revision
    deadline = time.monotonic() + timeout
    while server.service.routing.revision != want:
        assert time.monotonic() < deadline, "the server did not pick up the registry change"
        time.sleep(0.02)


def predict(session, server, body, path=":predict", **kwargs):
    return session.post(f"{server.url}/v1/models/taxi{path}", data=json.dumps(body), **kwargs)


def test_predicts_rows_and_columns_with_the_pipeline_model(served):
    server, registry = served
    reset(registry, server)
    with requests.Session() as s:
        rows = predict(s, server, {"instances": [INSTANCE, dict(INSTANCE, fare=80.0)]})
        columns = predict(s, server, {"inputs": {k: [v] for k, v in INSTANCE.items()}})
        by_version = predict(s, server, {"instances": [INSTANCE]}, path=f"/versions/{GOOD}:predict")
    assert rows.status_code == 200, rows.text
    predictions = rows.json()["predictions"]
    assert len(predictions) == 2 and all(0.0 <= p[0] <= 1.0 for p in predictions)
    assert rows.headers["X-Model-Version"] == GOOD
    assert columns.json()["outputs"][0] == pytest.approx(predictions[0], abs=1e-5)
    assert by_version.json()["predictions"][0] == pytest.approx(predictions[0], abs=1e-5)


def test_from_examples_signature_takes_serialized_tf_examples_as_b64(served):
    import base64

    import tensorflow as tf

    server, registry = served
    reset(registry, server)
    feature = {}
    for name, value in INSTANCE.items():
        if isinstance(value, str):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    example = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
    with requests.Session() as s:
        raw = predict(s, server, {"instances": [INSTANCE]})
        serialized = predict(s, server, {"signature_name": "from_examples", "instances": [
            {"b64": base64.b64encode(example).decode()}]})
    assert serialized.status_code == 200, serialized.text
    assert serialized.json()["predictions"][0] == pytest.approx(raw.json()["predictions"][0],
                                                                abs=1e-5)


def test_status_and_metadata_follow_tf_serving(served):
    server, registry = served
    reset(registry, server)
    status = requests.get(f"{server.url}/v1/models/taxi").json()
    assert status["model_version_status"] == [
        {"version": GOOD, "state": "AVAILABLE", "status": {"error_code": "OK",
                                                            "error_message": ""}}]
    meta = requests.get(f"{server.url}/v1/models/taxi/metadata").json()
    assert meta["model_spec"] == {"name": "taxi", "signature_name": "", "version": GOOD}
    inputs = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert inputs["fare"]["dtype"] == "DT_FLOAT"
    assert inputs["company"]["dtype"] == "DT_STRING"
    assert inputs["trip_seconds"]["dtype"] == "DT_INT64"
    assert len(inputs) == 14
    assert requests.get(f"{server.url}/v1/models/other").status_code == 404


@pytest.mark.parametrize("body, message", [
    (b"{not json", "malformed JSON"),
    (json.dumps({"instances": [dict(INSTANCE, tip=1)]}).encode(), "unknown input(s) tip"),
    (json.dumps({"instances": [{k: v for k, v in INSTANCE.items() if k != "fare"}]}).encode(),
     "missing input(s) fare"),
    (json.dumps({"instances": [dict(INSTANCE, fare="twelve")]}).encode(),
     "instances[0].fare: expected a number (float32), got a string"),
    (json.dumps({"instances": [dict(INSTANCE, trip_seconds=6.5)]}).encode(),
     "instances[0].trip_seconds: expected an integer (int64)"),
    (json.dumps({"instances": [dict(INSTANCE, company=7)]}).encode(),
     "instances[0].company: expected a string"),
    (json.dumps({"inputs": {k: [v, v] if k != "fare" else [v] for k, v in INSTANCE.items()}})
     .encode(), "same number of examples"),
    (json.dumps({"rows": []}).encode(), "exactly one of 'instances'"),
    (b" " * (64 * 1024 + 1), "larger than the limit of 65536 bytes"),
], ids=["malformed-json", "unknown-feature", "missing-feature", "string-for-float",
        "float-for-int", "number-for-string", "ragged-columns", "no-instances", "oversized"])
def test_bad_requests_get_400_with_a_message(served, body, message):
    server, registry = served
    reset(registry, server)
    response = requests.post(f"{server.url}/v1/models/taxi:predict", data=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_canary_at_10_percent_gets_10_percent_of_2000_requests(served):
    server, registry = served
    reset(registry, server)
    registry.canary(CANARY, 10, by="test")
    wait_until_serving(registry, server)
    counts: list[Counter] = []

    def client():  # 4 clients x 500 requests
        with requests.Session() as s:
            counts.append(Counter(
                predict(s, server, {"instances": [INSTANCE]}).headers["X-Model-Version"]
                for _ in range(500)))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    versions = sum(counts, Counter())
    assert sum(versions.values()) == 2000
    assert set(versions) == {GOOD, CANARY}
    assert abs(versions[CANARY] / 2000 - 0.10) <= 0.03
    stats = server.service.stats.snapshot()["versions"]
    assert stats[CANARY]["requests"] >= versions[CANARY]
    assert stats[CANARY]["p99_ms"] >= stats[CANARY]["p50_ms"] > 0


def test_sticky_header_pins_a_caller_to_one_version(served):
    server, registry = served
    reset(registry, server)
    registry.canary(CANARY, 50, by="test")
    wait_until_serving(registry, server)
    with requests.Session() as s:
        seen = {key: {predict(s, server, {"instances": [INSTANCE]},
                              headers={"X-Session-Id": key}).headers["X-Model-Version"]
                      for _ in range(5)} for key in ("alice", "bob", "carol", "dave")}
    assert all(len(versions) == 1 for versions in seen.values())


def test_promote_and_rollback_under_a_concurrent_client_fail_no_request(served):
    server, registry = served
    reset(registry, server)
    stop = threading.Event()
    results: list[Counter] = []

    def client():
        seen = Counter()
        with requests.Session() as s:
            for _ in range(5000):  # bounded; normally ended by `stop` after a few seconds
                if stop.is_set():
                    break
                try:
                    r = predict(s, server, {"instances": [INSTANCE]}, timeout=30)
                    seen[r.headers.get("X-Model-Version") if r.ok else f"HTTP {r.status_code}"] += 1
                except requests.RequestException as exc:
                    seen[f"failed: {type(exc).__name__}"] += 1
        results.append(seen)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for step in (lambda: registry.canary(CANARY, 30, by="test"),
                     lambda: registry.promote(by="test"),
                     lambda: registry.rollback(by="test", reason="drill")):
            time.sleep(0.5)
            step()
            wait_until_serving(registry, server)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    total = sum(results, Counter())
    assert set(total) == {GOOD, CANARY}, total  # nothing but successful answers
    assert registry.read().production == GOOD


@pytest.mark.parametrize("bad", [BROKEN, CORRUPT], ids=["fails-every-request", "fails-to-load"])
def test_a_canary_that_fails_every_request_is_rolled_back_automatically(served, bad):
    server, registry = served
    reset(registry, server)
    registry.canary(bad, 50, by="test")
    wait_until_serving(registry, server)
    codes, errors = Counter(), set()
    with requests.Session() as s:
        for _ in range(200):  # the policy's window is 20 canary requests
            response = predict(s, server, {"instances": [INSTANCE]})
            codes[response.status_code] += 1
            if response.status_code != 200:
                errors.add(response.json()["error"])
            state = registry.read()
            if state.canary is None:
                break
    state = registry.read()
    assert state.canary is None and state.traffic() == {GOOD: 100}
    assert state.versions[bad]["stage"] == "archived"
    last = state.history[-1]
    assert last["action"] == "rollback" and last["version"] == bad
    assert last["by"] == "mlops serve (automatic rollback policy)"
    assert "error rate 100% (20 of the last 20 canary requests)" in last["reason"]
    assert codes[200] > 0 and sum(codes.values()) - codes[200] >= 20
    expected = {BROKEN: ("failed: InvalidArgumentError: assertion failed: "
                         "[deliberately broken model]"),
                CORRUPT: "failed to load"}[bad]
    assert all(expected in e for e in errors), errors
    # From the switch on, production answers everything.
    wait_until_serving(registry, server)
    with requests.Session() as s:
        after = {predict(s, server, {"instances": [INSTANCE]}).status_code for _ in range(20)}
    assert after == {200}
