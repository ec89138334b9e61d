"""Beam arguments the pipeline gets from settings (framework.pipeline.pipeline_support.beam_args)."""

from __future__ import annotations

from framework.pipeline.pipeline_support import beam_args
from framework.settings import load_settings


def _settings(tmp_path, **env):
    return load_settings("taxi", "test", environ={"MLOPS_PIPELINE__PIPELINE_ROOT": str(tmp_path),
                                                  **env})


def test_beam_defaults_are_left_to_beam(tmp_path):
    assert beam_args(_settings(tmp_path)) == []


def test_multi_processing_names_mode_and_workers(tmp_path):
    args = beam_args(_settings(tmp_path, MLOPS_BEAM__DIRECT_RUNNING_MODE="multi_processing",
                               MLOPS_BEAM__DIRECT_NUM_WORKERS="2"))
    assert args == ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def test_in_memory_with_workers_still_passes_them_on(tmp_path):
    args = beam_args(_settings(tmp_path, MLOPS_BEAM__DIRECT_NUM_WORKERS="3"))
    assert args == ["--direct_running_mode=in_memory", "--direct_num_workers=3"]
