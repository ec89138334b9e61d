"""The CLI: fast help, one-line errors, non-zero exits."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "framework", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, **(env or {})})


def test_help_does_not_import_tensorflow_or_tfx():
    code = ("import sys; from framework.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('tensorflow', 'tfx', 'apache_beam', 'kfp', 'docker') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_unknown_pipeline_is_one_line_and_exit_2():
    out = run_cli("run", "--pipeline", "nope")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert out.stderr.startswith("error: unknown pipeline 'nope'")


def test_unknown_environment_is_one_line():
    out = run_cli("run", "--env", "qa")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: unknown environment 'qa' (choose one of: local, dev, test, staging, prod)")


def test_unknown_runner_is_one_line():
    out = run_cli("run", "--runner", "spark")
    assert out.returncode == 2
    assert "error: unknown runner 'spark'" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_settings_variable_is_one_line():
    out = run_cli("run", env={"MLOPS_TRAINING__TRAIN_STEPS": "many"})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "MLOPS_TRAINING__TRAIN_STEPS" in out.stderr
