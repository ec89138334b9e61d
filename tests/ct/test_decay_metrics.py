"""The decay trigger's scoring math (framework/ct/decay.py) on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from framework.core.errors import UserError
from framework.ct.decay import metric_value, worsening


def test_binary_accuracy_thresholds_one_score_at_half():
    labels = [1, 0, 1, 0]
    scores = [[0.9], [0.2], [0.4], [0.6]]
    assert metric_value("binary_accuracy", labels, scores) == 0.5


def test_multiclass_accuracy_takes_the_argmax_of_the_class_scores():
    labels = [0, 1, 2, 2]
    scores = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4], [0.0, 0.3, 0.7]]
    assert metric_value("sparse_categorical_accuracy", labels, scores) == 0.75


def test_multiclass_accuracy_of_a_single_score_is_the_binary_one():
    labels, scores = [1, 0, 1], [[0.8], [0.3], [0.2]]
    assert metric_value("sparse_categorical_accuracy", labels, scores) == pytest.approx(2 / 3)


def test_auc_ranks_one_score():
    assert metric_value("auc", [0, 0, 1, 1], [[0.1], [0.4], [0.35], [0.8]]) == 0.75
    assert math.isnan(metric_value("auc", [1, 1], [[0.1], [0.9]]))  # one class: undefined


def test_regression_errors():
    labels, scores = [1.0, 2.0, 4.0], np.array([[1.0], [3.0], [2.0]])
    assert metric_value("mean_absolute_error", labels, scores) == 1.0
    assert metric_value("root_mean_squared_error", labels, scores) == pytest.approx(
        math.sqrt(5 / 3))


def test_a_rise_of_an_error_is_decay_and_a_fall_of_accuracy_is():
    assert worsening("root_mean_squared_error", 1.0, 1.5) == 0.5
    assert worsening("mean_absolute_error", 1.0, 0.5) == -0.5
    assert worsening("binary_accuracy", 0.8, 0.7) == pytest.approx(0.1)


@pytest.mark.parametrize("metric", ["binary_accuracy", "auc", "root_mean_squared_error"])
def test_a_one_score_metric_on_class_scores_is_one_clear_error(metric):
    with pytest.raises(UserError, match=rf"ct.decay.metric': {metric} needs one score per row, "
                                        r"the serving model outputs 3"):
        metric_value(metric, [0, 1], [[0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])


def test_an_unset_metric_is_an_error():
    with pytest.raises(UserError, match="ct.decay.metric' is not set"):
        metric_value(None, [1], [[0.9]])
