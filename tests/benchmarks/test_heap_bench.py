"""The serving heap benchmark (benchmarks/heap_bench.py) on a small real SavedModel: it
counts the objects the collector tracks before and after the heap is frozen, and its page
shows both. No timing is asserted."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

tf = pytest.importorskip("tensorflow")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import heap_bench  # noqa: E402


class Doubling(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": 2.0 * x}


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "1"
    module = Doubling()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


@pytest.fixture(autouse=True)
def unfrozen_afterwards():
    yield
    gc.unfreeze()


def test_freezing_takes_the_loaded_heap_out_of_the_collectors_reach(model):
    figures = heap_bench.measure(model)
    before, after = figures["unfrozen"], figures["frozen"]
    assert after["frozen_objects"] > 0
    assert after["tracked_objects"] < before["tracked_objects"] - after["frozen_objects"] // 2
    page = heap_bench.render({"meta": {"commit": "abc1234", "date": "2026-12-04 05:00",
                                       "model": "1"}, **figures})
    assert f"| as loaded | {before['tracked_objects']:,} |" in page
    assert f"| frozen (`freeze_heap`) | {after['tracked_objects']:,} |" in page


def test_a_model_that_does_not_load_is_one_error_line(tmp_path, capsys):
    (tmp_path / "1").mkdir()
    with pytest.raises(SystemExit) as stopped:
        heap_bench.measure(tmp_path / "1")
    assert str(stopped.value).startswith("error: the model could not be loaded: ")
