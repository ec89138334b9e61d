"""Read the commands back out of a Jenkinsfile and a cloudbuild.yaml, in run order.

Parameters are normalised to "$NAME": Jenkins' shell variable "$NAME" and Cloud Build's
user substitution "${_NAME}" both mean the CI parameter NAME.
"""

from __future__ import annotations

import re
import shlex

_SH = re.compile(r"^\s*sh\s+'((?:[^'\\]|\\.)*)'\s*$", re.MULTILINE)
_STAGE = re.compile(r"^\s*stage\('((?:[^'\\]|\\.)*)'\)\s*\{", re.MULTILINE)
_SUBST = re.compile(r"^\$\{_([A-Z][A-Z0-9_]*)\}$")


def jenkins_commands(text: str) -> list[list[str]]:
    """Every `sh '...'` step's argv, in file order (= run order for sequential stages)."""
    return [shlex.split(m.group(1).replace("\\'", "'").replace("\\\\", "\\"))
            for m in _SH.finditer(text)]


def jenkins_stage_names(text: str) -> list[str]:
    return [m.group(1) for m in _STAGE.finditer(text)]


def cloudbuild_commands(config: dict) -> list[list[str]]:
    out = []
    for step in config["steps"]:
        argv = [step["entrypoint"], *step.get("args", [])]
        out.append([f"${m.group(1)}" if (m := _SUBST.match(a)) else a for a in argv])
    return out
