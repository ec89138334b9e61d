"""The model registry with its state and serving folder on gs:// (fake-gcs-server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

# Several processes, each doing transactions on one gs:// registry.
BUMP = """
import sys
from framework.release.registry import Registry
registry = Registry(sys.argv[1], sys.argv[2], "taxi")
for _ in range(int(sys.argv[3])):
    with registry.transaction() as state:
        state.history.append({"action": "test"})
"""


def push(serving: str, version: str) -> None:
    """What the atomic pusher leaves on gs://: <serving>/<version>/saved_model.pb last."""
    from framework.storage import files

    files.write_text(files.join(serving, version, "variables", "variables.index"), "x")
    files.write_text(files.join(serving, version, "saved_model.pb"), "pb")


def test_versions_on_gs_are_discovered_and_released_with_state_on_gs(gs_root):
    from framework.release.registry import Registry, stats_path_for
    from framework.storage import files

    serving = files.join(gs_root, "serving")
    for version in ("100", "200"):
        push(serving, version)
    files.write_text(files.join(serving, "300", "variables", "variables.index"), "x")  # partial
    registry = Registry(serving + ".release.json", serving, "taxi")
    assert sorted(registry.sync().versions) == ["100", "200"]
    registry.promote("100", by="test")
    state = registry.canary("200", 10, by="test")
    assert state.traffic() == {"100": 90, "200": 10}
    stored = json.loads(files.read_text(serving + ".release.json"))
    assert stored["canary"] == "200" and stored["canary_percent"] == 10
    assert stored["versions"]["100"]["path"] == f"{serving}/100"
    assert registry.rollback(by="test", reason="errors").traffic() == {"100": 100}
    assert stats_path_for(registry.state_path) == serving + ".serving-stats.json"
    assert files.read_text(serving + ".release.json.lock") is None  # the lease was released


def test_transactions_from_several_processes_lose_no_update_on_gs(gcs, gs_root):
    from framework.release.registry import Registry
    from framework.storage import files

    serving = files.join(gs_root, "serving")
    push(serving, "100")
    state_path = serving + ".release.json"
    Registry(state_path, serving, "taxi").sync()
    env = {**os.environ, **gcs.env, "MLOPS_PROJECT_ROOT": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", BUMP, state_path, serving, "5"], cwd=ROOT,
                              env=env, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    history = Registry(state_path, serving, "taxi").read().history
    assert sum(1 for h in history if h["action"] == "test") == 15


def test_release_commands_work_on_a_gs_serving_folder(gcs, gs_root):
    from framework.storage import files

    serving = files.join(gs_root, "serving")
    push(serving, "100")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(gcs.env, MLOPS_PROJECT_ROOT=str(ROOT), MLOPS_PIPELINE__SERVING_DIR=serving)

    def mlops(*args):
        return subprocess.run([sys.executable, "-m", "framework", "release", *args, "--env",
                               "test"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)

    promoted = mlops("promote", "100")
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    status = mlops("status")
    assert status.returncode == 0, status.stderr[-2000:]
    assert f"registry {serving}.release.json" in status.stdout
    assert "100" in status.stdout and "production" in status.stdout
