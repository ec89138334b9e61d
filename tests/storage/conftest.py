"""A gs:// folder per test on the session's Cloud Storage emulator (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests import gcs_emulator


@pytest.fixture
def gs_root(gcs, monkeypatch, request):
    """A fresh gs:// folder for one test, with STORAGE_EMULATOR_HOST set in this process."""
    from framework.storage import files

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    files.client.cache_clear()
    yield f"gs://{gcs_emulator.BUCKET}/{request.node.name}"
    files.client.cache_clear()
