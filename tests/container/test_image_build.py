"""The pipeline image: layer caching, CI tags and manifest, push errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.container


def snapshot_context(dest: Path) -> Path:
    """A frozen copy of the build context, so nothing edits it between the two builds."""
    from framework.container.context import context_files

    for name in context_files(ROOT):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def test_second_build_without_change_reuses_every_layer(docker_api, pipeline_image, tmp_path):
    from framework.container.image import build_image

    context = snapshot_context(tmp_path)
    ref = "localhost/portable-mlops:pytest-cache"
    options = dict(base_image=pipeline_image.base_image, ca_bundle=pipeline_image.ca_bundle)
    # Usually warm (the session fixture built the same layers); cold if the checkout changed.
    first = build_image(docker_api, context, [ref], **options)
    again = build_image(docker_api, context, [ref], **options)
    assert again.steps == first.steps > 0
    assert again.fully_cached, [line for line in again.log if "STEP" in line or "cache" in line]
    assert sum("Using cache" in line for line in again.log) >= again.steps
    assert again.image_id == first.image_id
    docker_api.images.remove(ref)


def test_ci_build_tags_commit_and_branch_and_writes_the_manifest(
        docker_api, pipeline_image, tmp_path, monkeypatch):
    from framework.ci.build import run_build
    from framework.settings import load_settings

    monkeypatch.setenv("MLOPS_IMAGE__BASE_IMAGE", pipeline_image.base_image)
    monkeypatch.setenv("MLOPS_IMAGE__REPOSITORY", "localhost/portable-mlops-citest")
    settings = load_settings("taxi", "test")
    commit = "0123456789abcdef0123456789abcdef01234567"
    ctx = SimpleNamespace(commit=commit, short_sha=commit[:7], branch="feature/Image build",
                          tag=None, build_id="7", version_tag=commit[:7])
    manifest = run_build(ctx, settings, push=False, ca_bundle=pipeline_image.ca_bundle,
                         manifest_path=str(tmp_path / "build" / "manifest.json"))
    repo = "localhost/portable-mlops-citest"
    assert manifest["image"] == f"{repo}:{commit}"
    assert manifest["images"] == [f"{repo}:{commit}", f"{repo}:{commit[:7]}",
                                  f"{repo}:feature-Image-build"]
    assert json.loads((tmp_path / "build" / "manifest.json").read_text()) == manifest
    image = docker_api.images.get(manifest["image"])
    assert image.id == manifest["image_id"]
    assert image.labels.get("org.opencontainers.image.revision") == commit
    for ref in manifest["images"]:
        docker_api.images.remove(ref)


def test_push_to_an_unreachable_registry_is_one_clear_error(docker_api, pipeline_image):
    from framework.container.image import ImagePushError, push_image

    ref = "localhost:5999/portable-mlops:push-test"
    docker_api.images.get(pipeline_image.ref).tag("localhost:5999/portable-mlops", "push-test")
    try:
        with pytest.raises(ImagePushError, match=r"pushing localhost:5999/portable-mlops:push-test"):
            push_image(docker_api, ref)
    finally:
        docker_api.images.remove(ref)
