"""A command that imports TFX, Beam and kfp prints only its own lines: no library warnings
on stderr unless --verbose (tests/unit/test_library_output.py has the details)."""

from __future__ import annotations

import subprocess
import sys

from tests.production.conftest import ROOT, TAG, clean_environ


def test_check_builds_the_pipeline_and_stderr_stays_empty():
    out = subprocess.run(
        [sys.executable, "-m", "framework", "check", "--env", "dev", "--tag", TAG],
        capture_output=True, text=True, cwd=ROOT, env=clean_environ(), timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines()[-1].startswith("ready: taxi on kubeflow (dev)")
    assert out.stderr == ""
