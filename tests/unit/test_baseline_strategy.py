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
    from framework.pipeline_support import baseline_model
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


def test_speedups_memoise_the_distribution_scan_and_skip_tf_keras_in_autograph():
    import importlib.metadata

    from framework import speedups

    speedups.memoise_distribution_scan()
    speedups.memoise_distribution_scan()  # twice: still one cache, not a cache of a cache
    scan = importlib.metadata.packages_distributions
    assert scan._mlops_memoised and not getattr(scan.__wrapped__, "_mlops_memoised", False)
    assert scan() is scan()
    assert speedups.skip_autograph_of_tf_keras() is True
    speedups.skip_autograph_of_tf_keras()
    from tensorflow.python.autograph.core import config

    prefixes = [rule._prefix for rule in config.CONVERSION_RULES]
    assert prefixes.count("tf_keras") == 1
    first = config.CONVERSION_RULES[0]
    assert isinstance(first, config.DoNotConvert)
    assert first.matches("tf_keras.src.engine.training") and not first.matches("tf_kerasx")


def test_collector_paused_disables_gc_inside_and_freezes_the_settled_heap_once():
    import gc

    from framework import speedups

    gc.unfreeze()  # as a fresh process: nothing frozen yet
    try:
        with speedups.collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        with speedups.collector_paused():  # a second run in the same process: left alone
            assert gc.isenabled()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.enable()
        gc.unfreeze()


def test_skip_collection_at_exit_freezes_the_heap_before_the_final_collection():
    import subprocess
    import sys

    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "from framework import speedups\n"
        "speedups.skip_collection_at_exit(); speedups.skip_collection_at_exit()\n"
        "import atexit as a; print('handlers ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["handlers ok", "frozen at exit: True"]
