"""framework/core/tfma_label_pairs.py: the direct (label, prediction, weight) triple is TFMA's
own, to the dtype; every other input goes to TFMA; a difference turns the direct path off."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from framework.core import tfma_label_pairs

tfma = pytest.importorskip("tensorflow_model_analysis")


@pytest.fixture
def fresh(monkeypatch):
    """Direct path on and past its checks, nothing patched into TFMA after the test."""
    from tensorflow_model_analysis.metrics import binary_confusion_matrices as bcm
    from tensorflow_model_analysis.metrics import metric_util

    monkeypatch.setattr(tfma_label_pairs, "_state", {
        "original": metric_util.to_label_prediction_example_weight,
        "checked": tfma_label_pairs.CHECKS, "on": True})
    monkeypatch.setattr(metric_util, "to_label_prediction_example_weight",
                        metric_util.to_label_prediction_example_weight)
    for function in (bcm.binary_confusion_matrices, bcm._binary_confusion_matrix_computation):
        monkeypatch.setattr(function, "__defaults__", function.__defaults__)
    return tfma_label_pairs._state


def _inputs(label, prediction, weight=None):
    from tensorflow_model_analysis.metrics import metric_types

    return metric_types.StandardMetricInputs(
        {"labels": label, "predictions": prediction, "example_weights": weight})


def _same(expected: list, got: list) -> bool:
    return len(expected) == len(got) and all(
        tfma_label_pairs._same(e, g) for e, g in zip(expected, got))


TWO_MODELS = tfma.EvalConfig(model_specs=[
    tfma.ModelSpec(name="candidate", label_key="tips_xf"),
    tfma.ModelSpec(name="baseline", label_key="tips_xf", is_baseline=True)])
BY_MODEL = {"model_name": "candidate", "eval_config": TWO_MODELS, "fractional_labels": True}

DIRECT = [  # (label, prediction, keyword arguments): one-number label and score
    (np.array([1]), np.array([0.25], dtype=np.float32), {"fractional_labels": True}),
    (np.array([0]), np.array([0.75], dtype=np.float32), {"fractional_labels": True}),
    (np.array([1.0], dtype=np.float32), np.array([0.6], dtype=np.float32),
     {"fractional_labels": True}),
    (np.array([0.0]), np.array([0.1]), {"fractional_labels": True}),
    (np.array([1], dtype=np.int32), np.array([0.9], dtype=np.float32), {}),
    (np.array([0.0]), np.array([np.nan]), {}),
    ({"candidate": np.array([1]), "baseline": np.array([1])},  # a candidate beside a baseline
     {"candidate": np.array([0.3], dtype=np.float32),
      "baseline": np.array([0.4], dtype=np.float32)}, BY_MODEL),
    (np.array([0]), {"candidate": np.array([0.3], dtype=np.float32)}, BY_MODEL),
    ({"tips_xf": np.array([1])}, {"candidate": np.array([0.3])}, BY_MODEL),  # by label key
]
TFMAS = [  # every other input
    (np.array([0.3]), np.array([0.6]), {"fractional_labels": True}),  # splits in two
    (np.array([1, 0]), np.array([0.6, 0.2]), {}),  # two values
    (np.array(1), np.array(0.6), {}),  # scalars
    (np.array([1]), {"logistic": np.array([0.6])}, {}),  # predictions by key
    (np.array([1]), np.array([0.6]), {"example_weighted": True}),
    (np.array([2]), np.array([0.2, 0.5, 0.3]), {"sub_key": None, "flatten": True}),
    (np.array([b"yes"]), np.array([0.6]), {}),
    (np.array([1]), {"baseline": np.array([0.3])}, BY_MODEL),  # no prediction for the model
    (np.array([1]), {"candidate/logistic": np.array([0.3])}, BY_MODEL),  # by prefix
]


@pytest.mark.parametrize("label, prediction, kwargs", DIRECT + TFMAS)
def test_the_triples_are_tfmas_own_value_dtype_and_shape(label, prediction, kwargs, fresh):
    inputs = _inputs(label, prediction, np.array([2.0]))
    try:
        expected = list(fresh["original"](inputs, **kwargs))
    except Exception as exc:  # noqa: BLE001 - TFMA refuses it: so must the direct path
        with pytest.raises(type(exc)):
            list(tfma_label_pairs.label_pairs(inputs, **kwargs))
        return
    assert _same(expected, list(tfma_label_pairs.label_pairs(inputs, **kwargs)))


@pytest.mark.parametrize("label, prediction, kwargs", DIRECT)
def test_one_number_label_and_score_take_the_direct_path(label, prediction, kwargs, fresh):
    found = tfma_label_pairs._looked_up(_inputs(label, prediction), kwargs.get("eval_config"),
                                        kwargs.get("model_name", ""), "")
    assert tfma_label_pairs._one_number_each(
        *found, kwargs.get("fractional_labels", False)) is not None


@pytest.mark.parametrize("label, prediction, kwargs", TFMAS)
def test_every_other_input_goes_to_tfma(label, prediction, kwargs, fresh, monkeypatch):
    calls = []
    original = fresh["original"]
    monkeypatch.setitem(fresh, "original", lambda *a: calls.append(a) or original(*a))
    try:
        list(tfma_label_pairs.label_pairs(_inputs(label, prediction), **kwargs))
    except Exception:  # noqa: BLE001 - TFMA's own refusal; what counts is who was asked
        pass
    assert len(calls) == 1


def test_a_difference_from_tfma_turns_the_direct_path_off(fresh, monkeypatch, caplog):
    monkeypatch.setitem(fresh, "checked", 0)
    monkeypatch.setattr(tfma_label_pairs, "_one_number_each",
                        lambda *a: (np.array([0]), np.array([0.5]), np.array([1.0])))
    inputs = _inputs(np.array([1]), np.array([0.25], dtype=np.float32))
    with caplog.at_level(logging.WARNING, logger=tfma_label_pairs.__name__):
        [(label, prediction, weight)] = tfma_label_pairs.label_pairs(
            inputs, fractional_labels=True)
    assert label.tolist() == [1] and prediction.tolist() == [0.25]
    assert fresh["on"] is False and "using TFMA's" in caplog.text
    calls = []
    monkeypatch.setattr(tfma_label_pairs, "_one_number_each", lambda *a: calls.append(a))
    list(tfma_label_pairs.label_pairs(inputs, fractional_labels=True))
    assert calls == [], "off for the rest of the process"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_metrics_per_slice_are_the_same_with_the_direct_pairs(tmp_path, fresh, monkeypatch):
    from tests.unit.test_lean_evaluation import _metrics_per_slice

    default = _metrics_per_slice(tmp_path, "tfma", None)
    direct = []
    one_number_each = tfma_label_pairs._one_number_each
    monkeypatch.setattr(tfma_label_pairs, "_one_number_each",
                        lambda *a: direct.append(1) or one_number_each(*a))
    assert tfma_label_pairs.apply() and tfma_label_pairs.apply()
    assert _metrics_per_slice(tmp_path, "direct", None) == default
    # 600 examples, in two slices each, for AUC's histogram and BinaryAccuracy's matrix.
    assert len(direct) >= 2 * 2 * 600
