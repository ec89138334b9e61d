"""Engine and image fixtures for the container tests.

The engine is the Docker API at $DOCKER_HOST (podman's service on CI: local/setup-podman.sh).
The pipeline image is built once per session from docker/ on the base image
$MLOPS_IMAGE__BASE_IMAGE (default python:3.11-slim; on machines that cannot pull, the image
local/make-base-image.sh makes). A cold build installs the TFX stack: several minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT

TEST_REF = "localhost/portable-mlops:pytest"
DEFAULT_BASE = "python:3.11-slim"


@dataclass
class PipelineImage:
    ref: str
    base_image: str
    ca_bundle: str | None
    build: object  # framework.container.image.BuildResult of the session's first build


def base_image() -> str:
    return os.environ.get("MLOPS_IMAGE__BASE_IMAGE") or DEFAULT_BASE


@pytest.fixture(scope="session")
def docker_api():
    """A connected docker client, or a skip that says how to get one."""
    pytest.importorskip("docker")
    from framework.container.client import DockerUnavailableError, docker_client

    try:
        client = docker_client()
    except DockerUnavailableError as exc:
        pytest.skip(f"container tests need a Docker API: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def pipeline_image(docker_api) -> PipelineImage:
    """The pipeline image, built once per session (cold: minutes; warm: seconds)."""
    import docker
    from framework.container.client import build_ca_bundle
    from framework.container.image import build_image, image_exists

    base = base_image()
    if not image_exists(docker_api, base):
        try:
            docker_api.images.pull(base)
        except docker.errors.DockerException as exc:
            pytest.skip(f"base image {base} is not on the engine and cannot be pulled "
                        f"({str(exc).splitlines()[0][:120]}); make one with "
                        "local/make-base-image.sh and set MLOPS_IMAGE__BASE_IMAGE")
    ca_bundle = build_ca_bundle(None, os.environ.get("MLOPS_IMAGE__CA_BUNDLE"))
    lines: list[str] = []
    built = build_image(docker_api, ROOT, [TEST_REF], base_image=base, ca_bundle=ca_bundle,
                        on_line=lines.append)
    return PipelineImage(TEST_REF, base, ca_bundle, built)


def container_env(workdir, **extra: str) -> dict[str, str]:
    """workspace_env for a container run, with the engine and base image passed on."""
    from tests.conftest import workspace_env

    env = workspace_env(workdir, MLOPS_IMAGE__BASE_IMAGE=base_image(), **extra)
    return env
