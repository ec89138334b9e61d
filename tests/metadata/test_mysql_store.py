"""ML-Metadata on a real MySQL server (MariaDB): runs, lineage, two runs at once, a server
that goes away mid-run, and connection mistakes. Each test has a database of its own; the two
that read one finished run share it (`mysql_run`)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, mlops, run_states, workspace_env
from tests.mariadb import PASSWORD

pytestmark = pytest.mark.integration


@dataclass
class MysqlRun:
    workdir: Path
    env: dict[str, str]
    run: object  # tests.conftest.CliRun


@pytest.fixture(scope="module")
def mysql_run(mariadb_server, tmp_path_factory) -> MysqlRun:
    """The taxi pipeline run once on a database of its own, for the tests that read it."""
    workdir = tmp_path_factory.mktemp("mysql-run")
    env = workspace_env(workdir, **mariadb_server.new_database())
    run = mlops("run", "--pipeline", "taxi", env=env, json_out=workdir / "r.json")
    assert run.returncode == 0, run.output[-3000:]
    return MysqlRun(workdir, env, run)


def test_a_run_writes_its_lineage_to_mysql_and_not_to_sqlite(mysql_run):
    env, run = mysql_run.env, mysql_run.run
    assert run.result["pushed_model"] and run.result["blessed"] is True
    assert not (mysql_run.workdir / "metadata.sqlite").exists()
    states = run_states(env, run.result["run_id"])
    assert states["Pusher"] == "complete" and states["Trainer"] == "complete"
    lineage = mlops("lineage", "--pipeline", "taxi", env=env)
    assert lineage.returncode == 0, lineage.output[-2000:]
    assert run.result["run_id"] in lineage.stdout and "Pusher" in lineage.stdout


def test_two_runs_at_once_on_one_store_both_finish_with_their_own_lineage(tmp_path,
                                                                         mysql_env):
    envs = [workspace_env(tmp_path / name, **mysql_env) for name in ("a", "b")]
    results = [None, None]

    def go(i):
        results[i] = mlops("run", "--pipeline", "taxi", "--no-cache", env=envs[i],
                           json_out=tmp_path / f"{i}.json", timeout=1500)

    threads = [threading.Thread(target=go, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
        time.sleep(2)  # both import and start within seconds of each other
    for thread in threads:
        thread.join()
    for run in results:
        assert run.returncode == 0, run.output[-3000:]
        assert "waiting: another run" not in run.stdout  # MySQL: no turn-taking
        assert "canceled" not in run.stdout  # neither touched the other's live executions
    ids = [run.result["run_id"] for run in results]
    assert ids[0] != ids[1]
    for i, run in enumerate(results):
        states = run_states(envs[i], ids[i])
        assert set(states.values()) <= {"complete", "cached"}, states
        assert states["Pusher"] == "complete"
        assert run.result["pushed_model"].startswith(str(tmp_path / "ab"[i] / "serving"))


def test_the_server_going_away_mid_run_is_one_line_nothing_pushed_then_resumes(
        tmp_path, mysql_env, mariadb_server):
    env = workspace_env(tmp_path, **mysql_env)
    proc = subprocess.Popen([sys.executable, "-m", "framework", "run", "--pipeline", "taxi"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    database = mysql_env["MLOPS_METADATA__MYSQL__DATABASE"]
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "Transform" in line and "started" in line:
            # Stop the server once Transform's execution is registered as RUNNING (state 2).
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and mariadb_server.sql(
                    f"SELECT COUNT(*) FROM `{database}`.Execution "
                    "WHERE last_known_state = 2").strip() == "0":
                time.sleep(0.2)
            mariadb_server.stop()
            break
    out = "".join(seen) + proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=600) == 4, out + err
    [line] = [ln for ln in err.splitlines() if ln.strip()]
    assert line.startswith("error: Transform failed: the ML-Metadata server went away")
    serving = tmp_path / "serving"
    assert not serving.exists() or not any(serving.iterdir()), "a model was pushed"

    mariadb_server.start_again()
    again = mlops("run", "--pipeline", "taxi", env=env, json_out=tmp_path / "again.json")
    assert again.returncode == 0, again.output[-3000:]
    assert {"CsvExampleGen", "StatisticsGen"} <= set(again.result["cached"])
    assert "Transform" in again.result["ran"] and again.result["pushed_model"]
    # The dead run's Transform, left RUNNING in the store, is now marked canceled.
    assert "marked 1 execution(s) left running by an interrupted run as canceled" in again.stdout


def test_a_wrong_password_is_one_line_without_the_password(tmp_path, mysql_env):
    env = workspace_env(tmp_path, **{**mysql_env, "MLMD_TEST_PASSWORD": "not-the-password-9f3"})
    for command in (["run", "--pipeline", "taxi"], ["lineage", "--pipeline", "taxi"]):
        run = mlops(*command, env=env)
        assert run.returncode == 2, run.output[-2000:]
        [line] = [ln for ln in run.stderr.splitlines() if ln.strip()]
        assert line.startswith("error: ML-Metadata store MySQL mlmd@127.0.0.1:")
        assert "refused user 'mlmd'" in line
        assert "not-the-password-9f3" not in run.output and PASSWORD not in run.output


def test_no_server_at_the_address_is_one_line_that_says_so(tmp_path, mysql_env):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = workspace_env(tmp_path, **{**mysql_env, "MLOPS_METADATA__MYSQL__PORT": str(port)})
    run = mlops("lineage", "--pipeline", "taxi", env=env)
    assert run.returncode == 2
    assert f"no MySQL server answers at 127.0.0.1:{port}" in run.stderr
    assert "mysql_real_connect" not in run.output  # MLMD's own line is replaced by ours


def _answers(env, workdir):
    """(trigger outcomes of `ct check`, the lineage of the pushed model) as a user sees them."""
    import json

    check = mlops("ct", "check", "--pipeline", "taxi", env=env, json_out=workdir / "check.json")
    assert check.returncode in (0, 10), check.output[-2000:]
    lineage = mlops("lineage", "--pipeline", "taxi", "--json", env=env)
    assert lineage.returncode == 0, lineage.output[-2000:]
    triggers = {t["name"]: (t["fired"], t["error"]) for t in check.result["triggers"]}
    steps = [(s["stage"], s["node"]) for s in json.loads(lineage.stdout)]
    return triggers, steps


def test_ct_and_lineage_answer_the_same_on_mysql_and_gs_as_on_sqlite_and_folders(
        taxi_run, mysql_run, tmp_path, mariadb_server, gcs):
    from tests.gcs_emulator import BUCKET

    mariadb_server.running()  # a test before this one may have stopped it
    # The run on MySQL, its CT state on gs:// (`mlops run` writes none; `ct check` does).
    shared = {**mysql_run.env, **gcs.env, "MLOPS_CT__STATE_DIR": f"gs://{BUCKET}/parity/ct"}
    local_dir = tmp_path / "local-answers"
    local_dir.mkdir()
    assert _answers(shared, tmp_path) == _answers(taxi_run.env, local_dir)
    history = mlops("ct", "history", "--pipeline", "taxi", "--json", env=shared)
    assert history.returncode == 0, history.output[-2000:]
    assert len([line for line in history.stdout.splitlines() if line.strip()]) == 1
    assert not (mysql_run.workdir / "pipeline_root" / "ct").exists()  # CT state is on gs://
