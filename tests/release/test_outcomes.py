"""The outcome store, the feedback format and the REST feedback endpoint (no model, fast)."""

from __future__ import annotations

import io
import json
import threading
import time

import numpy as np
import pytest

from framework.core.errors import UserError
from framework.release.outcomes import (
    FeedbackError,
    OutcomeStore,
    outcomes_path_for,
    parse_feedback,
    read_feedback_file,
    read_outcomes,
    scores_of,
)


def probabilities(*values) -> dict:
    """A binary classifier's outputs: [N, 1] probabilities, as the taxi model answers."""
    return {"outputs": np.array([[v] for v in values], dtype=np.float32)}


def outcomes(store: OutcomeStore, version: str) -> list:
    return store.snapshot()["versions"].get(version, {}).get("outcomes", [])


# -- scores -------------------------------------------------------------------------------------


def test_one_score_per_example_is_kept_as_it_is():
    assert scores_of(probabilities(0.25, 0.75)) == ("score", 1, [0.25, 0.75])
    assert scores_of({"outputs": np.array([1.5, -2.0])}) == ("score", 1, [1.5, -2.0])


def test_class_scores_are_kept_as_the_argmax_class_and_its_score():
    kind, classes, scores = scores_of({"probs": np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])})
    assert (kind, classes) == ("class", 3)
    assert scores == [[1, 0.7], [0, 0.6]]


def test_the_output_named_outputs_is_scored_when_there_are_several():
    outputs = {"a_logits": np.array([[9.0, 1.0]]), "outputs": np.array([[0.3]])}
    assert scores_of(outputs) == ("score", 1, [0.3])


def test_outputs_that_are_not_finite_numbers_are_not_kept():
    store = OutcomeStore()
    store.record_prediction("r1", "100", {"outputs": np.array([b"cat"])})
    assert scores_of({"outputs": np.array([b"cat"])}) is None
    assert scores_of({"outputs": np.array([[0.5], [np.nan]])}) is None
    assert store.record_feedback([("r1", 1)])["unknown"] == 1


# -- feedback -------------------------------------------------------------------------------------


def test_feedback_turns_a_kept_prediction_into_an_outcome_of_its_version():
    store = OutcomeStore()
    store.record_prediction("r1", "100", probabilities(0.9))
    store.record_prediction("r2", "200", probabilities(0.2, 0.4))
    answer = store.record_feedback([("r1", 1), ("r2", [0, 1])])
    assert answer == {"accepted": 2, "unknown": 0, "unknown_ids": []}
    assert [row[2:] for row in outcomes(store, "100")] == [[[0.9], [1]]]
    assert [row[2:] for row in outcomes(store, "200")] == [[[0.2, 0.4], [0, 1]]]
    assert store.snapshot()["versions"]["200"]["awaiting_feedback"] == 0


def test_feedback_for_the_same_request_twice_replaces_the_first():
    store = OutcomeStore()
    store.record_prediction("r1", "100", probabilities(0.9))
    store.record_feedback([("r1", 0)])
    store.record_feedback([("r1", 1)])
    assert [(row[0], row[3]) for row in outcomes(store, "100")] == [("r1", [1])]
    assert store.accepted == 2


def test_unknown_request_ids_are_counted_and_named():
    store = OutcomeStore()
    store.record_prediction("r1", "100", probabilities(0.9))
    answer = store.record_feedback([("r1", 1), ("nope", 0), ("gone", 1)])
    assert answer == {"accepted": 1, "unknown": 2, "unknown_ids": ["nope", "gone"]}
    assert (store.accepted, store.unknown) == (1, 2)


@pytest.mark.parametrize("label, message", [
    (1, "request r2 had 2 examples, so 'label' must be a list of 2 labels (one per example); "
        "got one label"),
    ([1, 0, 1], "must be a list of 2 labels (one per example); got a list of 3"),
], ids=["scalar-for-two", "three-for-two"])
def test_a_label_that_does_not_fit_its_request_refuses_the_whole_batch(label, message):
    store = OutcomeStore()
    store.record_prediction("r1", "100", probabilities(0.9))
    store.record_prediction("r2", "100", probabilities(0.1, 0.2))
    with pytest.raises(FeedbackError) as refused:
        store.record_feedback([("r1", 1), ("r2", label)])
    assert str(refused.value).startswith("feedback[1]: ") and message in str(refused.value)
    assert outcomes(store, "100") == [] and (store.accepted, store.unknown) == (0, 0)
    assert store.record_feedback([("r1", 1)])["accepted"] == 1  # r1 was still waiting


