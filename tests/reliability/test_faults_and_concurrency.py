"""Faults and concurrency on one workspace, in order: a run killed during Transform, one
killed during Trainer, the run that completes after them, two runs at once, and a run with
secrets in its environment."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT, workspace_env
from tests.reliability.conftest import sample, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("faults")
    header, rows = sample(2000)
    write_csv(workdir / "data", header, rows)
    env = workspace_env(workdir, MLOPS_PIPELINE__DATA_ROOT=str(workdir / "data"))
    return workdir, env


def _start(env):
    return subprocess.Popen([sys.executable, "-m", "framework", "run", "--pipeline", "taxi"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _kill_when_started(env, component, timeout=600):
    """Start a run and SIGKILL it as soon as `component` has started; returns its output."""
    proc = _start(env)
    seen = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if f"{component} " in line and line.rstrip().endswith("started"):
            time.sleep(2)  # let the executor get going
            os.killpg(proc.pid, signal.SIGKILL)
            break
        assert time.monotonic() < deadline, "component never started"
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-2000:]
    return "".join(seen)


def _serving_entries(workdir):
    """Versions and leftovers (.tmp-*), not the pusher's record of digests."""
    serving = workdir / "serving"
    return sorted(p.name for p in serving.iterdir()
                  if p.name != ".model-digests") if serving.exists() else []


def _running_executions(env):
    from ml_metadata.proto import metadata_store_pb2

    from framework.metadata.store import open_store
    from framework.settings import load_settings

    with open_store(load_settings("taxi", "test", environ=env)) as store:
        return [e for e in store.get_executions()
                if e.last_known_state == metadata_store_pb2.Execution.RUNNING]


def test_kill_during_transform_leaves_no_model(shared):
    workdir, env = shared
    _kill_when_started(env, "Transform")
    assert _serving_entries(workdir) == []
    assert len(_running_executions(env)) == 1  # the killed Transform, until the next run


def test_kill_during_trainer_leaves_no_model(shared):
    workdir, env = shared
    out = _kill_when_started(env, "Trainer")
    assert "marked 1 execution(s) left running by an interrupted run as canceled" in out
    assert _serving_entries(workdir) == []


def test_next_run_completes_reusing_what_finished(shared):
    workdir, env = shared
    proc = subprocess.run([sys.executable, "-m", "framework", "run", "--pipeline", "taxi"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # progress lines read "[ 7/10] Transform   cached   0.1s"; the last one per name wins
    lines = {line.split("]", 1)[1].split()[0]: line for line in proc.stdout.splitlines()
             if line.startswith("[")}
    assert "cached" in lines["Transform"] and "cached" in lines["CsvExampleGen"]
    assert "complete" in lines["Trainer"]
    assert _running_executions(env) == []  # ML-Metadata consistent: no orphan left running
    entries = _serving_entries(workdir)
    assert len(entries) == 1 and entries[0].isdigit(), entries  # one whole model, no .tmp-*


def test_two_runs_at_once_both_finish_and_the_second_waits(shared):
    _, env = shared
    procs = [_start(env) for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out[-1500:] + err[-1500:]
        assert "database is locked" not in out + err
    assert sum("waiting: another run is using" in out for out, _ in outputs) == 1


SECRETS = {
    "KFP_TOKEN": "kfp-secret-token-7f3a",
    "JENKINS_API_TOKEN": "jenkins-secret-token-91bc",
    "REGISTRY_PASSWORD": "registry-secret-pass-55de",
}


def test_secrets_never_reach_output_or_logs(shared, tmp_path):
    workdir, env = shared
    credentials = tmp_path / "gcp-credentials.json"
    credentials.write_text('{"private_key": "gcp-secret-key-0a1b"}')
    env = {**env, **SECRETS, "GOOGLE_APPLICATION_CREDENTIALS": str(credentials)}
    outputs = []
    for args in (["run", "--pipeline", "taxi", "--verbose"], ["run", "--pipeline", "taxi"]):
        proc = subprocess.run([sys.executable, "-m", "framework", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outputs.append(proc.stdout + proc.stderr)
    logs = list((workdir / "pipeline_root" / "logs").glob("*.log"))
    assert logs
    everything = "".join(outputs) + "".join(p.read_text(errors="replace") for p in logs)
    for secret in [*SECRETS.values(), "gcp-secret-key-0a1b", str(credentials)]:
        assert secret not in everything


def test_lock_holder_killed_releases_the_lock(shared):
    """A run killed while holding the lock never blocks the next one (flock dies with it)."""
    _, env = shared
    from framework.runners.local import metadata_lock

    sqlite = env["MLOPS_METADATA__SQLITE_PATH"]
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from framework.runners.local import metadata_lock; "
        "from framework.core.progress import SilentProgress; "
        f"cm = metadata_lock({sqlite!r}, SilentProgress()); cm.__enter__(); "
        "print('held', flush=True); time.sleep(60)")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    acquired = threading.Event()

    def take():
        from framework.core.progress import SilentProgress

        with metadata_lock(sqlite, SilentProgress()):
            acquired.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    assert acquired.wait(10)
