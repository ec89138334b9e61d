"""The stages in order: compile and deploy for real against the Kubeflow API double, and
the whole `test && build && rehearse && compile && deploy` chain in a clean clone (needs a
Docker API).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
kfp_double = pytest.importorskip(
    "tests.production.conftest",
    reason="the Kubeflow API double of the production tests (tests/production) is missing")


@pytest.fixture
def kfp():
    state = kfp_double.KfpState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), kfp_double.make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def develop_build_env(root: Path, kfp_url: str, store: Path, **extra) -> dict:
    """Jenkins building branch develop (routed to dev, on Kubeflow) of `root`'s HEAD."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_", "JENKINS_", "GIT_", "BRANCH_", "TAG_", "CI_"))}
    commit = git(root, "rev-parse", "HEAD")
    env.update(CI_SYSTEM="jenkins", JENKINS_URL="https://jenkins.example/", GIT_COMMIT=commit,
               GIT_PREVIOUS_SUCCESSFUL_COMMIT=commit, BRANCH_NAME="develop", BUILD_NUMBER="11",
               MLOPS_PROJECT_ROOT=str(root), MLOPS_KUBEFLOW__HOST=kfp_url,
               MLOPS_CI__ARTIFACT_STORE=str(store), KFP_TOKEN="kfp-test-token")
    env.update(extra)
    return env


def mlops(root: Path, env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)


def executor_images(spec: dict) -> set[str]:
    return {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()
            if "container" in e}


def built_manifest(folder: Path, *, pushed: bool) -> tuple[Path, str, str]:
    """(manifest, commit, image): what `mlops ci build` writes for HEAD, without building.

    `pushed`: the build pushed the image already (`mlops ci build --push`), so compile does
    not push it again.
    """
    commit = git(ROOT, "rev-parse", "HEAD")
    image = f"europe-west4-docker.pkg.dev/portable-mlops-dev/mlops/taxi:{commit}"
    manifest = folder / "build-manifest.json"
    manifest.write_text(json.dumps({"image": image, "images": [image], "commit": commit,
                                    "version_tag": commit[:7], "pushed": pushed}))
    return manifest, commit, image


def test_compile_then_deploy_run_wait_against_the_kfp_double(kfp, tmp_path):
    url, state = kfp
    manifest, commit, image = built_manifest(tmp_path, pushed=True)
    store = tmp_path / "store"
    env = develop_build_env(ROOT, url, store)

    compiled = mlops(ROOT, env, "ci", "compile", "--manifest", str(manifest),
                     "--output", str(tmp_path / "out"))
    assert compiled.returncode == 0, compiled.stdout[-2000:] + compiled.stderr[-3000:]
    stored = store / "taxi" / commit
    assert sorted(p.name for p in stored.iterdir()) == [
        "build-manifest.json", "compiled.json", "taxi-kubeflow.yaml"]
    record = json.loads((stored / "compiled.json").read_text())
    assert (record["env"], record["runner"], record["image"]) == ("dev", "kubeflow", image)

    deployed = mlops(ROOT, env, "ci", "deploy", "--run", "--wait", "--poll", "0.1")
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-3000:]
    kinds = [(kind, name) for kind, name, _spec in state.uploads]
    # The pipeline version is named after the manifest's version tag (release tag or sha).
    assert kinds == [("pipeline", "taxi"), ("version", commit[:7])]
    assert executor_images(state.uploads[-1][2]) == {image}
    (run,) = state.runs.values()
    assert run.state == "SUCCEEDED"
    assert f"Bearer {env['KFP_TOKEN']}" in state.authorization
    assert "kfp-test-token" not in deployed.stdout + deployed.stderr

    # Deploying the same commit again uploads nothing new.
    again = mlops(ROOT, env, "ci", "deploy")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "nothing new" in again.stdout
    assert len(state.uploads) == 2


def test_failed_integration_run_fails_the_deploy_stage(kfp, tmp_path):
    url, state = kfp
    state.run_states = ["RUNNING", "FAILED"]
    state.run_error = "Trainer: loss is NaN"
    commit = git(ROOT, "rev-parse", "HEAD")
    where = tmp_path / "store" / "taxi" / commit
    where.mkdir(parents=True)
    # A compiled pipeline stored by an earlier compile of this commit (kept small: the
    # compile itself is covered above).
    from framework.ci.artifacts import put

    spec = tmp_path / "taxi-kubeflow.yaml"
    spec.write_text(
        "pipelineInfo: {name: taxi}\nroot: {dag: {tasks: {}}}\n"
        "deploymentSpec: {executors: {}}\nschemaVersion: 2.1.0\nsdkVersion: tfx-1.16.0\n")
    manifest = tmp_path / "build-manifest.json"
    manifest.write_text(json.dumps({"image": f"localhost/taxi:{commit}", "images": [],
                                    "commit": commit, "version_tag": commit[:7]}))
    record = tmp_path / "compiled.json"
    record.write_text(json.dumps({"env": "dev", "runner": "kubeflow", "file": spec.name,
                                  "manifest": manifest.name}))
    put([spec, manifest, record], str(where))
    env = develop_build_env(ROOT, url, tmp_path / "store")
    proc = mlops(ROOT, env, "ci", "deploy", "--run", "--wait", "--poll", "0.1")
    assert proc.returncode != 0
    assert "FAILED" in proc.stderr and "loss is NaN" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("pushed_by_build", [False, True])
