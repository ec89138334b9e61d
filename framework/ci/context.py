"""One set of names for the commit being built, whichever CI system runs the stage.

Jenkins exposes GIT_COMMIT, BRANCH_NAME / GIT_BRANCH, TAG_NAME and BUILD_NUMBER; Cloud Build
exposes the substitutions COMMIT_SHA, SHORT_SHA, BRANCH_NAME, TAG_NAME and BUILD_ID (the
rendered cloudbuild.yaml maps them into the steps' environment). Outside CI the values
come from git. Stages only ever read a `CiContext`:

    commit       full commit SHA
    short_sha    first 7 characters of it
    branch       branch name, or None for a tag build / detached checkout
    tag          tag name, or None
    build_id     the CI system's build number or id ("local" outside CI)
    version_tag  the tag when there is one, else short_sha (what a release is called)
    system       "jenkins", "cloudbuild" or "local"
    base_commit  the commit to diff against to find changed paths, when known
                 (Jenkins: GIT_PREVIOUS_SUCCESSFUL_COMMIT; anywhere: CI_BASE_COMMIT)
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from framework.core.errors import UserError

SHORT = 7


class CiContextError(UserError):
    """The commit being built cannot be told from the environment or from git."""


@dataclass(frozen=True)
class CiContext:
    commit: str
    short_sha: str
    branch: Optional[str]
    tag: Optional[str]
    build_id: str
    system: str = "local"
    base_commit: Optional[str] = None

    @property
    def version_tag(self) -> str:
        return self.tag or self.short_sha

    @property
    def ref(self) -> str:
        """What is being built, for messages: 'tag v1.2', 'branch main' or 'commit abc1234'."""
        if self.tag:
            return f"tag {self.tag}"
        if self.branch:
            return f"branch {self.branch}"
        return f"commit {self.short_sha}"

    def to_dict(self) -> dict:
        return {
            "commit": self.commit, "short_sha": self.short_sha, "branch": self.branch,
            "tag": self.tag, "build_id": self.build_id, "version_tag": self.version_tag,
            "system": self.system, "base_commit": self.base_commit,
        }


def docker_tag(name: str) -> str:
    """A branch or tag name made valid as an image tag ('feature/x' -> 'feature-x')."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "untagged"
    return cleaned[:128]


def _clean(value: Optional[str]) -> Optional[str]:
    value = (value or "").strip()
    return value or None


def _strip_remote(branch: Optional[str]) -> Optional[str]:
    # Non-multibranch Jenkins jobs report GIT_BRANCH as "origin/main" or "refs/heads/main".
    if branch is None:
        return None
    for prefix in ("refs/heads/", "refs/remotes/origin/", "remotes/origin/", "origin/"):
        if branch.startswith(prefix):
            return branch[len(prefix):]
    return branch


def detect_system(environ: Mapping[str, str]) -> str:
    """'jenkins', 'cloudbuild' or 'local'. CI_SYSTEM (set by both rendered files) wins."""
    explicit = _clean(environ.get("CI_SYSTEM"))
    if explicit in ("jenkins", "cloudbuild", "local"):
        return explicit
    if environ.get("JENKINS_URL") or environ.get("JENKINS_HOME"):
        return "jenkins"
    if environ.get("COMMIT_SHA") and environ.get("BUILD_ID") and environ.get("PROJECT_ID"):
        return "cloudbuild"
    return "local"


def from_jenkins(environ: Mapping[str, str]) -> dict:
    tag = _clean(environ.get("TAG_NAME"))
    # In a multibranch tag build BRANCH_NAME holds the tag's name: it is not a branch.
    branch = None if tag else _strip_remote(
        _clean(environ.get("BRANCH_NAME")) or _clean(environ.get("GIT_BRANCH")))
    if branch and branch.startswith("PR-") and environ.get("CHANGE_ID"):
        branch = _clean(environ.get("CHANGE_BRANCH")) or branch
    return {
        "commit": _clean(environ.get("GIT_COMMIT")),
        "short_sha": None,
        "branch": branch,
        "tag": tag,
        "build_id": _clean(environ.get("BUILD_NUMBER")) or _clean(environ.get("BUILD_ID")),
        "base_commit": _clean(environ.get("GIT_PREVIOUS_SUCCESSFUL_COMMIT")),
    }


def from_cloudbuild(environ: Mapping[str, str]) -> dict:
    return {
        "commit": _clean(environ.get("COMMIT_SHA")),
        "short_sha": _clean(environ.get("SHORT_SHA")),
        "branch": _clean(environ.get("BRANCH_NAME")),
        "tag": _clean(environ.get("TAG_NAME")),
        "build_id": _clean(environ.get("BUILD_ID")),
        "base_commit": None,
    }


def _git(root: Path, *args: str) -> Optional[str]:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def from_git(root: Path) -> dict:
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    return {
        "commit": _git(root, "rev-parse", "HEAD"),
        "short_sha": None,
        "branch": None if branch in (None, "HEAD") else branch,
        "tag": _clean(_git(root, "describe", "--tags", "--exact-match", "HEAD")),
        "build_id": "local",
        "base_commit": None,
    }


def ci_context(environ: Mapping[str, str] | None = None, root: Path | None = None) -> CiContext:
    """The CI context of the current build, from Jenkins, Cloud Build or git."""
    environ = os.environ if environ is None else environ
    if root is None:
        from framework.pipeline.discovery import project_root

        root = project_root()
    system = detect_system(environ)
    reader = {"jenkins": from_jenkins, "cloudbuild": from_cloudbuild}.get(system)
    values = reader(environ) if reader else from_git(root)
    if not values["commit"]:
        # A CI system without the commit variable (a manual `gcloud builds submit`, a job
        # without the git plugin): ask git, which knows when the checkout has .git.
        fallback = from_git(root)
        for key in ("commit", "branch", "tag"):
            values[key] = values[key] or fallback[key]
    commit = values["commit"]
    if not commit or not re.fullmatch(r"[0-9a-f]{7,64}", commit):
        raise CiContextError(
            f"cannot tell which commit is being built (system: {system}); run inside a git "
            "checkout, or set GIT_COMMIT (Jenkins) / COMMIT_SHA (Cloud Build)")
    return CiContext(
        commit=commit,
        short_sha=values["short_sha"] or commit[:SHORT],
        branch=values["branch"],
        tag=values["tag"],
        build_id=values["build_id"] or "local",
        system=system,
        # CI_BASE_COMMIT pins the diff base anywhere (a pull request's merge base, a test).
        base_commit=_clean(environ.get("CI_BASE_COMMIT")) or values["base_commit"],
    )
