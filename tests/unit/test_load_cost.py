"""A version's load cost (the process's RSS after its load minus before) is its own: memory
that models which left the routing still hold, freed by a garbage collection the load
triggers, is not subtracted from it. The load is an autospec double of load_version that
allocates a known amount and collects, as a SavedModel's many new objects make Python do."""

from __future__ import annotations

import gc
from unittest import mock

import numpy as np
import pytest

from framework.release.policy import RollbackPolicy
from framework.release.registry import Registry
from framework.release.stats import ServingStats
from framework.serving.app import PredictionService
from framework.serving.models import LoadedModel, load_version

MB = 1 << 20
HELD_MB, GARBAGE_MB = 64, 96


@pytest.fixture
def service(tmp_path):
    serving = tmp_path / "serving"
    (serving / "1").mkdir(parents=True)
    (serving / "1" / "saved_model.pb").write_bytes(b"")  # what makes a folder a version
    registry = Registry(tmp_path / "taxi.release.json", str(serving), "taxi")
    registry.promote("1", by="test")
    return PredictionService(registry, model_name="taxi", policy=RollbackPolicy(),
                             stats=ServingStats())


def loading_that_collects(version: str, path: str) -> LoadedModel:
    model = mock.create_autospec(LoadedModel, instance=True)
    model.path = path
    model.weights = np.ones(HELD_MB * MB, dtype=np.uint8)  # every page written: resident
    gc.collect()  # the collection the load's allocations trigger
    return model


def cyclic_garbage(megabytes: int) -> None:
    """An unreachable cycle holding `megabytes` of resident memory, freed only by a
    collection (a loaded SavedModel that left the routing is such a cycle)."""
    cycle: dict = {"data": np.ones(megabytes * MB, dtype=np.uint8)}
    cycle["self"] = cycle


def test_memory_freed_during_the_load_is_not_subtracted_from_the_load_cost(service):
    load = mock.create_autospec(load_version, side_effect=loading_that_collects)
    gc.disable()  # nothing collects the garbage before the reload does
    try:
        cyclic_garbage(GARBAGE_MB)
        with mock.patch("framework.serving.app.load_version", load):
            service.reload()
    finally:
        gc.enable()
    load.assert_called_once_with("1", service.registry.serving_dir + "/1")
    cost = service.stats.load_cost_mb("1")
    assert cost is not None and HELD_MB * 0.9 < cost < HELD_MB * 1.25, cost
