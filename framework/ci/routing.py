"""Which environment a commit goes to, which stages run, and why (`ci.yaml` at the root).

The same answer drives `mlops ci plan`, every `mlops ci <stage>` (a stage the plan leaves
out prints why and exits 0) and the routing conditions written into the Jenkinsfile and
into the Cloud Build trigger commands. Patterns are globs: `*` matches any characters,
`/` included (so `docs/**` and `*.md` match at any depth).
"""

from __future__ import annotations

import fnmatch
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from framework.ci.stages import STAGES
from framework.core.errors import UserError

CONFIG_FILE = "ci.yaml"
DEPLOYABLE_RUNNERS = ("kubeflow", "vertex")


@dataclass
class Route:
    env: str
    branch: Optional[str] = None
    tag: Optional[str] = None
    approval: bool = False

    def matches(self, branch: Optional[str], tag: Optional[str]) -> bool:
        if self.tag is not None:
            return tag is not None and fnmatch.fnmatchcase(tag, self.tag)
        if self.branch is not None:
            return tag is None and branch is not None and fnmatch.fnmatchcase(branch, self.branch)
        return False

    @property
    def describe(self) -> str:
        return f"tag {self.tag}" if self.tag is not None else f"branch {self.branch}"


@dataclass
class TestConfig:
    paths: list[str] = field(default_factory=lambda: ["tests"])
    marker: Optional[str] = None
    lint: list[str] = field(default_factory=lambda: ["."])


@dataclass
class JenkinsCredentials:
    registry: str = "mlops-registry"
    kfp: str = "mlops-kfp-token"
    gcp: str = "mlops-gcp-service-account"


# One Jenkins user id or group name: the input's `submitter` is a comma-separated list.
APPROVER = r"[^,\s](?:[^,\n]*[^,\s])?"


@dataclass
class JenkinsConfig:
    timeout_minutes: int = 120
    # How long the approval waits (on no executor) before the build is aborted.
    approval_timeout_hours: int = 24
    # Jenkins users or groups allowed to approve (input `submitter`); empty: anyone with
    # Job/Build permission.
    approvers: list[str] = field(default_factory=list, metadata={
        "pattern": APPROVER, "help": "a Jenkins user id or group name (no commas)"})
    credentials: JenkinsCredentials = field(default_factory=JenkinsCredentials)


@dataclass
class CloudBuildConfig:
    image: str = "python:3.11"
    timeout: str = "7200s"
    machine_type: str = "E2_HIGHCPU_8"
    artifact_bucket: str = "portable-mlops-ci"
    kfp_token_secret: str = "kfp-token"


@dataclass
class RehearsalConfig:
    # Environments whose CI runs skip the rehearsal (`mlops ci rehearse`).
    skip: list[str] = field(default_factory=list)


# What the test stage runs when only documentation changed: the site's strict build.
DOCS_TESTS = "tests/docs"


@dataclass
class CiConfig:
    pipeline: str = "taxi"
    routes: list[Route] = field(default_factory=list)
    skip_paths: list[str] = field(default_factory=list)
    # A change that touches only these (and skipped) paths runs the documentation check alone.
    docs_paths: list[str] = field(default_factory=list)
    # Pre-flight rules (`mlops check`) that `mlops ci compile` lets pass, per environment.
    preflight_ignore: dict[str, list[str]] = field(default_factory=dict)
    test: TestConfig = field(default_factory=TestConfig)
    rehearsal: RehearsalConfig = field(default_factory=RehearsalConfig)
    jenkins: JenkinsConfig = field(default_factory=JenkinsConfig)
    cloudbuild: CloudBuildConfig = field(default_factory=CloudBuildConfig)

    def route_for(self, branch: Optional[str], tag: Optional[str]) -> Optional[Route]:
        return next((r for r in self.routes if r.matches(branch, tag)), None)

    def needs_approval(self, env: Optional[str]) -> bool:
        return any(r.approval and r.env == env for r in self.routes)

    def skipped(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.skip_paths)

    def docs_only(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.docs_paths)


