"""framework/core/speedups.py guards: a version it was not written for, a target that is gone, or
the off switch (MLOPS_SPEEDUPS, the `speedups` setting) leaves the target untouched and says
so once, at debug level."""

from __future__ import annotations

import gc
import importlib.metadata
import logging
import subprocess
import sys

import pytest

from framework.core import speedups


@pytest.fixture
def guarded(monkeypatch, caplog):
    """Nothing told yet, no switch set; debug records of framework.core.speedups captured."""
    monkeypatch.setattr(speedups, "_told", set())
    monkeypatch.delenv(speedups.SWITCH, raising=False)
    caplog.set_level(logging.DEBUG, logger="framework.core.speedups")
    return caplog


def _told(caplog, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "framework.core.speedups" and f"speedup {name} " in r.getMessage()]


def _tf_targets():
    from tensorflow.python.autograph.core import config
    from tensorflow.python.eager.polymorphic_function import concrete_function

    return config, concrete_function.ConcreteFunction


def _untouched_after_twice(name: str, call, snapshot):
    before = snapshot()
    assert not call() and not call()
    assert snapshot() == before


def _tfma_target():
    from tensorflow_model_analysis.metrics import metric_util

    return metric_util


def _cases(monkeypatch):
    """name -> (apply it, what it would change); TF's rules start without tf_keras."""
    config, cls = _tf_targets()
    metric_util = _tfma_target()
    rules = tuple(r for r in config.CONVERSION_RULES if getattr(r, "_prefix", "") != "tf_keras")
    monkeypatch.setattr(config, "CONVERSION_RULES", rules)
    monkeypatch.setattr(importlib.metadata, "packages_distributions",
                        importlib.metadata.packages_distributions)
    return {
        "memoise_distribution_scan": (speedups.memoise_distribution_scan,
                                      lambda: importlib.metadata.packages_distributions),
        "skip_autograph_of_tf_keras": (speedups.skip_autograph_of_tf_keras,
                                       lambda: config.CONVERSION_RULES),
        "call_signatures_by_keyword": (speedups.call_signatures_by_keyword,
                                       lambda: cls.__dict__["_call_impl"]),
        "skip_collection_at_exit": (speedups.skip_collection_at_exit,
                                    lambda: getattr(speedups.skip_collection_at_exit,
                                                    "_registered", False)),
        "pair_tfma_labels_directly": (
            speedups.pair_tfma_labels_directly,
            lambda: getattr(metric_util, "to_label_prediction_example_weight", None)),
    }


@pytest.mark.parametrize("name", ["memoise_distribution_scan", "skip_autograph_of_tf_keras",
                                  "call_signatures_by_keyword", "skip_collection_at_exit",
                                  "pair_tfma_labels_directly"])
def test_a_version_it_was_not_written_for_leaves_the_target_untouched(name, guarded,
                                                                      monkeypatch):
    call, snapshot = _cases(monkeypatch)[name]
    distribution = speedups.WRITTEN_FOR[name][0]
    monkeypatch.setattr(speedups, "installed_version",
                        lambda d: "99.0.0" if d == distribution else importlib.metadata.version(d))
    _untouched_after_twice(name, call, snapshot)
    [line] = _told(guarded, name)
    assert f"written for {distribution}" in line and "found 99.0.0" in line


@pytest.mark.parametrize("name, owner, attribute", [
    ("memoise_distribution_scan", "metadata", "packages_distributions"),
    ("skip_autograph_of_tf_keras", "config", "DoNotConvert"),
    ("call_signatures_by_keyword", "ConcreteFunction", "_call_with_flat_signature"),
    ("skip_collection_at_exit", "gc", "freeze"),
    ("pair_tfma_labels_directly", "metric_util", "to_label_prediction_example_weight"),
])
def test_a_missing_target_leaves_everything_untouched(name, owner, attribute, guarded,
                                                      monkeypatch):
    call, snapshot = _cases(monkeypatch)[name]
    config, cls = _tf_targets()
    where = {"metadata": importlib.metadata, "config": config, "ConcreteFunction": cls,
             "gc": gc, "metric_util": _tfma_target()}[owner]
    if name == "memoise_distribution_scan":
        snapshot = lambda: hasattr(importlib.metadata, "packages_distributions")  # noqa: E731
    monkeypatch.delattr(where, attribute)
    _untouched_after_twice(name, call, snapshot)
    [line] = _told(guarded, name)
    assert f"has no {attribute}" in line


