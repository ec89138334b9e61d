"""TensorFlow Serving's gRPC API of the prediction service, on the model the taxi pipeline
pushed, called through the official tensorflow_serving.apis stubs.

One server per module with REST and gRPC on free ports (the model loads once); each test
sets the registry state it needs and waits until the server has switched to it.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter

import numpy as np
import pytest
import requests

from framework.release.policy import RollbackPolicy
from framework.release.registry import Registry
from framework.release.stats import ServingStats
from tests.release.test_serving import (
    BROKEN,
    CANARY,
    CORRUPT,
    GOOD,
    INSTANCE,
    predict,
    pushed_model,
    reset,
    save_broken_model,
    wait_until_serving,
)

pytestmark = pytest.mark.integration

MAX_MESSAGE = 256 * 1024  # the server's gRPC message limit in this module


@pytest.fixture(scope="module")
def served(taxi_run, tmp_path_factory):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    from framework.serving.app import PredictionService
    from framework.serving.server import serve

    root = tmp_path_factory.mktemp("grpc")
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
    server = serve(service, grpc_port=0, grpc_max_message_bytes=MAX_MESSAGE)
    channel = grpc.insecure_channel(server.grpc_address)
    stubs = (prediction_service_pb2_grpc.PredictionServiceStub(channel),
             model_service_pb2_grpc.ModelServiceStub(channel))
    yield server, registry, stubs
    channel.close()
    server.stop()


# -- requests built the way a TF Serving client builds them ----------------------------------

def tensor(value):
    import tensorflow as tf

    if isinstance(value, str):
        return tf.make_tensor_proto([value.encode()])
    if isinstance(value, int):
        return tf.make_tensor_proto(np.array([value], np.int64))
    return tf.make_tensor_proto(np.array([value], np.float32))


def predict_request(*rows, version=None, label=None, signature=None):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "taxi"
    if version is not None:
        request.model_spec.version.value = int(version)
    if label is not None:
        request.model_spec.version_label = label
    if signature is not None:
        request.model_spec.signature_name = signature
    for name in rows[0]:
        values = [row[name] for row in rows]
        if isinstance(values[0], str):
            request.inputs[name].CopyFrom(tf.make_tensor_proto([v.encode() for v in values]))
        else:
            dtype = np.int64 if isinstance(values[0], int) else np.float32
            request.inputs[name].CopyFrom(tf.make_tensor_proto(np.array(values, dtype)))
    return request


def example(row):
    import tensorflow as tf

    feature = {}
    for name, value in row.items():
        if isinstance(value, str):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def examples_request(kind, *rows, signature=None):
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    request = (classification_pb2.ClassificationRequest() if kind == "classify"
               else regression_pb2.RegressionRequest())
    request.model_spec.name = "taxi"
    if signature:
        request.model_spec.signature_name = signature
    request.input.example_list.examples.extend(example(row) for row in rows)
    return request


def status_request(name="taxi", version=None, label=None):
    from tensorflow_serving.apis import get_model_status_pb2

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = int(version)
    if label is not None:
        request.model_spec.version_label = label
    return request


def outputs_of(response) -> list:
    """The `outputs` tensor, flat ([N, 1] -> N values: pytest.approx takes flat lists)."""
    import tensorflow as tf

    array = tf.make_ndarray(response.outputs["outputs"])
    assert array.shape == (array.shape[0], 1)
    return array.ravel().tolist()


def rest_predictions(server, *rows, path=":predict") -> list:
    with requests.Session() as s:
        response = predict(s, server, {"instances": list(rows)}, path=path)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def failure(call, request, **kwargs):
    import grpc

    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30, **kwargs)
    return caught.value.code(), caught.value.details()


def versions_of(stats) -> dict:
    return {v: (s["requests"], s["errors"]) for v, s in stats.snapshot()["versions"].items()}


# -- Predict ---------------------------------------------------------------------------------

def test_predict_answers_what_rest_answers_for_the_same_instances(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    rows = (INSTANCE, dict(INSTANCE, fare=80.0, company="Sun Taxi"))
    response, call = prediction.Predict.with_call(predict_request(*rows), timeout=30,
                                                  metadata=[("x-request-id", "req-42")])
    expected = [p[0] for p in rest_predictions(server, *rows)]
    assert outputs_of(response) == pytest.approx(expected, abs=1e-6)
    assert response.model_spec.name == "taxi"
    assert response.model_spec.version.value == int(GOOD)
    assert response.model_spec.signature_name == "serving_default"
    metadata = dict(call.initial_metadata())
    assert metadata["x-model-version"] == GOOD and metadata["x-request-id"] == "req-42"


def test_predict_without_a_request_id_gets_a_new_one(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    _, first = prediction.Predict.with_call(predict_request(INSTANCE), timeout=30)
    _, second = prediction.Predict.with_call(predict_request(INSTANCE), timeout=30)
    ids = [dict(c.initial_metadata())["x-request-id"] for c in (first, second)]
    assert all(len(i) == 32 for i in ids) and ids[0] != ids[1]


def test_output_filter_answers_the_named_outputs_only(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    request = predict_request(INSTANCE)
    request.output_filter.append("outputs")
    assert list(prediction.Predict(request, timeout=30).outputs) == ["outputs"]
    request.output_filter[:] = ["logits"]
    code, details = failure(prediction.Predict, request)
    assert code.name == "INVALID_ARGUMENT"
    assert details == ("output_filter: unknown output(s) logits (signature 'serving_default' "
                       "has: outputs)")


def test_an_explicit_version_and_the_labels_pick_their_version(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    registry.canary(CANARY, 10, by="test")
    wait_until_serving(registry, server)

    def answered_by(**spec) -> set:
        return {prediction.Predict(predict_request(INSTANCE, **spec), timeout=30)
                .model_spec.version.value for _ in range(5)}

    assert answered_by(version=CANARY) == {int(CANARY)}
    assert answered_by(version=GOOD) == {int(GOOD)}
    assert answered_by(label="canary") == {int(CANARY)}
    assert answered_by(label="production") == {int(GOOD)}


def test_without_a_version_the_traffic_split_decides(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    # 30 % is used by no other test here: a new split counts afresh, and without a sticky
    # key it is exact (of the first n requests, the canary gets floor(n * 30 / 100)).
    registry.canary(CANARY, 30, by="test")
    wait_until_serving(registry, server)
    seen = Counter(dict(prediction.Predict.with_call(predict_request(INSTANCE), timeout=30)[1]
                        .initial_metadata())["x-model-version"] for _ in range(100))
    assert seen == {GOOD: 70, CANARY: 30}


def test_the_sticky_metadata_key_pins_a_caller_to_one_version(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    registry.canary(CANARY, 50, by="test")
    wait_until_serving(registry, server)
    seen = {key: {prediction.Predict(predict_request(INSTANCE), timeout=30,
                                     metadata=[("x-session-id", key)]).model_spec.version.value
                  for _ in range(4)}
            for key in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")}
    assert all(len(versions) == 1 for versions in seen.values()), seen
    assert set().union(*seen.values()) == {int(GOOD), int(CANARY)}


# -- Classify and Regress --------------------------------------------------------------------

@pytest.mark.parametrize("signature", [None, "from_examples"],
                         ids=["features-by-name", "serialized-examples"])
def test_classify_reads_the_sigmoid_output_as_two_classes(served, signature):
    server, registry, (prediction, _) = served
    reset(registry, server)
    rows = (INSTANCE, dict(INSTANCE, fare=80.0))
    response = prediction.Classify(examples_request("classify", *rows, signature=signature),
                                   timeout=30)
    expected = [p[0] for p in rest_predictions(server, *rows)]
    result = [[(c.label, c.score) for c in r.classes] for r in response.result.classifications]
    assert [[label for label, _ in row] for row in result] == [["0", "1"], ["0", "1"]]
    assert [row[1][1] for row in result] == pytest.approx(expected, abs=1e-6)
    assert [row[0][1] for row in result] == pytest.approx([1 - p for p in expected], abs=1e-6)
    assert response.model_spec.version.value == int(GOOD)
    assert response.model_spec.signature_name == (signature or "serving_default")


def test_regress_answers_the_single_output(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    rows = (INSTANCE, dict(INSTANCE, trip_seconds=3000))
    response = prediction.Regress(examples_request("regress", *rows), timeout=30)
    expected = [p[0] for p in rest_predictions(server, *rows)]
    assert [r.value for r in response.result.regressions] == pytest.approx(expected, abs=1e-6)


def test_classify_names_a_feature_the_examples_lack(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    row = {k: v for k, v in INSTANCE.items() if k != "fare"}
    code, details = failure(prediction.Classify, examples_request("classify", row))
    assert code.name == "INVALID_ARGUMENT"
    assert details.startswith("examples[0]: missing feature 'fare' (signature "
                              "'serving_default' takes: company, ")


def test_classify_refuses_a_signature_without_a_score_output(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    request = examples_request("classify", INSTANCE, signature="transform_features")
    code, details = failure(prediction.Classify, request)
    assert code.name == "INVALID_ARGUMENT"
    assert details.startswith("signature 'transform_features' cannot answer Classify: it needs "
                              "an output named 'scores'")


# -- metadata and status ---------------------------------------------------------------------

def test_get_model_metadata_packs_the_signature_defs_as_tf_serving_does(served):
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    server, registry, (prediction, _) = served
    reset(registry, server)
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "taxi"
    request.metadata_field.append("signature_def")
    response = prediction.GetModelMetadata(request, timeout=30)
    assert response.model_spec.name == "taxi" and response.model_spec.version.value == int(GOOD)
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    defs = get_model_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(defs)
    assert set(defs.signature_def) == {"serving_default", "from_examples", "transform_features"}
    inputs = defs.signature_def["serving_default"].inputs
    assert len(inputs) == 14
    rest = requests.get(f"{server.url}/v1/models/taxi/metadata").json()
    rest_inputs = rest["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    for name, dtype in (("fare", "DT_FLOAT"), ("company", "DT_STRING"),
                        ("trip_seconds", "DT_INT64")):
        assert types_pb2.DataType.Name(inputs[name].dtype) == dtype == rest_inputs[name]["dtype"]
        assert [d.size for d in inputs[name].tensor_shape.dim] == [-1]
        assert inputs[name].name == rest_inputs[name]["name"]
    examples = defs.signature_def["from_examples"].inputs["examples"]
    assert types_pb2.DataType.Name(examples.dtype) == "DT_STRING"
    assert [d.size for d in defs.signature_def["serving_default"].outputs["outputs"]
            .tensor_shape.dim] == [-1, 1]
    request.metadata_field[:] = ["other"]
    code, details = failure(prediction.GetModelMetadata, request)
    assert code.name == "INVALID_ARGUMENT" and "other" in details


def test_get_model_status_lists_each_version_like_rest(served):
    server, registry, (_, model_service) = served
    reset(registry, server)
    registry.canary(CORRUPT, 10, by="test")  # fails to load: END, with the load error
    wait_until_serving(registry, server)
    response = model_service.GetModelStatus(status_request(), timeout=30)
    got = [(s.version, get_state_name(s.state), s.status.error_message)
           for s in response.model_version_status]
    rest = requests.get(f"{server.url}/v1/models/taxi").json()["model_version_status"]
    assert got == [(int(r["version"]), r["state"], r["status"]["error_message"]) for r in rest]
    assert [(v, state) for v, state, _ in got] == [(int(CORRUPT), "END"), (int(GOOD), "AVAILABLE")]
    assert got[0][2] and got[1][2] == ""
    one = model_service.GetModelStatus(status_request(version=GOOD), timeout=30)
    assert [s.version for s in one.model_version_status] == [int(GOOD)]
    by_label = model_service.GetModelStatus(status_request(label="canary"), timeout=30)
    assert [s.version for s in by_label.model_version_status] == [int(CORRUPT)]


def get_state_name(state: int) -> str:
    from tensorflow_serving.apis import get_model_status_pb2

    return get_model_status_pb2.ModelVersionStatus.State.Name(state)


def test_reloading_the_config_is_left_to_the_registry(served):
    from tensorflow_serving.apis import model_management_pb2

    _, _, (_, model_service) = served
    code, details = failure(model_service.HandleReloadConfigRequest,
                            model_management_pb2.ReloadConfigRequest())
    assert code.name == "UNIMPLEMENTED" and "mlops release" in details


# -- errors: the REST text, gRPC's codes -----------------------------------------------------

def test_unknown_model_version_and_label_are_not_found_with_the_rest_message(served):
    server, registry, (prediction, model_service) = served
    reset(registry, server)
    cases = [
        (model_service.GetModelStatus, status_request(name="other"), "/v1/models/other", "get"),
        (prediction.Predict, predict_request(INSTANCE, version="999"),
         "/v1/models/taxi/versions/999:predict", "post"),
        (prediction.Predict, predict_request(INSTANCE, label="staging"),
         "/v1/models/taxi/labels/staging:predict", "post"),
        (prediction.Predict, predict_request(INSTANCE, label="canary"),  # none is out
         "/v1/models/taxi/labels/canary:predict", "post"),
    ]
    for call, request, path, method in cases:
        code, details = failure(call, request)
        rest = requests.request(method, f"{server.url}{path}", json={"instances": [INSTANCE]})
        assert code.name == "NOT_FOUND", details
        assert rest.status_code == 404 and details == rest.json()["error"]


def bad_predict_requests() -> dict:
    import tensorflow as tf

    wrong_dtype = predict_request(INSTANCE)
    wrong_dtype.inputs["fare"].CopyFrom(tensor(12))  # int64 where float32 is expected
    wrong_shape = predict_request(INSTANCE)
    wrong_shape.inputs["fare"].CopyFrom(tf.make_tensor_proto(np.array([[12.5]], np.float32)))
    unknown_input = predict_request(dict(INSTANCE, tip=1.0))
    missing_input = predict_request({k: v for k, v in INSTANCE.items() if k != "company"})
    ragged = predict_request(INSTANCE)
    ragged.inputs["fare"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0], np.float32)))
    return {
        "wrong-dtype": (wrong_dtype, "inputs.fare: expected float32 (DT_FLOAT), got DT_INT64"),
        "wrong-shape": (wrong_shape, "inputs.fare: expected shape [-1], got [1, 1]"),
        "unknown-signature": (predict_request(INSTANCE, signature="nope"),
                              "signature 'nope' not found (this model has: from_examples, "
                              "serving_default, transform_features)"),
        "unknown-input": (unknown_input, "inputs: unknown input(s) tip (signature "
                                         "'serving_default' takes: "),
        "missing-input": (missing_input, "inputs: missing input(s) company"),
        "mismatched-batch": (ragged, "inputs: every input must have the same number of "
                                     "examples (first dimension), got company=1, "),
    }


@pytest.mark.parametrize("case", ["wrong-dtype", "wrong-shape", "unknown-signature",
                                  "unknown-input", "missing-input", "mismatched-batch"])
def test_bad_predict_requests_are_invalid_argument_with_a_message(served, case):
    server, registry, (prediction, _) = served
    reset(registry, server)
    request, message = bad_predict_requests()[case]
    code, details = failure(prediction.Predict, request)
    assert code.name == "INVALID_ARGUMENT"
    assert details.startswith(message), details


def test_a_message_over_the_limit_is_resource_exhausted(served):
    server, registry, (prediction, _) = served
    reset(registry, server)
    request = predict_request(dict(INSTANCE, company="x" * (MAX_MESSAGE + 1)))
    assert request.ByteSize() > MAX_MESSAGE
    code, details = failure(prediction.Predict, request)
    assert code.name == "RESOURCE_EXHAUSTED", details
    assert prediction.Predict(predict_request(INSTANCE), timeout=30).model_spec.version.value \
        == int(GOOD)


def test_after_bad_requests_the_server_answers_and_counts_only_model_calls(served):
    import grpc

    server, registry, (prediction, model_service) = served
    reset(registry, server)
    # BROKEN fails every prediction (a model error); at 50 % the traffic split sends half
    # of the bad requests below to it, and they must not count against it.
    registry.canary(BROKEN, 50, by="test")
    wait_until_serving(registry, server)
    before = versions_of(server.service.stats)
    bad = [r for r, _ in bad_predict_requests().values()]
    bad += [predict_request(dict(INSTANCE, company="x" * (MAX_MESSAGE + 1))),
            predict_request(INSTANCE, version="999"),
            examples_request("classify", {k: v for k, v in INSTANCE.items() if k != "fare"}),
            examples_request("classify", INSTANCE, signature="transform_features")]
    codes, routed = Counter(), Counter()
    for request in bad:
        call = prediction.Classify if hasattr(request, "input") else prediction.Predict
        with pytest.raises(grpc.RpcError) as caught:
            call(request, timeout=30)
        codes[caught.value.code().name] += 1
        routed[dict(caught.value.initial_metadata() or ()).get("x-model-version")] += 1
    assert codes == {"INVALID_ARGUMENT": 8, "RESOURCE_EXHAUSTED": 1, "NOT_FOUND": 1}
    assert routed[BROKEN] == 4 and routed[GOOD] == 4  # the other two never got a version
    # A model failure is the version's error, with the REST answer's message.
    code, details = failure(prediction.Predict, predict_request(INSTANCE, version=BROKEN))
    with requests.Session() as s:
        rest = predict(s, server, {"instances": [INSTANCE]}, path=f"/versions/{BROKEN}:predict")
    assert code.name == "INTERNAL" and details == rest.json()["error"]
    assert "deliberately broken model" in details
    good = prediction.Predict(predict_request(INSTANCE, version=GOOD), timeout=30)
    [expected] = rest_predictions(server, INSTANCE, path=f"/versions/{GOOD}:predict")
    assert outputs_of(good) == pytest.approx(expected, abs=1e-6)
    after = versions_of(server.service.stats)
    good_before = before.get(GOOD, (0, 0))
    broken_before = before.get(BROKEN, (0, 0))
    # GOOD: the gRPC call and the REST comparison; BROKEN: one failure over each API.
    assert after[GOOD] == (good_before[0] + 2, good_before[1])
    assert after[BROKEN] == (broken_before[0] + 2, broken_before[1] + 2)