def test_class_labels_must_be_classes_of_the_model():
    store = OutcomeStore()
    store.record_prediction("r1", "100", {"probs": np.array([[0.1, 0.7, 0.2]])})
    with pytest.raises(FeedbackError, match="label 3 of example 0 is not a class of the model, "
                       r"which scores 3 classes \(labels 0 to 2\)"):
        store.record_feedback([("r1", 3)], single=True)
    store.record_feedback([("r1", 2.0)])
    assert outcomes(store, "100")[0][2:] == [[[1, 0.7]], [2]]


def test_only_the_newest_predictions_per_version_wait_for_feedback():
    store = OutcomeStore(max_predictions=3)
    for i in range(5):
        store.record_prediction(f"a{i}", "100", probabilities(0.5))
    store.record_prediction("b0", "200", probabilities(0.5))  # another version's own bound
    answer = store.record_feedback([(f"a{i}", 1) for i in range(5)] + [("b0", 0)])
    assert answer["unknown_ids"] == ["a0", "a1"] and answer["accepted"] == 4


def test_only_the_newest_outcomes_per_version_are_kept():
    store = OutcomeStore(max_outcomes=2)
    for i in range(4):
        store.record_prediction(f"r{i}", "100", probabilities(0.5))
        store.record_feedback([(f"r{i}", 1)])
    assert [row[0] for row in outcomes(store, "100")] == ["r2", "r3"]
    assert store.record_feedback([("r0", 0)])["unknown"] == 1  # forgotten with its outcome


def test_a_new_prediction_under_a_kept_request_id_replaces_the_old_one():
    store = OutcomeStore()
    store.record_prediction("r1", "100", probabilities(0.9))
    store.record_feedback([("r1", 1)])
    store.record_prediction("r1", "200", probabilities(0.1))
    assert outcomes(store, "100") == []
    store.record_feedback([("r1", 0)])
    assert [row[2:] for row in outcomes(store, "200")] == [[[0.1], [0]]]


def test_concurrent_predictions_and_feedback_lose_nothing():
    store = OutcomeStore()
    errors = []

    def client(worker: int) -> None:
        try:
            for i in range(300):
                request_id = f"w{worker}-{i}"
                store.record_prediction(request_id, str(100 * (1 + worker % 2)),
                                        probabilities(0.5, 0.6))
                assert store.record_feedback([(request_id, [1, 0])])["accepted"] == 1
                store.snapshot()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(outcomes(store, "100")) == len(outcomes(store, "200")) == 1200
    assert store.accepted == 2400 and store.unknown == 0


# -- the feedback format --------------------------------------------------------------------------


@pytest.mark.parametrize("body, message", [
    ([1, 2], "feedback must be a JSON object"),
    ({"request_id": "r1"}, "feedback: missing 'label'"),
    ({"request_id": "r1", "label": 1, "lable": 1}, "feedback: unknown key(s) lable"),
    ({"request_id": "", "label": 1}, "'request_id' must be a non-empty string"),
    ({"request_id": "r1", "label": "yes"}, 'feedback.label: expected a number, got "yes"'),
    ({"request_id": "r1", "label": True}, "feedback.label: expected a number, got true"),
    ({"request_id": "r1", "label": float("nan")}, "expected a finite number, got nan"),
    ({"request_id": "r1", "label": []}, "'label' is an empty list"),
    ({"request_id": "r1", "label": [1, None]}, "feedback.label[1]: expected a number, got null"),
    ({"feedback": []}, "'feedback' must be a non-empty list"),
    ({"feedback": [{"request_id": "r1", "label": 1}, "r2"]}, "feedback[1]: expected an object"),
    ({"feedback": [{"request_id": "r1", "label": 1}], "x": 1}, "unknown key(s) x beside"),
], ids=["not-object", "no-label", "typo", "empty-id", "string-label", "bool-label", "nan",
        "empty-list", "null-in-list", "empty-batch", "item-not-object", "extra-key"])