def test_a_changed_call_path_leaves_signature_calls_alone(guarded, monkeypatch):
    _, cls = _tf_targets()
    monkeypatch.setattr(cls, "_call_impl", lambda self, args, kwargs, cancellation=None: None)
    _untouched_after_twice("call_signatures_by_keyword", speedups.call_signatures_by_keyword,
                           lambda: cls.__dict__["_call_impl"])
    [line] = _told(guarded, "call_signatures_by_keyword")
    assert "_call_impl takes ['self', 'args', 'kwargs', 'cancellation']" in line


def test_collector_is_left_running_on_a_python_it_was_not_written_for(guarded, monkeypatch):
    monkeypatch.setattr(speedups, "installed_version", lambda d: "3.99.0")
    gc.unfreeze()
    try:
        for _ in range(2):
            with speedups.collector_paused():
                assert gc.isenabled()
            assert gc.get_freeze_count() == 0
    finally:
        gc.enable()
    assert len(_told(guarded, "collector_paused")) == 1


def _python(code: str, **env: str) -> list[str]:
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**environ, **env})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.splitlines()


def test_tfx_extensions_are_imported_as_usual_on_a_tfx_it_was_not_written_for():
    lines = _python(
        "import sys, logging\n"
        "logging.basicConfig(level=logging.DEBUG, format='%(message)s', stream=sys.stdout)\n"
        "from framework.core import speedups\n"
        "speedups.installed_version = lambda d: '1.17.0'\n"
        "print(speedups.defer_tfx_cloud_extensions(), speedups.defer_tfx_cloud_extensions())\n"
        "print('stand-in:', speedups.EXTENSIONS in sys.modules)\n")
    assert lines == [
        "speedup defer_tfx_cloud_extensions not applied: written for tfx 1.16 up to "
        "(not including) 1.17, found 1.17.0",
        "False False", "stand-in: False"]


_APPLY_AT_START = (
    "import atexit, gc, importlib.metadata, sys\n"
    "from framework.core import speedups\n"
    "speedups.at_cli_start()\n"
    "def state():\n"
    "    memoised = getattr(importlib.metadata.packages_distributions, '_mlops_memoised', 0)\n"
    "    return [bool(memoised), speedups.EXTENSIONS in sys.modules,\n"
    "            getattr(speedups.skip_collection_at_exit, '_registered', False)]\n"
    "print('start:', *state())\n"
)


def test_mlops_speedups_0_turns_off_what_the_cli_applies_at_start():
    assert _python(_APPLY_AT_START) == ["start: True True True"]
    assert _python(_APPLY_AT_START, MLOPS_SPEEDUPS="0") == ["start: False False False"]
    assert _python(_APPLY_AT_START, MLOPS_SPEEDUPS="false") == ["start: False False False"]


def test_the_setting_false_takes_back_the_start_ones_and_switches_off_the_rest():
    code = _APPLY_AT_START + (
        "import os, types\n"
        "with speedups.building(types.SimpleNamespace(speedups=False)):\n"
        "    print('building:', *state(), os.environ[speedups.SWITCH])\n"
        "    print('later:', speedups.skip_autograph_of_tf_keras(),\n"
        "          speedups.call_signatures_by_keyword(), 'tensorflow' in sys.modules)\n")
    assert _python(code) == ["start: True True True", "building: False False False 0",
                             "later: False False False"]


@pytest.mark.parametrize("raw, expected", [("0", False), ("false", False), ("1", True),
                                           ("true", True)])
def test_mlops_speedups_is_the_settings_key_speedups(raw, expected):
    from framework.settings.loader import settings_from_dict

    data = {"base": {"pipeline": {"name": "p", "data_root": "d", "pipeline_root": "r",
                                  "serving_dir": "s"}}}
    assert settings_from_dict(data, environ={}).speedups is True
    assert settings_from_dict(data, environ={"MLOPS_SPEEDUPS": raw}).speedups is expected
    data["base"]["speedups"] = False
    assert settings_from_dict(data, environ={}).speedups is False
    assert speedups.switched_on(settings_from_dict(data, environ={})) is False
