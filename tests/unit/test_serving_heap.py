"""The serving process freezes its heap once models are loaded (full garbage collections no
longer walk TensorFlow's and the models' objects), and still frees a model it lets go: the
models are autospec doubles of LoadedModel that, like a loaded SavedModel, live in
reference cycles, so only the cyclic collector frees them."""

from __future__ import annotations

import gc
import os
import weakref
from unittest import mock

import pytest

from framework.release.policy import RollbackPolicy
from framework.release.registry import Registry
from framework.release.stats import ServingStats
from framework.serving.app import SPARE_MODELS, PredictionService, freeze_heap
from framework.serving.models import LoadedModel, load_version


@pytest.fixture(autouse=True)
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.fixture
def service(tmp_path):
    serving = tmp_path / "serving"
    registry = Registry(tmp_path / "taxi.release.json", str(serving), "taxi")
    return PredictionService(registry, model_name="taxi", policy=RollbackPolicy(),
                             stats=ServingStats())


def promote(service: PredictionService, version: str) -> None:
    folder = service.registry.serving_dir + "/" + version
    os.makedirs(folder)
    open(folder + "/saved_model.pb", "wb").close()  # what makes a folder a version
    service.registry.promote(version, by="test", force=True)
    service.reload()


def cyclic_model(version: str, path: str) -> LoadedModel:
    model = mock.create_autospec(LoadedModel, instance=True)
    model.path = path
    model.itself = model  # a cycle: freed by the collector only
    return model


@pytest.fixture
def loading():
    load = mock.create_autospec(load_version, side_effect=cyclic_model)
    with mock.patch("framework.serving.app.load_version", load):
        yield load


def test_the_heap_is_frozen_once_a_version_is_loaded(service, loading):
    assert gc.get_freeze_count() == 0
    promote(service, "1")
    loading.assert_called_once()
    assert gc.get_freeze_count() > 0
    model = service.routing.models["1"]
    # Frozen objects are in none of the collector's generations.
    assert not any(o is model for o in gc.get_objects())


def test_a_model_let_go_is_freed_although_the_heap_was_frozen(service, loading):
    promote(service, "1")
    first = weakref.ref(service.routing.models["1"])
    # Each promotion keeps the previous production (last good) and up to SPARE_MODELS
    # spares; the reload in which version 1 leaves them must free it.
    version = 1
    while "1" in {*service.routing.models, *service._spare}:
        assert version < SPARE_MODELS + 5, "version 1 is never let go"
        version += 1
        promote(service, str(version))
    assert first() is None, f"version 1 is still in memory after promoting {version}"


def test_freezing_after_a_let_go_frees_what_an_earlier_freeze_kept(tmp_path):
    model = cyclic_model("1", str(tmp_path))
    kept = weakref.ref(model)
    gc.freeze()  # as after the model's load
    del model  # let go: only its cycle holds it, and frozen, no collection reaches it
    gc.collect()
    assert kept() is not None
    freeze_heap(collect=True)
    assert kept() is None


def test_a_switch_that_loads_nothing_does_not_collect(service, loading):
    promote(service, "1")
    with mock.patch("framework.serving.app.gc.collect", autospec=True) as collect:
        service.reload()  # the same state: nothing loaded, nothing let go
    collect.assert_not_called()
