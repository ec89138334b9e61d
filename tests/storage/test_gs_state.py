"""The framework's own state on gs://, against a real Cloud Storage API (fake-gcs-server):
objects, the lease, the CT lock across processes, and the CT history."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

# A process that takes the CT lock of a gs:// state folder, says whether it got it, holds it.
HOLD = """
import sys, time
from framework.ct.lock import ct_lock
from framework.settings import load_settings
settings = load_settings("taxi", "test")
start_at, hold_for = float(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
with ct_lock(settings) as held:
    print("held" if held else "refused", flush=True)
    if held:
        time.sleep(hold_for)
"""


def lock_process(gcs, state_dir: str, start_at: float, hold_for: float, lease_s: int = 600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(gcs.env, MLOPS_PROJECT_ROOT=str(ROOT), MLOPS_CT__STATE_DIR=state_dir,
               MLOPS_CT__LOCK_LEASE_SECONDS=str(lease_s))
    return subprocess.Popen([sys.executable, "-c", HOLD, str(start_at), str(hold_for)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def first_line(proc) -> str:
    return proc.stdout.readline().strip()


def test_objects_round_trip_through_the_storage_api(gs_root):
    from framework.storage import files

    uri = files.join(gs_root, "registry.json")
    assert files.read_text(uri) is None
    files.write_text(uri, '{"stage": "production"}')
    files.write_text(files.join(gs_root, "sub", "x.json"), "{}")
    assert json.loads(files.read_text(uri)) == {"stage": "production"}
    assert files.list_names(gs_root) == ["registry.json"]  # objects directly under it only
    files.delete(uri)
    assert files.read_text(uri) is None


def test_a_held_lease_refuses_a_second_holder_until_released(gs_root):
    from framework.storage import files, lease

    uri = files.join(gs_root, "ct.lock")
    with lease.hold(uri, ttl=60) as first:
        with lease.hold(uri, ttl=60) as second:
            assert (first, second) == (True, False)
            holder = lease.read_holder(uri)
            assert holder["pid"] == os.getpid()
            assert f"pid {os.getpid()}" in lease.describe(holder)
    assert files.read_text(uri) is None  # released: the object is gone
    with lease.hold(uri, ttl=60) as again:
        assert again is True


def test_two_processes_racing_for_the_ct_lock_exactly_one_holds_it(gcs, gs_root):
    start_at = time.time() + 8  # both interpreters are up by then; they try at once
    procs = [lock_process(gcs, gs_root, start_at, hold_for=3) for _ in range(2)]
    answers = sorted(first_line(p) for p in procs)
    for proc in procs:
        assert proc.wait(timeout=60) == 0, proc.stderr.read()[-2000:]
    assert answers == ["held", "refused"]


def test_a_holder_killed_mid_run_is_taken_over_once_its_lease_expires(gcs, gs_root):
    from framework.ct.lock import holder
    from framework.settings import load_settings

    first = lock_process(gcs, gs_root, time.time(), hold_for=600, lease_s=4)
    assert first_line(first) == "held"
    first.send_signal(signal.SIGKILL)  # no release, no more renewals
    first.wait()
    os.environ["MLOPS_CT__STATE_DIR"] = gs_root
    try:
        settings = load_settings("taxi", "test")
        assert f"pid {first.pid}" in holder(settings)
    finally:
        del os.environ["MLOPS_CT__STATE_DIR"]
    blocked = lock_process(gcs, gs_root, time.time(), hold_for=0, lease_s=4)
    assert first_line(blocked) == "refused"  # the dead holder's lease still runs
    blocked.wait(timeout=60)
    time.sleep(4.5)
    after = lock_process(gcs, gs_root, time.time(), hold_for=0, lease_s=4)
    assert first_line(after) == "held"
    assert after.wait(timeout=60) == 0


def test_a_live_holder_renews_its_lease_past_the_lease_time(gcs, gs_root):
    holding = lock_process(gcs, gs_root, time.time(), hold_for=7, lease_s=2)
    assert first_line(holding) == "held"
    time.sleep(4)  # twice the lease: only renewals keep it
    other = lock_process(gcs, gs_root, time.time(), hold_for=0, lease_s=2)
    assert first_line(other) == "refused"
    assert holding.wait(timeout=60) == 0 and other.wait(timeout=60) == 0


def test_ct_decisions_are_recorded_on_gs_and_read_back_in_order(gs_root, tmp_path):
    from framework.ct import history
    from framework.settings import load_settings

    environ = {"MLOPS_CT__STATE_DIR": gs_root,
               "MLOPS_PIPELINE__PIPELINE_ROOT": str(tmp_path / "root")}
    settings = load_settings("taxi", "test", environ=environ)
    for i in range(3):
        history.append(settings, {"n": i, "action": "none"})
    assert [r["n"] for r in history.read(settings)] == [0, 1, 2]
    assert [r["n"] for r in history.read(settings, limit=2)] == [1, 2]
    assert not (tmp_path / "root").exists()  # nothing written to a local folder


def test_the_ci_artifact_store_on_gs_keeps_and_returns_each_file(gs_root, tmp_path):
    from framework.ci import artifacts
    from framework.core.errors import UserError

    spec = tmp_path / "taxi-kubeflow.yaml"
    spec.write_text("pipelineInfo: {name: taxi}\n")
    record = tmp_path / "compiled.json"
    record.write_text('{"file": "taxi-kubeflow.yaml"}')
    where = artifacts.location(gs_root, "taxi", "0123abcd")
    assert artifacts.put([spec, record], where) == [f"{where}/taxi-kubeflow.yaml",
                                                    f"{where}/compiled.json"]
    assert artifacts.listing(where) == ["compiled.json", "taxi-kubeflow.yaml"]
    fetched = artifacts.get(where, "taxi-kubeflow.yaml", tmp_path / "fetched")
    assert fetched.read_text() == spec.read_text()
    with pytest.raises(UserError, match="not in the artifact store"):
        artifacts.get(where, "build-manifest.json", tmp_path / "fetched")