def test_compile_pushes_the_image_after_the_rehearsal_unless_the_build_did(
        kfp, tmp_path, monkeypatch, pushed_by_build):
    from unittest import mock

    import framework.ci.build as build
    from framework.cli import main

    push = mock.create_autospec(build.push_built)
    monkeypatch.setattr(build, "push_built", push)
    url, _state = kfp
    manifest, _commit, _image = built_manifest(tmp_path, pushed=pushed_by_build)
    for name in list(os.environ):
        if name.startswith(("MLOPS_", "JENKINS_", "GIT_", "BRANCH_", "TAG_", "CI_")):
            monkeypatch.delenv(name)
    for name, value in develop_build_env(ROOT, url, tmp_path / "store").items():
        monkeypatch.setenv(name, value)
    assert main(["ci", "compile", "--manifest", str(manifest), "--output",
                 str(tmp_path / "out")]) == 0
    if pushed_by_build:
        push.assert_not_called()
    else:
        push.assert_called_once_with(mock.ANY, manifest)
        assert push.call_args.args[0].env == "dev"


@pytest.mark.container
def test_done_when_all_five_stages_run_in_order_on_a_clean_clone(kfp, tmp_path):
    """`mlops ci test && build && rehearse && compile && deploy` on a fresh clone: the
    rehearsal runs the compiled spec in the image the build made, deploy goes to the double.
    Nothing is pushed (there is no registry here): build and compile run with --no-push."""
    from framework.container.client import DockerUnavailableError, docker_client

    try:
        docker_client().close()
    except DockerUnavailableError as exc:
        pytest.skip(f"the build stage needs a Docker API: {exc}")
    base = os.environ.get("MLOPS_IMAGE__BASE_IMAGE")
    if not base:
        pytest.skip("set MLOPS_IMAGE__BASE_IMAGE to a local base image "
                    "(local/make-base-image.sh); no image can be pulled here")
    url, state = kfp
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = develop_build_env(
        clone, url, tmp_path / "store", MLOPS_IMAGE__BASE_IMAGE=base,
        MLOPS_IMAGE__REPOSITORY="localhost/portable-mlops-ci-e2e",
        MLOPS_TRAINING__TRAIN_STEPS="20", MLOPS_TRAINING__EVAL_STEPS="5",
        **{k: v for k, v in os.environ.items()
           if k in ("DOCKER_HOST", "MLOPS_IMAGE__CA_BUNDLE", "PIP_CERT")})
    # A tiny selection keeps the test stage short; the stage is otherwise the real one.
    smoke = clone / "tests" / "ci" / "test_context_and_routing.py"
    steps = [
        ("test", ["--junit", str(tmp_path / "junit.xml"), "--lint", "framework/ci", str(smoke)]),
        ("build", ["--no-push"]),
        ("rehearse", []),
        ("compile", ["--no-push"]),
        ("deploy", ["--run", "--wait", "--poll", "0.1"]),
    ]
    for stage, extra in steps:
        proc = mlops(clone, env, "ci", stage, *extra, timeout=3600)
        assert proc.returncode == 0, f"{stage}: " + proc.stdout[-2000:] + proc.stderr[-3000:]
    commit = git(clone, "rev-parse", "HEAD")
    manifest = json.loads((clone / ".mlops/ci/out/build-manifest.json").read_text())
    assert manifest["image"] == f"localhost/portable-mlops-ci-e2e:{commit}"
    assert executor_images(state.uploads[-1][2]) == {manifest["image"]}
    assert [r.state for r in state.runs.values()] == ["SUCCEEDED"]
    rehearsal = clone / ".mlops/ci/out/rehearsal"
    assert (rehearsal / "compiled" / "taxi-kubeflow.yaml").is_file()
    assert [p for p in (rehearsal / "serving").iterdir() if p.name.isdigit()], "nothing pushed"
