"""The Evaluator's baseline leaves out the candidate model itself (framework/components)."""

from __future__ import annotations

import pytest

pytest.importorskip("tfx")


def _model(artifact_id):
    from tfx.types import standard_artifacts

    model = standard_artifacts.Model()
    model.id = artifact_id
    return model


def _blessing(artifact_id, model_id, blessed=True):
    from tfx.types import standard_artifacts

    blessing = standard_artifacts.ModelBlessing()
    blessing.id = artifact_id
    blessing.set_int_custom_property("current_model_id", model_id)
    blessing.set_int_custom_property("blessed", 1 if blessed else 0)
    return blessing


def _resolve(models, blessings, candidates):
    from framework.components.baseline_strategy import LatestBlessedOtherModelStrategy

    return LatestBlessedOtherModelStrategy().resolve_artifacts(
        None, {"model": models, "model_blessing": blessings, "candidate": candidates})


def test_unchanged_rerun_gets_no_baseline_when_the_only_blessed_model_is_the_candidate():
    m1 = _model(1)
    result = _resolve([m1], [_blessing(10, 1)], [m1])
    assert result["model"] == [] and result["model_blessing"] == []
    assert [a.id for a in result["candidate"]] == [1]


def test_new_model_is_compared_with_the_latest_blessed_older_one():
    m1, m2, m3 = _model(1), _model(2), _model(3)
    blessings = [_blessing(10, 1), _blessing(11, 2, blessed=False)]
    result = _resolve([m1, m2, m3], blessings, [m3])
    assert [a.id for a in result["model"]] == [1]  # m2 was not blessed
    assert [a.id for a in result["model_blessing"]] == [10]


def test_newest_blessed_model_wins_among_older_ones():
    models = [_model(i) for i in (1, 2, 3)]
    blessings = [_blessing(10, 1), _blessing(11, 2)]
    result = _resolve(models, blessings, [models[2]])
    assert [a.id for a in result["model"]] == [2]


def test_local_runner_uses_the_strategy_and_vertex_keeps_tfx_own(tmp_path):
    from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
        LatestBlessedModelStrategy,
    )

    from framework.components.baseline_strategy import LatestBlessedOtherModelStrategy
    from framework.pipeline.pipeline_support import baseline_model
    from framework.settings import load_settings

    settings = load_settings("taxi", "test", environ={"MLOPS_PIPELINE__PIPELINE_ROOT": str(tmp_path)})
    candidate = _candidate_channel()
    local = baseline_model(settings, candidate=candidate)
    vertex = baseline_model(settings.replace(runner="vertex"), candidate=candidate)
    assert local.exec_properties["resolver_class"] is LatestBlessedOtherModelStrategy
    assert vertex.exec_properties["resolver_class"] is LatestBlessedModelStrategy
    assert "candidate" in local.inputs and "candidate" not in vertex.inputs


def _candidate_channel():
    from tfx import v1 as tfx

    return tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model)
