"""`mlops jenkins register|trigger` through python-jenkins, against a Jenkins HTTP double."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from framework.ci.jenkins_job import JobSpec, pipeline_xml
from tests.ci.jenkins_double import JenkinsDouble, Job

ROOT = Path(__file__).resolve().parents[2]
REPO = "https://git.example/mlops/portable-mlops.git"


@pytest.fixture
def jenkins():
    with JenkinsDouble() as double:
        yield double


def mlops(double: JenkinsDouble, *args: str, token: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "JENKINS_"))}
    env.update(JENKINS_URL=double.url, JENKINS_USER=double.state.user,
               JENKINS_TOKEN=token if token is not None else double.state.token)
    return subprocess.run([sys.executable, "-m", "framework", "jenkins", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def test_register_creates_the_job_then_updates_it(jenkins):
    first = mlops(jenkins, "register", "--repository", REPO)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created multibranch job portable-mlops")
    config = ET.fromstring(jenkins.state.jobs["portable-mlops"].config)
    assert config.findtext(".//scriptPath") == "Jenkinsfile"
    assert config.findtext(".//source/remote") == REPO

    second = mlops(jenkins, "register", "--repository", REPO + "2", "--credentials-id", "git-ro")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("updated")
    config = ET.fromstring(jenkins.state.jobs["portable-mlops"].config)
    assert config.findtext(".//source/remote") == REPO + "2"
    assert config.findtext(".//source/credentialsId") == "git-ro"
    assert ("POST", "/createItem") in jenkins.state.requests
    assert ("POST", "/job/portable-mlops/config.xml") in jenkins.state.requests


def test_register_into_a_missing_folder_is_a_clear_error(jenkins):
    proc = mlops(jenkins, "register", "--repository", REPO, "--job", "mlops/taxi-ci")
    assert proc.returncode == 2
    assert "folder for the job does not exist" in proc.stderr


def test_trigger_starts_a_pipeline_job_with_parameters(jenkins):
    reg = mlops(jenkins, "register", "--repository", REPO, "--kind", "pipeline")
    assert reg.returncode == 0, reg.stderr
    proc = mlops(jenkins, "trigger", "--param", "TARGET_ENV=dev", "--param", "PIPELINE=taxi",
                 "--wait", "5")
    assert proc.returncode == 0, proc.stderr
    assert "build #1" in proc.stdout
    build = jenkins.state.jobs["portable-mlops"].builds[0]
    assert build["parameters"] == {"TARGET_ENV": "dev", "PIPELINE": "taxi"}


def test_trigger_a_branch_of_a_multibranch_job(jenkins):
    # Branch jobs appear when Jenkins scans the repository; stand one in, with the
    # parameters its Jenkinsfile declares.
    jenkins.state.jobs["portable-mlops/develop"] = Job(
        pipeline_xml(JobSpec(name="develop", repository=REPO)))
    proc = mlops(jenkins, "trigger", "--branch", "develop", "--param", "TARGET_ENV=auto")
    assert proc.returncode == 0, proc.stderr
    assert jenkins.state.jobs["portable-mlops/develop"].builds[0]["parameters"] == {
        "TARGET_ENV": "auto"}
    assert ("POST", "/job/portable-mlops/job/develop/buildWithParameters") in jenkins.state.requests


def test_trigger_of_an_unknown_job_is_one_clear_line(jenkins):
    proc = mlops(jenkins, "trigger", "--job", "nope", "--param", "A=1")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: Jenkins trigger of job nope failed")
    assert "Traceback" not in proc.stderr


def test_wrong_token_fails_without_showing_it(jenkins):
    proc = mlops(jenkins, "register", "--repository", REPO, token="wrong-token-value")
    assert proc.returncode == 2
    assert "authentication failed" in proc.stderr.lower()
    assert "wrong-token-value" not in proc.stderr + proc.stdout
    assert jenkins.state.jobs == {}


def test_missing_token_is_reported_by_variable_name(jenkins):
    proc = mlops(jenkins, "register", "--repository", REPO, token="")
    assert proc.returncode == 2
    assert "set JENKINS_TOKEN" in proc.stderr


def test_bad_parameter_syntax_is_rejected(jenkins):
    proc = mlops(jenkins, "trigger", "--param", "TARGET_ENV")
    assert proc.returncode == 2 and "NAME=VALUE" in proc.stderr


def test_print_config_shows_a_pipeline_job_with_the_ci_parameters():
    proc = subprocess.run([sys.executable, "-m", "framework", "jenkins", "register",
                           "--repository", REPO, "--kind", "pipeline", "--branch", "develop",
                           "--print-config"], cwd=ROOT, capture_output=True, text=True)
    config = ET.fromstring(proc.stdout)
    assert [d.findtext("name") for d in config.find(".//parameterDefinitions")] == [
        "PIPELINE", "TARGET_ENV"]
    assert config.findtext(".//branches/hudson.plugins.git.BranchSpec/name") == "*/develop"


def test_the_double_is_a_server_behind_the_real_python_jenkins(jenkins, monkeypatch):
    """The double fakes Jenkins, not the client: the framework's client is python-jenkins'
    own, so a misspelt argument fails in jenkins.Jenkins before any request is sent."""
    import jenkins as python_jenkins

    from framework.ci.jenkins_job import connect

    monkeypatch.setenv("DOUBLE_TOKEN", jenkins.state.token)
    server = connect(jenkins.url, jenkins.state.user, "DOUBLE_TOKEN")
    assert type(server) is python_jenkins.Jenkins
    with pytest.raises(TypeError, match="unexpected keyword argument 'params'"):
        server.build_job("portable-mlops", params={"TARGET_ENV": "dev"})
    assert jenkins.state.requests == []