def test_malformed_feedback_is_refused_with_a_message(body, message):
    with pytest.raises(FeedbackError) as refused:
        parse_feedback(body)
    assert message in str(refused.value)


def test_both_feedback_forms_parse():
    assert parse_feedback({"request_id": " r1 ", "label": 1}) == ([("r1", 1)], True)
    assert parse_feedback({"feedback": [{"request_id": "r1", "label": [0, 1.5]}]}) == (
        [("r1", [0, 1.5])], False)


# -- the file -------------------------------------------------------------------------------------


def test_the_writer_keeps_the_file_current_and_a_new_store_takes_it_up(tmp_path):
    path = outcomes_path_for(tmp_path / "taxi.release.json")
    assert path == str(tmp_path / "taxi.outcomes.json")
    store = OutcomeStore(path, interval_s=0.05)
    store.start_writer()
    try:
        store.record_prediction("r1", "100", probabilities(0.9))
        store.record_feedback([("r1", 1)])
        deadline = time.monotonic() + 10
        while not (read_outcomes(path) or {}).get("versions"):
            assert time.monotonic() < deadline, "the writer did not write the outcomes"
            time.sleep(0.02)
        store.record_prediction("r2", "100", probabilities(0.2))
        store.record_feedback([("r2", 0)])
    finally:
        store.stop_writer()  # writes what changed since the last write
    written = read_outcomes(path)["versions"]["100"]
    assert [row[0] for row in written["outcomes"]] == ["r1", "r2"]
    again = OutcomeStore(path, resume=True)
    again.record_feedback([("r1", 0)])  # a resumed outcome is replaced, not duplicated
    assert [(row[0], row[3]) for row in outcomes(again, "100")] == [("r2", [0]), ("r1", [0])]


def test_a_broken_outcomes_file_is_not_taken_up(tmp_path):
    path = tmp_path / "taxi.outcomes.json"
    path.write_text('{"versions": {"100": {"outcomes": [["r1", "oops"]]}}}')
    assert OutcomeStore(str(path), resume=True).snapshot()["versions"]["100"]["outcomes"] == []
    path.write_text("{not json")
    assert read_outcomes(str(path)) is None


def test_feedback_files_in_csv_and_json_lines(tmp_path):
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text('when,request_id,label\n2026-01-01,r1,1\n\n2026-01-01,r2,"[0, 1]"\n'
                        "2026-01-02,r3,0.5\n")
    assert read_feedback_file(str(csv_file)) == [(2, "r1", 1), (4, "r2", [0, 1]),
                                                 (5, "r3", 0.5)]
    lines = tmp_path / "labels.jsonl"
    lines.write_text('{"request_id": "r1", "label": 1}\n\n{"request_id": "r2", "label": [0]}\n')
    assert read_feedback_file(str(lines)) == [(1, "r1", 1), (3, "r2", [0])]


@pytest.mark.parametrize("name, text, message", [
    ("a.csv", "id,label\nr1,1\n", "the first line must be a CSV header naming the columns "
     "request_id and label (got: id,label)"),
    ("a.csv", "request_id,label\nr1,1\nr2,yes\n", "a.csv, line 3: label 'yes' is not a number"),
    ("a.csv", "request_id,label\nr1,nan\n", "a.csv, line 2: label 'nan' is not a number"),
    ("a.csv", "request_id,label\n,1\n", "a.csv, line 2: empty request_id"),
    ("a.csv", "request_id,label\n", "a.csv: no feedback rows in the file"),
    ("a.jsonl", '{"request_id": "r1", "label": 1}\n{"request_id": "r2"\n',
     "a.jsonl, line 2: not JSON"),
    ("a.jsonl", '{"request_id": "r1", "label": "one"}\n',
     'a.jsonl, line 1: label: expected a number, got "one"'),
], ids=["no-header", "word-label", "nan-label", "empty-id", "no-rows", "broken-line",
        "string-label"])
def test_a_bad_feedback_file_is_one_error_naming_the_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserError) as refused:
        read_feedback_file(str(path))
    assert message in str(refused.value)


def test_a_missing_feedback_file_is_one_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        read_feedback_file(str(tmp_path / "missing.csv"))


# -- the REST endpoint, through the service's REST core ----------------------------------------


