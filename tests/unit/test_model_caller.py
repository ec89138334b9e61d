"""The loaded model's call (framework/serving/models.py): the flat call that skips
TensorFlow's per-call argument binding answers exactly as the public call, inputs in the
right order, and a TensorFlow whose flat call disagrees keeps to the public call."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")


class Weighted(tf.Module):
    """a + 10 b + 100 c: any two inputs swapped changes the answer."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name=n) for n in "cab"])
    def serve(self, c, a, b):
        return {"y": a + 10.0 * b + 100.0 * c}


@pytest.fixture(scope="module")
def weighted_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("weighted") / "1")
    module = Weighted()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


def test_the_flat_call_gives_each_input_its_own_value(weighted_model):
    from framework.serving.models import LoadedModel

    model = LoadedModel("1", weighted_model)  # its warm-up is the first check
    arrays = {"a": np.array([1.0, 2.0], np.float32), "b": np.array([3.0, 4.0], np.float32),
              "c": np.array([5.0, 6.0], np.float32)}
    first = model.predict("serving_default", arrays)  # the second check
    caller = model._callers["serving_default"]
    assert caller._flat is True, "the flat call was not taken up"
    again = model.predict("serving_default", arrays)  # a flat call
    assert first["y"].tolist() == again["y"].tolist() == [531.0, 642.0]


class DisagreeingFunction:
    """A signature function whose flat call answers wrongly (another TensorFlow's private
    API changed meaning): the caller must keep to the public call."""

    captured_inputs: list = []

    def __call__(self, **tensors):
        return {"y": tensors["a"] + 10.0 * tensors["b"]}

    def _call_flat(self, args, captured_inputs):
        return {"y": args[1] + 10.0 * args[0]}


def test_a_flat_call_that_disagrees_is_never_used():
    from framework.serving.models import _Caller
    from framework.serving.signature import Signature, TensorInfo

    signature = Signature("serving_default", {n: TensorInfo(n, "float32", (None,))
                                              for n in "ab"}, {})
    caller = _Caller(tf, DisagreeingFunction(), signature)
    arrays = {"a": np.array([1.0], np.float32), "b": np.array([2.0], np.float32)}
    answers = [caller(arrays)["y"].numpy().tolist() for _ in range(3)]
    assert caller._flat is False
    assert answers == [[21.0]] * 3