def load_config(root: Path | None = None) -> CiConfig:
    """ci.yaml from the project root, validated (an unknown key is an error naming it)."""
    import yaml

    from framework.settings import ENVIRONMENTS
    from framework.settings.schema import build

    if root is None:
        from framework.pipeline.discovery import project_root

        root = project_root()
    path = root / CONFIG_FILE
    if not path.exists():
        raise UserError(f"{path}: not found (the CI routing file; see docs/ci-cd.md)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: broken YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping")
    config = build(CiConfig, data, "", lambda _key: CONFIG_FILE)
    for key in ("timeout_minutes", "approval_timeout_hours"):
        if getattr(config.jenkins, key) <= 0:
            raise UserError(f"{CONFIG_FILE}: jenkins.{key} must be a positive number")
    for i, route in enumerate(config.routes):
        if (route.branch is None) == (route.tag is None):
            raise UserError(f"{CONFIG_FILE}: routes[{i}] needs exactly one of 'branch' or 'tag'")
        if route.env not in ENVIRONMENTS:
            raise UserError(f"{CONFIG_FILE}: routes[{i}].env '{route.env}' is not one of "
                            f"{', '.join(ENVIRONMENTS)}")
    return config


def changed_paths(root: Path, commit: str, base: Optional[str]) -> Optional[list[str]]:
    """Files changed since `base` (default: the commit's parent); None when git can't tell."""
    base = base or f"{commit}~1"
    try:
        proc = subprocess.run(["git", "diff", "--name-only", base, commit], cwd=root,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # A shallow clone has no parent to diff against: unknown, so nothing is skipped.
    if proc.returncode != 0:
        return None
    return [line for line in proc.stdout.splitlines() if line]


@dataclass
class Plan:
    """What this commit's CI run does: the environment, the stages, and why."""

    env: Optional[str]
    stages: list[str]
    reasons: dict[str, str]
    why_env: str
    approval: bool = False
    push: bool = False
    runner: Optional[str] = None
    changed: Optional[list[str]] = None
    # Only documentation changed: the test stage runs DOCS_TESTS and nothing else runs.
    docs_only: bool = False

    def runs(self, stage: str) -> bool:
        return stage in self.stages

    def to_dict(self) -> dict:
        return {"env": self.env, "why_env": self.why_env, "stages": self.stages,
                "reasons": self.reasons, "approval": self.approval, "push": self.push,
                "runner": self.runner, "changed": self.changed,
                "docs_only": self.docs_only}

    def describe(self, ctx) -> str:
        lines = [f"{ctx.ref} ({ctx.short_sha}, build {ctx.build_id} on {ctx.system})",
                 f"environment: {self.env or 'none'} ({self.why_env})"]
        if self.approval:
            lines.append("approval: required before deploy")
        for stage in STAGES:
            mark = "run " if self.runs(stage) else "skip"
            lines.append(f"  {mark} {stage:<8} {self.reasons[stage]}")
        return "\n".join(lines)


# What a request (--env, which the CI files fill from TARGET_ENV / _TARGET_ENV, else
# $MLOPS_ENV) may say besides an environment's name: "auto" (or empty) leaves the choice to
# the route, "none" asks for no deployment at all.
AUTO_ENV = "auto"
NO_ENV = "none"


class EnvNotAllowedError(UserError):
    """In CI, a requested environment that the ref's route does not reach."""


def _request(requested: Optional[str], environ) -> tuple[Optional[str], str]:
    """(the requested environment or None for auto, where the request came from)."""
    for value, source in ((requested, "--env / TARGET_ENV"),
                          (environ.get("MLOPS_ENV"), "MLOPS_ENV")):
        value = (value or "").strip()
        if value and value != AUTO_ENV:
            return value, source
    return None, ""


def resolve_env(config: CiConfig, ctx, requested: Optional[str],
                environ) -> tuple[Optional[str], str]:
    """The environment of this run and why: the route of the branch or tag decides.

    In CI a request may only narrow the route: auto (the routed environment), none (no
    deployment) or the routed environment itself; anything else is refused, so a build
    parameter cannot send a branch where ci.yaml does not. Outside CI (system local) no
    trust boundary exists and any request is taken as it is.
    """
    route = config.route_for(ctx.branch, ctx.tag)
    wanted, source = _request(requested, environ)
    if wanted is None:
        if route is None:
            return None, f"no route in {CONFIG_FILE} matches {ctx.ref}"
        return route.env, f"{ctx.ref} matches route {route.describe}"
    if wanted == NO_ENV:
        return None, f"{source} is {NO_ENV}: nothing is deployed"
    if route is not None and wanted == route.env:
        return wanted, f"{ctx.ref} matches route {route.describe} ({source} agrees)"
    if ctx.system == "local":
        return wanted, f"{source} (outside CI any environment may be chosen)"
    raise EnvNotAllowedError(_refusal(route, ctx, wanted, source))


def _refusal(route: Optional[Route], ctx, wanted: str, source: str) -> str:
    routed = f"routes it to {route.env}" if route else "routes it nowhere"
    allowed = ", ".join([AUTO_ENV, NO_ENV] + ([route.env] if route else []))
    return (f"{source} asks for environment '{wanted}', but {CONFIG_FILE} {routed} "
            f"({ctx.ref}); in CI a request may only narrow the route: {allowed}")


def make_plan(config: CiConfig, ctx, *, pipeline: str, requested_env: Optional[str] = None,
              changed: Optional[list[str]] = None, environ=None,
              runner_of=None) -> Plan:
    """The plan for `ctx`. `runner_of(env)` names the env's runner (default: its settings)."""
    import os

    environ = os.environ if environ is None else environ
    env, why_env = resolve_env(config, ctx, requested_env, environ)
    if changed is not None and changed and all(config.skipped(p) for p in changed):
        reason = f"only skipped paths changed ({', '.join(sorted(changed)[:5])})"
        return Plan(env, [], {s: reason for s in STAGES}, why_env, changed=changed)
    if changed and all(config.skipped(p) or config.docs_only(p) for p in changed):
        reasons = {s: "only documentation changed" for s in STAGES}
        reasons["test"] = f"only documentation changed: the test stage runs {DOCS_TESTS} only"
        return Plan(env, ["test"], reasons, why_env, changed=changed, docs_only=True)
    reasons = {"test": "every commit is tested"}
    stages = ["test", "build"]
    if env is None:
        reasons["build"] = "image built to check it, not pushed (no environment)"
        for stage in ("rehearse", "compile", "deploy"):
            reasons[stage] = "no environment to rehearse, compile or deploy for"
        return Plan(None, stages, reasons, why_env, changed=changed)
    if runner_of is None:
        from framework.settings import load_settings

        def runner_of(name):
            return load_settings(pipeline, name, environ=environ).runner
    runner = runner_of(env)
    approval = config.needs_approval(env)
    if runner not in DEPLOYABLE_RUNNERS:
        reasons["build"] = "image built to check it, not pushed (nothing to deploy)"
        for stage in ("rehearse", "compile", "deploy"):
            reasons[stage] = f"environment {env} runs on the {runner} runner: nothing to deploy"
        return Plan(env, stages, reasons, why_env, approval=approval, runner=runner,
                    changed=changed)
    push = ctx.system != "local"
    reasons["build"] = ("image built; compile pushes it" if push
                        else "image built; not pushed outside CI (use --push)")
    if env in config.rehearsal.skip:
        reasons["rehearse"] = f"switched off for {env} (rehearsal.skip in {CONFIG_FILE})"
    else:
        stages.append("rehearse")
        reasons["rehearse"] = f"run the {runner} spec in the built image, before any upload"
    stages += ["compile", "deploy"]
    reasons["compile"] = f"{'push the image, ' if push else ''}compile for {runner} ({env})"
    reasons["deploy"] = f"deploy to {runner} ({env})" + (" after approval" if approval else "")
    return Plan(env, stages, reasons, why_env, approval=approval, push=push, runner=runner,
                changed=changed)