@pytest.fixture
def app(tmp_path):
    from framework.release.policy import RollbackPolicy
    from framework.release.registry import Registry
    from framework.release.stats import ServingStats
    from framework.serving.app import PredictionService

    store = OutcomeStore()
    service = PredictionService(
        Registry(tmp_path / "taxi.release.json", str(tmp_path / "serving"), "taxi"),
        model_name="taxi", policy=RollbackPolicy(), stats=ServingStats(),
        max_request_bytes=1024, outcomes=store)
    return service


def call(service, path: str, body: bytes | dict | None = None, method: str = "POST"):
    """(status, JSON answer) of one request through the service's REST core."""
    import asyncio

    raw = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(raw)),
               "wsgi.input": io.BytesIO(raw)}
    status, _headers, payload = asyncio.run(service.answer_async(environ))
    return status, json.loads(payload)


def test_the_feedback_endpoint_takes_one_label_or_a_batch(app):
    app.outcomes.record_prediction("r1", "100", probabilities(0.9))
    app.outcomes.record_prediction("r2", "200", probabilities(0.1, 0.2))
    assert call(app, "/v1/models/taxi/feedback", {"request_id": "r1", "label": 1}) == (
        200, {"accepted": 1, "unknown": 0})
    assert call(app, "/v1/models/taxi/feedback", {"feedback": [
        {"request_id": "r2", "label": [0, 0]}, {"request_id": "r9", "label": 1}]}) == (
        200, {"accepted": 1, "unknown": 1, "unknown_ids": ["r9"]})
    assert len(outcomes(app.outcomes, "200")) == 1


@pytest.mark.parametrize("path, body, status, message", [
    ("/v1/models/taxi/feedback", {"request_id": "r9", "label": 1}, 404,
     "unknown request id 'r9': this server keeps no prediction answered under it"),
    ("/v1/models/taxi/feedback", {"request_id": "r2", "label": 1}, 400,
     "feedback: request r2 had 2 examples, so 'label' must be a list of 2 labels"),
    ("/v1/models/taxi/feedback", {"feedback": [{"request_id": "r1", "label": 1},
                                               {"request_id": "r2", "label": [1]}]}, 400,
     "feedback[1]: request r2 had 2 examples"),
    ("/v1/models/taxi/feedback", {"request_id": "r1", "label": "yes"}, 400,
     'feedback.label: expected a number, got "yes"'),
    ("/v1/models/taxi/feedback", b"{not json", 400, "malformed JSON"),
    ("/v1/models/taxi/feedback", b"\xff\xfe", 400, "the body is not UTF-8 text"),
    ("/v1/models/taxi/feedback", b" " * 1025, 400, "larger than the limit of 1024 bytes"),
    ("/v1/models/other/feedback", {"request_id": "r1", "label": 1}, 404, "model 'other'"),
    ("/v1/models/taxi/versions/100/feedback", {"request_id": "r1", "label": 1}, 404,
     "feedback goes to /v1/models/{name}/feedback"),
], ids=["unknown-id", "one-label-for-two", "batch-wrong-length", "string-label",
        "malformed-json", "not-utf8", "oversized", "other-model", "per-version-path"])
def test_refused_feedback_is_one_message_and_changes_nothing(app, path, body, status, message):
    app.outcomes.record_prediction("r1", "100", probabilities(0.9))
    app.outcomes.record_prediction("r2", "100", probabilities(0.1, 0.2))
    answer = call(app, path, body)
    assert answer[0] == status and message in answer[1]["error"], answer
    assert outcomes(app.outcomes, "100") == [] and app.outcomes.accepted == 0
    # The server goes on: the same requests still take their labels.
    assert call(app, "/v1/models/taxi/feedback", {"request_id": "r1", "label": 1})[0] == 200
    assert app.outcomes.accepted == 1


def test_feedback_needs_post_and_a_store(app):
    status, answer = call(app, "/v1/models/taxi/feedback", method="GET")
    assert status == 405 and "use POST for /feedback" in answer["error"]
    app.outcomes = None
    status, answer = call(app, "/v1/models/taxi/feedback", {"request_id": "r1", "label": 1})
    assert status == 501 and "release.ab_test.enabled is false" in answer["error"]
