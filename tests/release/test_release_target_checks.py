"""What the release targets are given: the Vertex serving image follows the training
TensorFlow; a KServe manifest never points a cluster at a path on this machine."""

from __future__ import annotations

import importlib.metadata

import pytest
from google.cloud import aiplatform

from framework.release.vertex import serving_image
from framework.settings import load_settings
from tests.conftest import mlops, workspace_env
from tests.doubles import shaped_like
from tests.release.test_registry import fake_push

TF = ".".join(importlib.metadata.version("tensorflow").split(".")[:2])


@shaped_like(aiplatform.Model)
class _Models:
    """google.cloud.aiplatform.Model at the boundary the Vertex target uses to upload; its
    methods accept only what the real Model's accept (tests/doubles.py)."""

    uploads: list = []

    @classmethod
    def list(cls, **_):
        return []

    @classmethod
    def upload(cls, **kwargs):
        cls.uploads.append(kwargs)
        return kwargs


def test_the_default_vertex_serving_image_is_the_training_tensorflows(tmp_path):
    from types import SimpleNamespace

    from framework.release.vertex import VertexEndpointTarget

    settings = load_settings("taxi", "test", environ={
        "MLOPS_RELEASE__VERTEX_ENDPOINT__ENDPOINT": "1234567890"})
    assert settings.release.vertex_endpoint.serving_image is None
    VertexEndpointTarget(settings, aiplatform=SimpleNamespace(Model=_Models))._model("100")
    expected = f"us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.{TF.replace('.', '-')}:latest"
    assert _Models.uploads[-1]["serving_container_image_uri"] == expected
    # A misspelt upload argument fails in the double as it would in aiplatform.Model.upload.
    with pytest.raises(TypeError, match="unexpected keyword argument 'serving_image_uri'"):
        _Models.upload(display_name="taxi-100", serving_image_uri=expected)


def test_the_default_follows_a_tensorflow_upgrade_and_an_explicit_image_is_kept(monkeypatch):
    base = load_settings("taxi", "test", environ={})
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "2.17.1" if name == "tensorflow" else "0")
    assert serving_image(base).endswith("/tf2-cpu.2-17:latest")
    custom = load_settings("taxi", "test", environ={
        "MLOPS_RELEASE__VERTEX_ENDPOINT__SERVING_IMAGE": "europe-docker.pkg.dev/x/y:1"})
    assert serving_image(custom) == "europe-docker.pkg.dev/x/y:1"


@pytest.fixture
def local_kserve(tmp_path):
    """KServe as release target, with the default storage URI over a local serving folder."""
    for version in ("100", "200"):
        fake_push(tmp_path / "serving", version)
    return workspace_env(tmp_path, MLOPS_RELEASE__TARGET="kserve")


def test_the_release_command_refuses_a_manifest_with_a_local_storage_uri(local_kserve,
                                                                         tmp_path):
    result = mlops("release", "promote", "100", env=local_kserve)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: release.kserve.storage_uri gives {tmp_path}/serving/"
                           "{version}, which KServe on a cluster cannot read: set it")
    assert "mlops release manifest -o" in line
    assert not (tmp_path / "serving.inferenceservice.yaml").exists()
    shown = mlops("release", "manifest", env=local_kserve)
    assert shown.returncode == 2
    assert shown.stderr.startswith("error: release.kserve.storage_uri gives ")
