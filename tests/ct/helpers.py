"""Shared by the CT tests: the span generator loaded from local/, settings with spans."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def generator():
    spec = importlib.util.spec_from_file_location(
        "generate_spans", ROOT / "local" / "generate_spans.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings_for(tmp_path, **overrides):
    """Taxi settings (test env) whose folders are under tmp_path; overrides as MLOPS_* vars."""
    from framework.settings import load_settings

    environ = {
        "MLOPS_PIPELINE__PIPELINE_ROOT": str(tmp_path / "pipeline_root"),
        "MLOPS_PIPELINE__SERVING_DIR": str(tmp_path / "serving"),
        "MLOPS_METADATA__SQLITE_PATH": str(tmp_path / "metadata.sqlite"),
        **overrides,
    }
    return load_settings("taxi", "test", environ=environ)
