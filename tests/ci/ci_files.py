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


def jenkins_stage_block(text: str, name: str) -> list[str]:
    """The lines of stage `name`, from its `stage('name') {` to the matching brace."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"stage('{name}') {{")
    depth = 0
    for i in range(start, len(lines)):
        depth += lines[i].count("{") - lines[i].count("}")
        if depth == 0:
            return lines[start:i + 1]
    raise ValueError(f"stage {name} is not closed")


def sh_steps_with_their_stages(text: str) -> list[tuple[str, list[str]]]:
    """Every `sh` step with the names of the stages around it, outermost first, each name
    suffixed with " [agent any]" when that stage takes an agent. The rendered file has one
    statement per line, so counting braces per line follows the nesting."""
    stack: list[list] = []  # [stage name or None, has an agent]
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "agent any" and stack and stack[-1][0]:
            stack[-1][1] = True
        if _SH.match(line):
            found.append((stripped, [n + (" [agent any]" if a else "") for n, a in stack if n]))
        net = line.count("{") - line.count("}")
        stage = _STAGE.match(line)
        for _ in range(net):
            stack.append([stage.group(1) if stage else None, False])
            stage = None
        for _ in range(-net):
            stack.pop()
    return found
