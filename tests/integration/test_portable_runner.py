"""The taxi pipeline through Beam's portability API: Beam's own job service and an SDK worker
pool, started by the framework for the run (beam.portable.local_services), stand where a
Flink or Spark job server and its workers would. Then what goes wrong on the way."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT, mlops, run_states, workspace_env

pytestmark = pytest.mark.integration

PORTABLE = {"MLOPS_BEAM__RUNNER": "PortableRunner",
            "MLOPS_BEAM__PORTABLE__LOCAL_SERVICES": "true",
            "MLOPS_BEAM__PORTABLE__SDK_WORKER_PARALLELISM": "2"}
SERVICES = re.compile(r"beam: Beam's job service on localhost:(\d+) and an SDK worker pool on "
                      r"localhost:(\d+)")


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def portable_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("portable")
    env = workspace_env(workdir, **PORTABLE)
    return workdir, mlops("run", "--pipeline", "taxi", env=env, json_out=workdir / "run.json")


def test_the_pipeline_runs_end_to_end_through_the_job_and_fn_apis(portable_run):
    workdir, run = portable_run
    assert run.returncode == 0, run.output[-3000:]
    assert run.result["blessed"] is True and run.result["pushed_model"]
    assert SERVICES.search(run.stdout), run.stdout[-2000:]
    logs = workdir / "pipeline_root" / "logs"
    jobs = (logs / "beam-job-service.log").read_text()
    # StatisticsGen, Transform and the Evaluator each submit a Beam job through the Job API.
    assert jobs.count("with state DONE") >= 3, jobs[-2000:]
    workers = (logs / "beam-worker-pool.log").read_text()
    assert workers.count("Starting worker with command") >= 3, workers[-2000:]


def test_each_beam_job_is_spread_over_two_sdk_worker_processes(portable_run):
    workdir, run = portable_run
    assert run.returncode == 0, run.output[-3000:]
    logs = workdir / "pipeline_root" / "logs"
    jobs = (logs / "beam-job-service.log").read_text().count("Running job")
    started = re.findall(r'worker_id="(worker_\d+)"',
                         (logs / "beam-worker-pool.log").read_text())
    # sdk_worker_parallelism=2: the job service asks the pool for two workers per job (Beam's
    # own local job service, unchanged, would ask for one).
    assert jobs >= 3 and len(set(started)) == 2 * jobs, (jobs, started)


def test_the_job_service_and_the_worker_pool_are_stopped_after_the_run(portable_run):
    _workdir, run = portable_run
    assert run.returncode == 0, run.output[-3000:]
    job_port, pool_port = map(int, SERVICES.search(run.stdout).groups())
    assert not answers(job_port) and not answers(pool_port)


def test_a_job_service_that_does_not_answer_is_one_line_before_anything_runs(tmp_path):
    port = free_port()
    env = workspace_env(tmp_path, MLOPS_BEAM__RUNNER="PortableRunner",
                        MLOPS_BEAM__PORTABLE__JOB_ENDPOINT=f"localhost:{port}",
                        MLOPS_BEAM__PORTABLE__ENVIRONMENT_TYPE="LOOPBACK")
    run = mlops("run", "--pipeline", "taxi", env=env)
    assert run.returncode == 2
    [line] = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert line.startswith(f"error: no Beam job service answers at localhost:{port}")
    assert "started" not in run.stdout


def test_a_malformed_endpoint_is_one_line_naming_the_setting(tmp_path):
    env = workspace_env(tmp_path, MLOPS_BEAM__RUNNER="PortableRunner",
                        MLOPS_BEAM__PORTABLE__JOB_ENDPOINT="jobserver")
    run = mlops("run", "--pipeline", "taxi", env=env)
    assert run.returncode == 2
    assert "beam.portable.job_endpoint is 'jobserver': expected host:port" in run.stderr


def test_the_worker_pool_dying_mid_run_fails_it_and_the_next_run_resumes(tmp_path):
    import psutil

    env = workspace_env(tmp_path, **PORTABLE)
    proc = subprocess.Popen([sys.executable, "-m", "framework", "run", "--pipeline", "taxi",
                             "--json", str(tmp_path / "failed.json")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pool_port, seen = None, []
    for line in proc.stdout:
        seen.append(line)
        found = SERVICES.search(line)
        pool_port = int(found.group(2)) if found else pool_port
        if "Transform" in line and "started" in line:
            pool = next(p for p in psutil.process_iter(["cmdline"])
                        if f"--service_port={pool_port}" in " ".join(p.info["cmdline"] or [])
                        or str(pool_port) in (p.info["cmdline"] or [])[-1:])
            for member in [*pool.children(recursive=True), pool]:
                member.send_signal(signal.SIGKILL)
            break
    out, err = "".join(seen) + proc.stdout.read(), proc.stderr.read()
    assert proc.wait(timeout=900) == 4, out + err
    [line] = [ln for ln in err.splitlines() if ln.strip()]
    assert line.startswith("error: Transform failed: the Beam SDK worker pool stopped")
    assert not (tmp_path / "serving").exists() or not any((tmp_path / "serving").iterdir())
    import json

    failed = json.loads((tmp_path / "failed.json").read_text())
    assert run_states(env, failed["run_id"])["Transform"] == "failed"

    again = mlops("run", "--pipeline", "taxi", env=env, json_out=tmp_path / "again.json")
    assert again.returncode == 0, again.output[-3000:]
    assert {"CsvExampleGen", "StatisticsGen"} <= set(again.result["cached"])
    assert "Transform" in again.result["ran"] and again.result["pushed_model"]


def test_a_terminated_run_stops_the_job_service_and_the_worker_pool(tmp_path):
    # SIGTERM is what a CI system sends when a job is aborted or times out: the run must
    # stop the services it started, as on Ctrl-C, not leave them listening.
    env = workspace_env(tmp_path, **PORTABLE)
    proc = subprocess.Popen([sys.executable, "-m", "framework", "run", "--pipeline", "taxi"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ports = None
    for line in proc.stdout:
        found = SERVICES.search(line)
        if found:
            ports = tuple(map(int, found.groups()))
            break
    assert ports, proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 130
    assert "error: interrupted" in proc.stderr.read()
    assert not any(answers(port) for port in ports)
