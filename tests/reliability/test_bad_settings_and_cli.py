"""Bad settings and bad command lines: one error line, exit 2, and nothing run or written."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, copy_project


@pytest.fixture
def project(tmp_path):
    """A copy of the project's framework-facing layout with the taxi pipeline, to break."""
    return copy_project(tmp_path)


def mlops(project, *args, env=None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    environ.update(MLOPS_PROJECT_ROOT=str(project), PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "framework", *args], cwd=project, env=environ,
                          capture_output=True, text=True, timeout=120)


def assert_rejected(proc, *fragments, project=None):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    if project is not None:
        assert not (project / ".mlops").exists(), "something ran or wrote before the check"


def edit_settings(project, old, new):
    path = project / "pipelines" / "taxi" / "settings.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_unknown_key(project):
    edit_settings(project, "    eval_steps: 150", "    eval_stepz: 150")
    assert_rejected(mlops(project, "run"), "pipelines/taxi/settings.yaml [base]", "training.eval_stepz",
                    project=project)


def test_wrong_type(project):
    edit_settings(project, "    train_steps: 1000", "    train_steps: a thousand")
    assert_rejected(mlops(project, "run"), "training.train_steps", "expected an integer", project=project)


def test_broken_yaml(project):
    edit_settings(project, "local: {}", "local: {runner: [")
    assert_rejected(mlops(project, "run"), "broken YAML at line", project=project)


def test_unknown_environment(project):
    assert_rejected(mlops(project, "run", "--env", "qa"), "unknown environment 'qa'", project=project)


@pytest.mark.parametrize("variable,value,key", [
    ("MLOPS_IMAGE__TAG", "v1;rm -rf /", "image.tag"),
    ("MLOPS_IMAGE__TAG", "$(curl evil)", "image.tag"),
    ("MLOPS_IMAGE__REPOSITORY", "registry/../../etc", "image.repository"),
    ("MLOPS_PIPELINE__NAME", "taxi`id`", "pipeline.name"),
    ("MLOPS_PIPELINE__NAME", "../../tmp/x", "pipeline.name"),
])
def test_shell_metacharacters_and_traversal_rejected_before_any_command(project, variable, value, key):
    for command in (["run"], ["compile", "--target", "kubeflow", "--env", "dev"]):
        assert_rejected(mlops(project, *command, env={variable: value}), key, variable, project=project)


def test_unknown_pipeline(project):
    assert_rejected(mlops(project, "run", "--pipeline", "nope"), "unknown pipeline 'nope'", project=project)


def test_unknown_runner(project):
    assert_rejected(mlops(project, "run", "--runner", "spark"), "unknown runner 'spark'", project=project)


def test_unknown_target(project):
    assert_rejected(mlops(project, "compile", "--target", "sagemaker"), "invalid choice: 'sagemaker'",
                    project=project)


def test_unknown_command(project):
    assert_rejected(mlops(project, "deploi"), "invalid choice: 'deploi'", project=project)
