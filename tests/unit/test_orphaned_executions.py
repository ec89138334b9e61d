"""Which RUNNING executions an interrupted run leaves behind may be canceled.

A store shared by many hosts (MySQL) must never lose a live run's executions: only those of
runs whose owner process is known to be dead go. The store here is a SQLite file: the rule
is the same on both, only `sole_writer` differs.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

PIPELINE = "taxi"


@pytest.fixture
def store(tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "mlmd.sqlite")
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def running_execution(store, run_id: str) -> int:
    """A RUNNING execution in the pipeline's context and in the context of run `run_id`."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    pipeline_type = store.put_context_type(pb.ContextType(name="pipeline"))
    run_type = store.put_context_type(pb.ContextType(name="pipeline_run"))
    execution_type = store.put_execution_type(pb.ExecutionType(name="Transform"))
    pipeline = store.get_context_by_type_and_name("pipeline", PIPELINE)
    pipeline_id = pipeline.id if pipeline else store.put_contexts(
        [pb.Context(type_id=pipeline_type, name=PIPELINE)])[0]
    [run_ctx] = store.put_contexts([pb.Context(type_id=run_type, name=run_id)])
    [execution_id] = store.put_executions([pb.Execution(
        type_id=execution_type, last_known_state=pb.Execution.RUNNING)])
    store.put_attributions_and_associations([], [
        pb.Association(context_id=pipeline_id, execution_id=execution_id),
        pb.Association(context_id=run_ctx, execution_id=execution_id)])
    return execution_id


def state(store, execution_id: int) -> int:
    return store.get_executions_by_id([execution_id])[0].last_known_state


def set_owner(store, run_id: str, *, host: str, pid: int, started: float) -> None:
    from ml_metadata.proto import metadata_store_pb2 as pb

    from framework.metadata.store import OWNER_TYPE, _owner_type_id

    context = pb.Context(type_id=_owner_type_id(store), name=f"{PIPELINE}:{run_id}")
    context.properties["host"].string_value = host
    context.properties["pid"].int_value = pid
    context.properties["started"].double_value = started
    store.put_contexts([context])
    assert store.get_context_by_type_and_name(OWNER_TYPE, f"{PIPELINE}:{run_id}")


def dead_process() -> tuple[int, float]:
    import psutil

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    return proc.pid, started


def test_a_live_run_of_another_process_on_a_shared_store_is_left_alone(store):
    from ml_metadata.proto import metadata_store_pb2 as pb

    from framework.metadata.store import cancel_orphaned_executions, record_run_owner

    live = running_execution(store, "run-live")
    record_run_owner(store, PIPELINE, "run-live")  # this test process: alive
    assert cancel_orphaned_executions(store, PIPELINE, sole_writer=False) == (0, 1)
    assert state(store, live) == pb.Execution.RUNNING


def test_a_dead_owner_on_this_host_is_an_orphan(store):
    from ml_metadata.proto import metadata_store_pb2 as pb

    from framework.metadata.store import cancel_orphaned_executions

    gone = running_execution(store, "run-gone")
    pid, started = dead_process()
    set_owner(store, "run-gone", host=socket.gethostname(), pid=pid, started=started)
    assert cancel_orphaned_executions(store, PIPELINE, sole_writer=False) == (1, 0)
    assert state(store, gone) == pb.Execution.CANCELED


def test_a_reused_pid_is_not_mistaken_for_the_owner(store):
    import os

    from framework.metadata.store import cancel_orphaned_executions

    running_execution(store, "run-old")
    # Same pid as this live process, but another start time: the owner itself is gone.
    set_owner(store, "run-old", host=socket.gethostname(), pid=os.getpid(), started=1.0)
    assert cancel_orphaned_executions(store, PIPELINE, sole_writer=False) == (1, 0)


def test_a_run_owned_by_another_host_is_left_alone(store):
    from framework.metadata.store import cancel_orphaned_executions

    running_execution(store, "run-elsewhere")
    set_owner(store, "run-elsewhere", host="jenkins-agent-7", pid=1, started=1.0)
    running_execution(store, "run-unknown")  # no owner recorded at all
    assert cancel_orphaned_executions(store, PIPELINE, sole_writer=False) == (0, 2)


def test_a_sole_writer_cancels_everything_left_running(store):
    from framework.metadata.store import cancel_orphaned_executions, record_run_owner

    running_execution(store, "run-a")
    record_run_owner(store, PIPELINE, "run-a")
    running_execution(store, "run-b")
    # SQLite with the run lock held: no other run can be writing, whoever is recorded.
    assert cancel_orphaned_executions(store, PIPELINE, sole_writer=True) == (2, 0)
