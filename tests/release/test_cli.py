"""`mlops release` and `mlops serve` as a user runs them."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.conftest import ROOT, mlops, workspace_env
from tests.release.test_registry import fake_push
from tests.release.test_serving import INSTANCE, pushed_model


@pytest.fixture
def env(tmp_path):
    for version in ("100", "200"):
        fake_push(tmp_path / "serving", version)
    # A storage URI a cluster can read: the local serving folder is refused for KServe.
    return workspace_env(tmp_path, MLOPS_RELEASE__TARGET="kserve",
                         MLOPS_RELEASE__KSERVE__STORAGE_URI="gs://bucket/taxi/{version}")


def test_release_commands_drive_the_registry_and_write_the_kserve_manifest(env, tmp_path):
    status = mlops("release", "status", env=env)
    assert status.returncode == 0, status.output
    assert re.search(r"^100\s+candidate\s+-", status.stdout, re.M)
    assert mlops("release", "promote", "100", env=env).returncode == 0
    canary = mlops("release", "canary", "200", "--percent", "10", "--reason", "new data", env=env)
    assert canary.returncode == 0, canary.output
    assert "canary 200 now gets 10% of requests (production 100: 90%)" in canary.stdout
    manifest = (tmp_path / "serving.inferenceservice.yaml").read_text()
    assert "canaryTrafficPercent: 10" in manifest
    status = mlops("release", "status", env=env)
    assert re.search(r"^200\s+canary\s+10%", status.stdout, re.M), status.stdout
    assert re.search(r"^100\s+production\s+90%", status.stdout, re.M), status.stdout
    assert "by mlops release canary 200 --percent 10 --reason 'new data'  why: new data" \
        in status.stdout
    rollback = mlops("release", "rollback", "--reason", "drill", env=env)
    assert rollback.returncode == 0, rollback.output
    assert "canaryTrafficPercent: 0" in (tmp_path / "serving.inferenceservice.yaml").read_text()
    state = json.loads(mlops("release", "status", "--json", env=env).stdout)["state"]
    assert state["traffic"] == {"100": 100}
    assert state["versions"]["200"]["rolled_back"] == "drill"


def test_a_refused_release_command_is_one_error_line(env):
    result = mlops("release", "canary", "200", "--percent", "10", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: no production version yet: promote one first "
                                     "(mlops release promote 200)")


def test_serve_refuses_to_start_without_a_production_version(env):
    result = mlops("serve", "--port", "0", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: no production version in the registry")


@pytest.mark.integration
def test_mlops_serve_answers_predictions_and_release_status_shows_them(taxi_run, tmp_path):
    model = pushed_model(taxi_run)
    env = workspace_env(tmp_path, MLOPS_PIPELINE__SERVING_DIR=str(model.parent),
                        MLOPS_RELEASE__STATE_PATH=str(tmp_path / "taxi.release.json"))
    assert mlops("release", "promote", model.name, env=env).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "framework", "serve", "--port", "0",
                             "--grpc-port", "0"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=180)
        url = re.search(r"on (http://127\.0\.0\.1:\d+/v1/models/taxi) ", first)
        assert url, first
        response = requests.post(f"{url.group(1)}:predict", json={"instances": [INSTANCE] * 3},
                                 timeout=30)
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == 3
        deadline = time.monotonic() + 20
        while True:  # the server writes its stats file at most twice a second
            status = mlops("release", "status", env=env)
            row = re.search(rf"^{model.name}\s+production\s+100%\s+1\s+0\s+[\d.]+\s+[\d.]+",
                            status.stdout, re.M)
            if row or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert row, status.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
