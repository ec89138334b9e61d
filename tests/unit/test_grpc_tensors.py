"""framework/serving/tensors.py: gRPC payloads <-> numpy, checked against a signature.

No server and no model: TensorFlow's own tf.make_tensor_proto / tf.make_ndarray are the
reference for what a client sends and reads.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
tf = pytest.importorskip("tensorflow")

from tensorflow_serving.apis import input_pb2  # noqa: E402

from framework.serving import tensors  # noqa: E402
from framework.serving.signature import RequestError, Signature, TensorInfo  # noqa: E402

RAW = Signature(
    "serving_default",
    {"fare": TensorInfo("fare", "float32", (None,)),
     "company": TensorInfo("company", "string", (None,)),
     "trips": TensorInfo("trips", "int64", (None,)),
     "pair": TensorInfo("pair", "int8", (None, 2))},
    {"outputs": TensorInfo("outputs", "float32", (None, 1))})
SERIALIZED = Signature("from_examples", {"examples": TensorInfo("examples", "string", (None,))},
                       {"outputs": TensorInfo("outputs", "float32", (None, 1))})


def good_inputs(batch: int = 2) -> dict:
    return {
        "fare": tf.make_tensor_proto(np.arange(batch, dtype=np.float32) + 0.5),
        "company": tf.make_tensor_proto([f"c{i}".encode() for i in range(batch)],
                                        dtype=tf.string),
        "trips": tf.make_tensor_proto(np.arange(batch, dtype=np.int64) * 10),
        "pair": tf.make_tensor_proto(np.arange(2 * batch, dtype=np.int8).reshape(batch, 2)),
    }


def refused(inputs, signature=RAW) -> str:
    with pytest.raises(RequestError) as caught:
        tensors.arrays_from_tensors(inputs, signature)
    assert caught.value.code == "INVALID_ARGUMENT"
    return str(caught.value)


# -- TensorProto -> numpy --------------------------------------------------------------------

def test_tensors_from_make_tensor_proto_become_the_same_arrays():
    arrays = tensors.arrays_from_tensors(good_inputs(), RAW)
    assert arrays["fare"].dtype == np.float32 and arrays["fare"].tolist() == [0.5, 1.5]
    assert arrays["company"].tolist() == [b"c0", b"c1"]
    assert arrays["trips"].dtype == np.int64 and arrays["trips"].tolist() == [0, 10]
    assert arrays["pair"].dtype == np.int8 and arrays["pair"].tolist() == [[0, 1], [2, 3]]


def test_typed_value_fields_are_read_like_tensor_content():
    inputs = good_inputs()
    fare = tf.make_tensor_proto(np.array([0.5, 1.5], np.float32))
    inputs["fare"] = type(fare)(dtype=fare.dtype, tensor_shape=fare.tensor_shape,
                                float_val=[0.5, 1.5])
    pair = inputs["pair"]
    inputs["pair"] = type(pair)(dtype=pair.dtype, tensor_shape=pair.tensor_shape,
                                int_val=[0, 1, 2, 3])
    arrays = tensors.arrays_from_tensors(inputs, RAW)
    assert arrays["fare"].tolist() == [0.5, 1.5]
    assert arrays["pair"].tolist() == [[0, 1], [2, 3]]


def test_one_value_fills_the_shape_as_tensorflow_does():
    inputs = good_inputs(3)
    inputs["fare"] = tf.make_tensor_proto(7.25, dtype=tf.float32, shape=[3])
    assert len(inputs["fare"].float_val) == 1  # the compact form make_tensor_proto sends
    assert tensors.arrays_from_tensors(inputs, RAW)["fare"].tolist() == [7.25, 7.25, 7.25]


@pytest.mark.parametrize("dtype", ["float16", "float64", "int16", "int32", "uint8", "uint16",
                                   "uint32", "uint64", "bool"])
def test_every_supported_dtype_round_trips(dtype):
    signature = Signature("s", {"x": TensorInfo("x", dtype, (None, 2))}, {})
    values = np.array([[1, 0], [0, 1]], dtype=dtype)
    array = tensors.arrays_from_tensors({"x": tf.make_tensor_proto(values)}, signature)["x"]
    assert array.dtype == np.dtype(dtype) and array.tolist() == values.tolist()
    back = tf.make_ndarray(tensors.tensor_proto(values))
    assert back.dtype == np.dtype(dtype) and back.tolist() == values.tolist()


def test_a_wrong_dtype_names_the_input_and_both_types():
    inputs = good_inputs()
    inputs["fare"] = tf.make_tensor_proto(np.array([1, 2], np.int64))
    assert refused(inputs) == "inputs.fare: expected float32 (DT_FLOAT), got DT_INT64"


def test_a_wrong_rank_is_refused_with_both_shapes():
    inputs = good_inputs()
    inputs["fare"] = tf.make_tensor_proto(np.array([[1.0], [2.0]], np.float32))
    assert refused(inputs) == "inputs.fare: expected shape [-1], got [2, 1] (-1 is any size)"


def test_a_fixed_dimension_must_match():
    inputs = good_inputs()
    inputs["pair"] = tf.make_tensor_proto(np.zeros((2, 3), np.int8))
    assert "inputs.pair: expected shape [-1, 2], got [2, 3]" in refused(inputs)


def test_unknown_and_missing_inputs_are_named():
    inputs = good_inputs()
    del inputs["trips"]
    inputs["tip"] = tf.make_tensor_proto(np.array([1.0, 2.0], np.float32))
    message = refused(inputs)
    assert "unknown input(s) tip" in message and "missing input(s) trips" in message
    assert "signature 'serving_default' takes: company, fare, pair, trips" in message


def test_inputs_with_different_batch_sizes_are_refused():
    inputs = good_inputs()
    inputs["fare"] = tf.make_tensor_proto(np.array([1.0], np.float32))
    assert refused(inputs) == ("inputs: every input must have the same number of examples "
                               "(first dimension), got company=2, fare=1, pair=2, trips=2")


def test_an_empty_batch_is_refused():
    assert "the batch is empty" in refused(good_inputs(0))


def test_more_values_than_the_shape_holds_are_refused():
    inputs = good_inputs()
    inputs["trips"] = type(inputs["trips"])(dtype=inputs["trips"].dtype,
                                            tensor_shape=inputs["trips"].tensor_shape,
                                            int64_val=[1, 2, 3])
    assert refused(inputs) == "inputs.trips: 3 values in int64_val for shape [2], which holds 2"


def test_a_shape_without_values_is_refused():
    inputs = good_inputs()
    inputs["trips"] = type(inputs["trips"])(dtype=inputs["trips"].dtype,
                                            tensor_shape=inputs["trips"].tensor_shape)
    assert refused(inputs) == "inputs.trips: no values (set int64_val or tensor_content)"


def test_tensor_content_of_the_wrong_length_is_refused():
    inputs = good_inputs()
    inputs["fare"].tensor_content = inputs["fare"].tensor_content[:-1]
    assert refused(inputs) == ("inputs.fare: tensor_content has 7 bytes; shape [2] of "
                               "float32 needs 8")


def test_a_value_too_large_for_a_narrow_int_is_refused_not_wrapped():
    inputs = good_inputs()
    inputs["pair"] = type(inputs["pair"])(dtype=inputs["pair"].dtype,
                                          tensor_shape=inputs["pair"].tensor_shape,
                                          int_val=[1, 2, 300, 4])
    assert refused(inputs) == "inputs.pair: 300 does not fit int8"


def test_an_unknown_rank_is_refused():
    inputs = good_inputs()
    inputs["fare"].tensor_shape.unknown_rank = True
    assert "unknown_rank" in refused(inputs)


# -- numpy -> TensorProto --------------------------------------------------------------------

def test_outputs_use_the_typed_fields_tf_serving_answers_with():
    proto = tensors.tensor_proto(np.array([[0.25], [0.75]], np.float32))
    assert list(proto.float_val) == [0.25, 0.75] and not proto.tensor_content
    assert [d.size for d in proto.tensor_shape.dim] == [2, 1]
    assert tf.make_ndarray(proto).tolist() == [[0.25], [0.75]]


def test_string_outputs_are_bytes():
    proto = tensors.tensor_proto(np.array([b"yes", "no"], dtype=object))
    assert list(proto.string_val) == [b"yes", b"no"]


# -- tf.Example -> inputs --------------------------------------------------------------------

def example(**features) -> tf.train.Example:
    feature = {}
    for name, value in features.items():
        values = value if isinstance(value, list) else [value]
        if isinstance(values[0], str):
            feature[name] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))
        elif isinstance(values[0], int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def an_input(*examples, context=None) -> input_pb2.Input:
    request_input = input_pb2.Input()
    if context is None:
        request_input.example_list.examples.extend(examples)
    else:
        request_input.example_list_with_context.examples.extend(examples)
        request_input.example_list_with_context.context.CopyFrom(context)
    return request_input


ROW = dict(fare=2.5, company="Flash", trips=3, pair=[1, 2])


def test_examples_fill_each_input_by_feature_name():
    examples = tensors.examples_of(an_input(example(**ROW), example(**dict(ROW, fare=4.0))))
    arrays = tensors.arrays_from_examples(examples, RAW)
    assert arrays["fare"].dtype == np.float32 and arrays["fare"].tolist() == [2.5, 4.0]
    assert arrays["company"].tolist() == [b"Flash", b"Flash"]
    assert arrays["trips"].dtype == np.int64 and arrays["trips"].tolist() == [3, 3]
    assert arrays["pair"].dtype == np.int8 and arrays["pair"].tolist() == [[1, 2], [1, 2]]


def test_a_single_string_input_gets_the_serialized_examples():
    first, second = example(**ROW), example(**dict(ROW, trips=9))
    arrays = tensors.arrays_from_examples(tensors.examples_of(an_input(first, second)),
                                          SERIALIZED)
    # Map order in the bytes is not fixed: compare what they hold.
    assert [tf.train.Example.FromString(s) for s in arrays["examples"]] == [first, second]


def test_context_features_join_each_example_and_the_example_wins():
    context = example(company="Context Cab", fare=99.0)
    examples = tensors.examples_of(an_input(example(fare=1.0, trips=1, pair=[0, 0]),
                                            context=context))
    arrays = tensors.arrays_from_examples(examples, RAW)
    assert arrays["company"].tolist() == [b"Context Cab"]
    assert arrays["fare"].tolist() == [1.0]


def test_a_missing_feature_is_named():
    row = {k: v for k, v in ROW.items() if k != "trips"}
    with pytest.raises(RequestError, match=r"examples\[1\]: missing feature 'trips' "
                                           r"\(signature 'serving_default' takes"):
        tensors.arrays_from_examples([example(**ROW), example(**row)], RAW)


def test_a_feature_of_the_wrong_kind_is_refused():
    with pytest.raises(RequestError, match=r"examples\[0\]\.trips: expected a int64_list for "
                                           r"int64, got a float_list"):
        tensors.arrays_from_examples([example(**dict(ROW, trips=3.0))], RAW)


def test_a_feature_with_the_wrong_number_of_values_is_refused():
    with pytest.raises(RequestError, match=r"examples\[0\]\.fare: expected 1 value\(s\) per "
                                           r"example, got 2"):
        tensors.arrays_from_examples([example(**dict(ROW, fare=[1.0, 2.0]))], RAW)


def test_an_input_without_examples_is_refused():
    with pytest.raises(RequestError, match="input: no examples"):
        tensors.examples_of(input_pb2.Input())
    with pytest.raises(RequestError, match="the list of examples is empty"):
        tensors.examples_of(an_input())


# -- outputs as classes and values -----------------------------------------------------------

def signature_with(**outputs) -> Signature:
    return Signature("s", {}, {n: TensorInfo(n, dtype, shape)
                               for n, (dtype, shape) in outputs.items()})


def test_a_single_probability_is_a_binary_classification():
    plan = tensors.classify_plan(signature_with(outputs=("float32", (None, 1))))
    rows = tensors.classifications(plan, {"outputs": np.array([[0.25], [0.9]], np.float32)}, 2)
    assert [[label for label, _ in row] for row in rows] == [["0", "1"], ["0", "1"]]
    assert rows[0][0][1] == pytest.approx(0.75) and rows[0][1][1] == pytest.approx(0.25)
    assert rows[1][1][1] == pytest.approx(0.9)


def test_k_scores_are_k_classes():
    plan = tensors.classify_plan(signature_with(probs=("float32", (None, 3))))
    rows = tensors.classifications(plan, {"probs": np.array([[0.1, 0.2, 0.7]], np.float32)}, 1)
    assert [label for label, _ in rows[0]] == ["0", "1", "2"]
    assert [score for _, score in rows[0]] == pytest.approx([0.1, 0.2, 0.7])


def test_scores_and_classes_outputs_are_used_as_tf_serving_does():
    signature = signature_with(scores=("float32", (None, 2)), classes=("string", (None, 2)),
                               logits=("float32", (None, 2)))
    plan = tensors.classify_plan(signature)
    rows = tensors.classifications(plan, {
        "scores": np.array([[0.4, 0.6]], np.float32),
        "classes": np.array([[b"no", b"yes"]], dtype=object),
        "logits": np.array([[9.0, 9.0]], np.float32)}, 1)
    assert [label for label, _ in rows[0]] == ["no", "yes"]
    assert [score for _, score in rows[0]] == pytest.approx([0.4, 0.6])


def test_a_signature_without_scores_cannot_classify():
    signature = signature_with(a=("float32", (None, 1)), b=("float32", (None, 1)))
    with pytest.raises(RequestError, match="cannot answer Classify: it needs an output named "
                                           "'scores'.*it has a \\(float32 \\[-1, 1\\]\\)"):
        tensors.classify_plan(signature)
    with pytest.raises(RequestError, match="output 'label' is string, not a float score"):
        tensors.classify_plan(signature_with(label=("string", (None,))))


def test_regress_takes_the_outputs_output_or_the_only_one():
    many = signature_with(outputs=("float32", (None, 1)), other=("float32", (None, 4)))
    assert tensors.regress_output(many) == "outputs"
    assert tensors.regress_output(signature_with(price=("float64", (None,)))) == "price"
    values = tensors.regressions("price", {"price": np.array([1.5, 2.5])}, 2)
    assert values == [1.5, 2.5]


def test_regress_refuses_outputs_with_several_values_per_example():
    with pytest.raises(RequestError, match="cannot answer Regress"):
        tensors.regress_output(signature_with(vector=("float32", (None, 3))))
    with pytest.raises(RequestError, match="output 'y' has 2 values per example"):
        tensors.regressions("y", {"y": np.zeros((1, 2), np.float32)}, 1)


def test_an_output_with_the_wrong_number_of_rows_is_refused():
    plan = tensors.classify_plan(signature_with(outputs=("float32", (None, 1))))
    with pytest.raises(RequestError, match=r"output 'outputs' has shape \[1, 1\]; expected "
                                           r"\[2\] or \[2, K\]"):
        tensors.classifications(plan, {"outputs": np.zeros((1, 1), np.float32)}, 2)
