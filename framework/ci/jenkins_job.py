"""The Jenkins job that runs the repository's Jenkinsfile, as config.xml, via python-jenkins.

Two kinds:
- multibranch (default): one job per branch and tag, found by scanning the repository;
  the Jenkinsfile's `when { branch ... }` / `when { tag ... }` routing needs this kind.
- pipeline: a single job on one branch, with the CI parameters declared up front (so the
  first `buildWithParameters` works before the Jenkinsfile has ever run).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional
from xml.sax.saxutils import escape

from framework.core.errors import UserError

MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"


@dataclass(frozen=True)
class JobSpec:
    name: str
    repository: str
    kind: str = "multibranch"
    branch: str = "main"
    credentials_id: Optional[str] = None
    script_path: str = "Jenkinsfile"
    description: str = "portable-mlops CI/CD: mlops ci test, build, compile, deploy"


def _credentials(spec: JobSpec, indent: str) -> str:
    if not spec.credentials_id:
        return ""
    return f"\n{indent}<credentialsId>{escape(spec.credentials_id)}</credentialsId>"


def multibranch_xml(spec: JobSpec) -> str:
    return f"""<?xml version='1.1' encoding='UTF-8'?>
<{MULTIBRANCH} plugin="workflow-multibranch">
  <description>{escape(spec.description)}</description>
  <sources class="jenkins.branch.MultiBranchProject$BranchSourceList" plugin="branch-api">
    <data>
      <jenkins.branch.BranchSource>
        <source class="jenkins.plugins.git.GitSCMSource" plugin="git">
          <id>{escape(spec.name)}</id>
          <remote>{escape(spec.repository)}</remote>{_credentials(spec, "          ")}
          <traits>
            <jenkins.plugins.git.traits.BranchDiscoveryTrait/>
            <jenkins.plugins.git.traits.TagDiscoveryTrait/>
          </traits>
        </source>
        <strategy class="jenkins.branch.DefaultBranchPropertyStrategy">
          <properties class="empty-list"/>
        </strategy>
      </jenkins.branch.BranchSource>
    </data>
    <owner class="{MULTIBRANCH}" reference="../.."/>
  </sources>
  <factory class="org.jenkinsci.plugins.workflow.multibranch.WorkflowBranchProjectFactory">
    <owner class="{MULTIBRANCH}" reference="../.."/>
    <scriptPath>{escape(spec.script_path)}</scriptPath>
  </factory>
</{MULTIBRANCH}>
"""


def pipeline_xml(spec: JobSpec) -> str:
    from framework.ci.stages import PARAMETERS

    params = "".join(
        f"""
        <hudson.model.StringParameterDefinition>
          <name>{escape(name)}</name>
          <description>{escape(help)}</description>
          <defaultValue>{escape(default)}</defaultValue>
          <trim>true</trim>
        </hudson.model.StringParameterDefinition>"""
        for name, (default, help) in PARAMETERS.items())
    return f"""<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job">
  <description>{escape(spec.description)}</description>
  <keepDependencies>false</keepDependencies>
  <properties>
    <hudson.model.ParametersDefinitionProperty>
      <parameterDefinitions>{params}
      </parameterDefinitions>
    </hudson.model.ParametersDefinitionProperty>
  </properties>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition" plugin="workflow-cps">
    <scm class="hudson.plugins.git.GitSCM" plugin="git">
      <configVersion>2</configVersion>
      <userRemoteConfigs>
        <hudson.plugins.git.UserRemoteConfig>
          <url>{escape(spec.repository)}</url>{_credentials(spec, "          ")}
        </hudson.plugins.git.UserRemoteConfig>
      </userRemoteConfigs>
      <branches>
        <hudson.plugins.git.BranchSpec>
          <name>*/{escape(spec.branch)}</name>
        </hudson.plugins.git.BranchSpec>
      </branches>
    </scm>
    <scriptPath>{escape(spec.script_path)}</scriptPath>
    <lightweight>true</lightweight>
  </definition>
  <disabled>false</disabled>
</flow-definition>
"""


def config_xml(spec: JobSpec) -> str:
    if spec.kind == "multibranch":
        return multibranch_xml(spec)
    if spec.kind == "pipeline":
        return pipeline_xml(spec)
    raise UserError(f"unknown job kind '{spec.kind}' (choose multibranch or pipeline)")


def connect(url: Optional[str], user: Optional[str], token_env: str, timeout: float = 30):
    """A python-jenkins client; the API token is read from $token_env, never from argv."""
    import jenkins

    url = url or os.environ.get("JENKINS_URL")
    if not url:
        raise UserError("no Jenkins URL: pass --url or set JENKINS_URL")
    user = user or os.environ.get("JENKINS_USER")
    token = os.environ.get(token_env)
    if user and not token:
        raise UserError(f"no API token for Jenkins user {user}: set {token_env}")
    return jenkins.Jenkins(url, username=user, password=token, timeout=timeout)


def _jenkins_error(action: str, exc: Exception) -> UserError:
    # python-jenkins messages hold the URL and status, never the credentials.
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return UserError(f"Jenkins {action} failed: {first}")


def register(server, spec: JobSpec) -> str:
    """Create the job, or update its config.xml when it exists: 'created' or 'updated'."""
    import jenkins
    import requests

    xml = config_xml(spec)
    try:
        if server.job_exists(spec.name):
            server.reconfig_job(spec.name, xml)
            return "updated"
        server.create_job(spec.name, xml)
        return "created"
    except (jenkins.JenkinsException, requests.RequestException) as exc:
        raise _jenkins_error(f"register of job {spec.name}", exc) from None


def trigger(server, job: str, parameters: dict[str, str], *, wait_seconds: float = 0) -> dict:
    """Queue a build with parameters; with wait_seconds, wait for its build number."""
    import time

    import jenkins
    import requests

    try:
        queue_id = server.build_job(job, parameters or None)
        info = {"job": job, "queue_id": queue_id, "parameters": parameters,
                "build_number": None, "url": None}
        deadline = time.monotonic() + wait_seconds
        while True:
            item = server.get_queue_item(queue_id)
            executable = item.get("executable") or {}
            if executable.get("number") is not None:
                info["build_number"], info["url"] = executable["number"], executable.get("url")
                break
            if item.get("cancelled") or time.monotonic() >= deadline:
                break
            time.sleep(1)
        return info
    except (jenkins.JenkinsException, requests.RequestException) as exc:
        raise _jenkins_error(f"trigger of job {job}", exc) from None
