"""The `test` stage: static analysis (ruff) and pytest with a JUnit XML report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional


def run_tests(root: Path, *, junit: str, paths: list[str], marker: Optional[str],
              lint: list[str], keyword: Optional[str] = None,
              extra_pytest_args: tuple[str, ...] = ()) -> dict:
    """Run ruff on `lint` and pytest on `paths` (with `-m marker`); both always run.

    Returns {"ruff": exit code or None, "pytest": exit code, "junit": path}; the stage
    fails when either is non-zero.
    """
    junit_path = Path(junit)
    if not junit_path.is_absolute():
        junit_path = root / junit_path
    junit_path.parent.mkdir(parents=True, exist_ok=True)
    result: dict = {"junit": str(junit_path), "ruff": None}
    if lint:
        print(f"ruff check {' '.join(lint)}", flush=True)
        result["ruff"] = subprocess.run([sys.executable, "-m", "ruff", "check", *lint],
                                        cwd=root).returncode
    cmd = [sys.executable, "-m", "pytest", f"--junitxml={junit_path}", "-o",
           "junit_family=xunit2"]
    if marker:
        cmd += ["-m", marker]
    if keyword:
        cmd += ["-k", keyword]
    cmd += [*extra_pytest_args, *paths]
    print(" ".join(cmd[1:]), flush=True)
    result["pytest"] = subprocess.run(cmd, cwd=root).returncode
    return result
