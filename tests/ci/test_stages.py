"""The stage commands: `mlops ci test` on a tiny selection, `plan` skipping, `build` dispatch."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from framework.ci.context import CiContext

ROOT = Path(__file__).resolve().parents[2]


def head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


def jenkins_env(**extra) -> dict:
    """A Jenkins feature-branch build of HEAD with nothing changed since the last success."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLOPS_", "JENKINS_", "GIT_", "BRANCH_", "TAG_", "CI_"))}
    env.update(CI_SYSTEM="jenkins", JENKINS_URL="https://jenkins.example/", GIT_COMMIT=head(),
               GIT_PREVIOUS_SUCCESSFUL_COMMIT=head(), BRANCH_NAME="feature/ci", BUILD_NUMBER="7")
    env.update(extra)
    return env


def local_dev(**extra) -> dict:
    """A laptop run of HEAD with nothing changed, pinned to the dev environment."""
    return {"CI_SYSTEM": "local", "CI_BASE_COMMIT": head(), "MLOPS_ENV": "dev", **extra}


def mlops(*args: str, env: dict, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def junit_counts(path: Path) -> dict:
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    return {k: int(suite.get(k)) for k in ("tests", "failures", "errors", "skipped")}


@pytest.fixture
def tiny_tests(tmp_path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "test_tiny.py").write_text(
        "import pytest\n\n\n"
        "def test_adds():\n    assert 1 + 1 == 2\n\n\n"
        "@pytest.mark.slow\ndef test_slow_one():\n    assert True\n")
    return folder


def test_test_stage_runs_the_selection_and_writes_junit(tiny_tests, tmp_path):
    junit = tmp_path / "out" / "junit.xml"
    proc = mlops("ci", "test", "--junit", str(junit), "--lint", str(tiny_tests),
                 str(tiny_tests), env=jenkins_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert junit_counts(junit) == {"tests": 2, "failures": 0, "errors": 0, "skipped": 0}
    assert "ruff check" in proc.stdout


def test_test_stage_marker_selects_tests(tiny_tests, tmp_path):
    junit = tmp_path / "junit.xml"
    proc = mlops("ci", "test", "--junit", str(junit), "--no-lint", "-m", "not slow",
                 str(tiny_tests), env=jenkins_env())
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert junit_counts(junit)["tests"] == 1


def test_test_stage_fails_on_a_failing_test_and_still_reports(tiny_tests, tmp_path):
    (tiny_tests / "test_broken.py").write_text("def test_broken():\n    assert 1 == 2\n")
    junit = tmp_path / "junit.xml"
    proc = mlops("ci", "test", "--junit", str(junit), "--no-lint", str(tiny_tests),
                 env=jenkins_env())
    assert proc.returncode == 2
    assert "error: test stage failed: pytest" in proc.stderr
    assert junit_counts(junit)["failures"] == 1


def test_test_stage_fails_on_a_ruff_finding(tiny_tests, tmp_path):
    (tiny_tests / "test_lint.py").write_text("import os\n\n\ndef test_ok():\n    pass\n")
    proc = mlops("ci", "test", "--junit", str(tmp_path / "j.xml"), "--lint", str(tiny_tests),
                 str(tiny_tests), env=jenkins_env())
    assert proc.returncode == 2
    assert "test stage failed: ruff" in proc.stderr
    assert "F401" in proc.stdout


def _docs_only_repo(tmp_path: Path) -> Path:
    """A git checkout of the project whose last commit changed only docs/."""
    repo = tmp_path / "repo"
    for name in ("framework", "pipelines"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "ci.yaml", repo / "ci.yaml")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run(git[:3] + ["init", "-q", "-b", "main"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "code"], check=True)
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("# guide\n")
    subprocess.run(git + ["add", "docs"], check=True)
    subprocess.run(git + ["commit", "-qm", "docs"], check=True)
    return repo


def test_docs_only_commit_runs_only_the_documentation_tests(tmp_path):
    repo = _docs_only_repo(tmp_path)
    (repo / "tests" / "docs").mkdir(parents=True)
    (repo / "tests" / "docs" / "test_site.py").write_text("def test_site():\n    pass\n")
    (repo / "tests" / "test_everything_else.py").write_text(
        "def test_not_run_for_a_docs_change():\n    raise AssertionError\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "CI_"))}
    env.update(MLOPS_PROJECT_ROOT=str(repo), CI_SYSTEM="local")
    plan = mlops("ci", "plan", "--output", str(tmp_path / "plan.json"), env=env, cwd=repo)
    assert plan.returncode == 0, plan.stderr
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["stages"] == ["test"] and data["docs_only"]
    for stage in ("build", "compile", "deploy"):
        proc = mlops("ci", stage, env=env, cwd=repo)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"skip {stage}: only documentation changed")
    test = mlops("ci", "test", env=env, cwd=repo)
    assert test.returncode == 0, test.stdout + test.stderr
    assert "runs tests/docs only" in test.stdout and "1 passed" in test.stdout


# --- build: build_stage calls framework.ci.build.run_build ---------------------------

def _fake_run_build(monkeypatch, calls: list) -> None:
    def run_build(ctx, settings, *, push, ca_bundle, manifest_path):
        config_dir = os.environ.get("DOCKER_CONFIG")
        auths = None
        if config_dir:
            auths = json.loads(Path(config_dir, "config.json").read_text())["auths"]
        ref = f"{settings.image.repository}:{ctx.commit}"
        manifest = {"image": ref, "images": [ref, f"{settings.image.repository}:{ctx.version_tag}"],
                    "commit": ctx.commit, "version_tag": ctx.version_tag}
        Path(manifest_path).write_text(json.dumps(manifest))
        calls.append({"ctx": ctx, "env": settings.env, "push": push, "ca_bundle": ca_bundle,
                      "manifest_path": manifest_path, "auths": auths})
        return manifest

    monkeypatch.setattr("framework.ci.build.run_build", run_build)


def _in_process(monkeypatch, env: dict, *argv: str) -> int:
    from framework.cli import main

    for name in list(os.environ):
        if name.startswith(("MLOPS_", "GIT_", "BRANCH_", "TAG_", "CI_", "REGISTRY_", "JENKINS_")):
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main(list(argv))


def test_build_stage_passes_context_push_and_ca_bundle_to_run_build(monkeypatch, tmp_path, capsys):
    calls: list = []
    _fake_run_build(monkeypatch, calls)
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    manifest = tmp_path / "build-manifest.json"
    code = _in_process(
        monkeypatch,
        {"CI_SYSTEM": "jenkins", "JENKINS_URL": "https://j/", "GIT_COMMIT": head(),
         "GIT_PREVIOUS_SUCCESSFUL_COMMIT": head(), "BRANCH_NAME": "develop",
         "BUILD_NUMBER": "9", "REGISTRY_USER": "robot", "REGISTRY_PASSWORD": "pa55-word",
         "CI_CA_BUNDLE": str(bundle)},
        "ci", "build", "--manifest", str(manifest))
    assert code == 0
    (call,) = calls
    assert isinstance(call["ctx"], CiContext)
    ctx = call["ctx"]
    assert (ctx.commit, ctx.branch, ctx.build_id) == (head(), "develop", "9")
    assert call["env"] == "dev" and call["push"] is True
    assert call["ca_bundle"] == str(bundle) and call["manifest_path"] == str(manifest)
    # Jenkins' registry credentials reach the Docker SDK through a private DOCKER_CONFIG.
    host = "europe-west4-docker.pkg.dev"
    assert base64.b64decode(call["auths"][host]["auth"]).decode() == "robot:pa55-word"
    assert "DOCKER_CONFIG" not in os.environ
    out = capsys.readouterr().out
    assert "pa55-word" not in out and "pushed" in out


def test_build_stage_outside_ci_does_not_push_unless_asked(monkeypatch, tmp_path):
    calls: list = []
    _fake_run_build(monkeypatch, calls)
    env = local_dev()
    assert _in_process(monkeypatch, env, "ci", "build", "--manifest",
                       str(tmp_path / "m.json")) == 0
    assert _in_process(monkeypatch, env, "ci", "build", "--push", "--manifest",
                       str(tmp_path / "m.json")) == 0
    assert [c["push"] for c in calls] == [False, True]
    assert calls[0]["ctx"].system == "local" and calls[0]["auths"] is None


def test_missing_ca_bundle_is_a_clear_error(monkeypatch, tmp_path, capsys):
    _fake_run_build(monkeypatch, [])
    code = _in_process(monkeypatch, local_dev(), "ci", "build",
                       "--ca-bundle", str(tmp_path / "nope.pem"))
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_compile_without_a_build_manifest_says_to_build_first(monkeypatch, tmp_path, capsys):
    code = _in_process(monkeypatch, local_dev(), "ci", "compile",
                       "--manifest", str(tmp_path / "missing.json"))
    assert code == 2
    assert "run `mlops ci build` first" in capsys.readouterr().err


def test_deploy_without_a_compiled_pipeline_in_the_store_says_to_compile(monkeypatch, tmp_path,
                                                                         capsys):
    code = _in_process(monkeypatch, local_dev(MLOPS_CI__ARTIFACT_STORE=str(tmp_path / "store")),
                       "ci", "deploy")
    assert code == 2
    assert "run `mlops ci compile` for this commit first" in capsys.readouterr().err


# --- TARGET_ENV may only narrow the route ----------------------------------------------

@pytest.mark.parametrize("stage", ["plan", "test", "build", "rehearse", "compile", "deploy"])
def test_every_stage_refuses_a_target_env_the_route_does_not_reach(monkeypatch, capsys, stage):
    # Jenkins, branch feature/ci (no route), started with TARGET_ENV=dev.
    code = _in_process(monkeypatch, jenkins_env(), "ci", stage, "--env", "dev")
    assert code != 0
    err = capsys.readouterr().err
    assert err.startswith("error: --env / TARGET_ENV asks for environment 'dev', but ci.yaml "
                          "routes it nowhere (branch feature/ci)")
    assert err.count("\n") == 1


def test_cloud_build_plan_step_refuses_a_widening_substitution(tmp_path):
    # What the plan step of cloudbuild.yaml runs for a manual run of the dev trigger on a
    # branch of one's own, _TARGET_ENV=dev.
    env = {k: v for k, v in jenkins_env().items() if not k.startswith("JENKINS_")}
    env.update(CI_SYSTEM="cloudbuild", COMMIT_SHA=head(), SHORT_SHA=head()[:7],
               BRANCH_NAME="feature/mine", TAG_NAME="", BUILD_ID="b-1", PROJECT_ID="p",
               CI_BASE_COMMIT=head())
    out = tmp_path / "plan.json"
    proc = mlops("ci", "plan", "--pipeline", "taxi", "--env", "dev", "--output", str(out),
                 env=env)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: --env / TARGET_ENV asks for environment 'dev', but ci.yaml routes it nowhere "
        "(branch feature/mine); in CI a request may only narrow the route: auto, none"]
    assert not out.exists()
    allowed = mlops("ci", "plan", "--env", "none", env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert "environment: none" in allowed.stdout
