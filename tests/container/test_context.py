"""The build context and the container's mounts: no engine needed."""

from __future__ import annotations

import tarfile

import pytest

from tests.conftest import ROOT

pytest.importorskip("docker")


def test_context_holds_the_project_but_not_git_outputs_or_tests():
    from framework.container.context import context_files

    files = context_files(ROOT)
    assert "docker/Dockerfile" in files and "constraints.txt" in files
    assert "pipelines/taxi/pipeline.py" in files and "framework/cli.py" in files
    assert not [f for f in files if f.startswith((".git/", ".mlops/", "tests/"))]
    assert not [f for f in files if "__pycache__" in f]


def test_ca_bundle_goes_into_the_context_tar_only(tmp_path):
    from framework.container.context import CA_NAME, build_context

    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    before = sorted(p.name for p in (ROOT / "docker" / "extra-ca").iterdir())
    with build_context(ROOT, str(bundle)) as handle, tarfile.open(fileobj=handle) as tar:
        member = tar.extractfile(CA_NAME)
        assert member is not None and member.read() == bundle.read_bytes()
    assert sorted(p.name for p in (ROOT / "docker" / "extra-ca").iterdir()) == before


def test_a_file_that_is_not_a_pem_bundle_is_refused(tmp_path):
    from framework.container.context import build_context
    from framework.core.errors import UserError

    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(UserError, match="no PEM certificate"):
        build_context(ROOT, str(bogus))


def test_branch_names_become_valid_image_tags():
    from framework.ci.build import image_tags

    ctx = type("Ctx", (), dict(commit="a" * 40, short_sha="a" * 7, branch="feature/new model",
                               tag=None, version_tag="a" * 7))
    assert image_tags(ctx) == ["a" * 40, "a" * 7, "feature-new-model"]
    tagged = type("Ctx", (), dict(commit="b" * 40, short_sha="b" * 7, branch=None,
                                  tag="v1.2.0", version_tag="v1.2.0"))
    assert image_tags(tagged) == ["b" * 40, "v1.2.0"]


def test_mounts_put_host_folders_at_the_same_paths(tmp_path):
    from framework.runners.container import container_mounts
    from framework.settings import load_settings
    from tests.conftest import workspace_env

    data, workspace = tmp_path / "data", tmp_path / "ws"
    data.mkdir()
    env = workspace_env(workspace, MLOPS_PIPELINE__DATA_ROOT=str(data))
    mounts = container_mounts(load_settings("taxi", "test", environ=env))
    # pipeline_root, serving and metadata.sqlite all live in the workspace: one mount.
    assert mounts == {
        str(workspace): {"bind": str(workspace), "mode": "rw"},
        str(data): {"bind": str(data), "mode": "ro"},
    }


def test_package_data_root_is_mounted_read_only(tmp_path):
    from framework.runners.container import container_mounts
    from framework.settings import load_settings
    from tests.conftest import workspace_env

    settings = load_settings("taxi", "test", environ=workspace_env(tmp_path))
    data_root = settings.pipeline.data_root  # package://tfx/... resolved in the host venv
    assert "site-packages" in data_root
    assert container_mounts(settings)[data_root] == {"bind": data_root, "mode": "ro"}
