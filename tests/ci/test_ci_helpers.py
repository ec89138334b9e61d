"""Smaller CI pieces: bootstrap's install command, registry credentials, trigger commands,
the artifact store layout."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from framework.ci import artifacts, bootstrap, registry_auth
from framework.ci.render import cloudbuild_trigger_commands
from framework.ci.routing import load_config
from framework.core.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def test_bootstrap_installs_with_constraints_once_then_reuses_the_venv(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (project / "constraints.txt").write_text("tfx==1.16.0\n")
    target = tmp_path / "venv"
    commands = []

    def fake_run(cmd, cwd, check):
        commands.append(cmd)
        (target / "bin").mkdir(parents=True, exist_ok=True)
        (target / "bin" / "mlops").write_text("")

    monkeypatch.setattr(bootstrap.venv.EnvBuilder, "create", lambda self, path: None)
    monkeypatch.setattr(bootstrap.subprocess, "run", fake_run)
    target.mkdir()
    assert bootstrap.bootstrap(target, project) is True
    assert commands[0][1:] == ["-m", "pip", "install", "--ignore-requires-python",
                               "-c", "constraints.txt", "-e", ".[test]"]
    assert bootstrap.bootstrap(target, project) is False  # nothing changed: no install
    (project / "constraints.txt").write_text("tfx==1.16.0\nruff==0.6.0\n")
    assert bootstrap.bootstrap(target, project) is True
    assert len(commands) == 2


@pytest.mark.parametrize("image, host", [
    ("europe-west4-docker.pkg.dev/p/r/taxi:abc", "europe-west4-docker.pkg.dev"),
    ("localhost:5000/taxi", "localhost:5000"),
    ("localhost/portable-mlops", "localhost"),
    ("library/python", None),
])
def test_registry_host_of_an_image(image, host):
    assert registry_auth.registry_host(image) == host


def test_artifact_registry_push_uses_the_google_access_token(monkeypatch):
    monkeypatch.setattr(registry_auth, "_google_token", lambda: "ya29.token")
    found = registry_auth.auth_for("europe-west4-docker.pkg.dev/p/r/taxi", {})
    assert found == ("europe-west4-docker.pkg.dev", "oauth2accesstoken", "ya29.token")


def test_jenkins_credentials_win_over_google_ones(monkeypatch):
    monkeypatch.setattr(registry_auth, "_google_token", lambda: "ya29.token")
    env = {"REGISTRY_USER": "robot", "REGISTRY_PASSWORD": "pw"}
    assert registry_auth.auth_for("europe-west4-docker.pkg.dev/p/r/taxi", env)[1:] == (
        "robot", "pw")


def test_docker_auth_writes_a_private_config_and_removes_it(monkeypatch):
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    env = {"REGISTRY_USER": "robot", "REGISTRY_PASSWORD": "pw"}
    with registry_auth.docker_auth("registry.example.com/team/taxi:1", env) as host:
        folder = Path(os.environ["DOCKER_CONFIG"])
        config = json.loads((folder / "config.json").read_text())
        assert host == "registry.example.com"
        assert base64.b64decode(config["auths"][host]["auth"]) == b"robot:pw"
        assert (folder / "config.json").stat().st_mode & 0o077 == 0
    assert "DOCKER_CONFIG" not in os.environ and not folder.exists()


def test_trigger_commands_route_environments_and_require_approval_for_prod():
    commands = cloudbuild_trigger_commands(load_config(ROOT), "taxi")
    assert len(commands) == 3
    dev, staging, prod = commands
    assert "--branch-pattern='^develop$'" in dev and "_TARGET_ENV=dev" in dev
    assert "--tag-pattern='^v.*$'" in prod and "_TARGET_ENV=prod" in prod
    assert "portable-mlops-prod/mlops/taxi" in prod
    assert "--require-approval" in prod
    assert "--require-approval" not in dev + staging
    # Documentation changes trigger a build: its test stage builds the site strictly.
    assert all("--ignored-files='notebooks/**'" in c for c in commands)


def test_artifact_store_keeps_files_under_pipeline_and_commit(tmp_path):
    source = tmp_path / "taxi-kubeflow.yaml"
    source.write_text("spec")
    where = artifacts.location(str(tmp_path / "store") + "/", "taxi", "abc123")
    assert where == f"{tmp_path}/store/taxi/abc123"
    assert artifacts.put([source], where) == [f"{where}/taxi-kubeflow.yaml"]
    assert artifacts.listing(where) == ["taxi-kubeflow.yaml"]
    fetched = artifacts.get(where, "taxi-kubeflow.yaml", tmp_path / "fetched")
    assert fetched.read_text() == "spec"
    with pytest.raises(UserError, match="not in the artifact store"):
        artifacts.get(where, "missing.json", tmp_path / "fetched")


def test_artifact_store_rejects_other_schemes(tmp_path):
    source = tmp_path / "f"
    source.write_text("x")
    with pytest.raises(UserError, match="only local folders and gs://"):
        artifacts.put([source], "s3://bucket/ci")
