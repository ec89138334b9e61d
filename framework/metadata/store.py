"""ML-Metadata: the connection from settings and the queries the framework needs."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

from framework.core.errors import SettingsError, UserError
from framework.core.net import answers


class MetadataUnavailableError(UserError):
    """The ML-Metadata store cannot be opened: the message says why, never the password."""


def _mysql_config(config, mysql) -> None:
    config.mysql.host = mysql.host
    config.mysql.port = mysql.port
    config.mysql.database = mysql.database
    config.mysql.user = mysql.user
    if mysql.password_env:
        config.mysql.password = os.environ.get(mysql.password_env, "")
    if mysql.ssl is not None:
        options = config.mysql.ssl_options
        for key in ("ca", "cert", "key"):
            if getattr(mysql.ssl, key):
                setattr(options, key, getattr(mysql.ssl, key))
        options.verify_server_cert = mysql.ssl.verify_server_cert


def connection_config(settings):
    """An MLMD ConnectionConfig: MySQL / Cloud SQL when metadata.mysql is set, else SQLite."""
    from ml_metadata.proto import metadata_store_pb2

    meta = settings.metadata
    config = metadata_store_pb2.ConnectionConfig()
    if meta.mysql is not None:
        _mysql_config(config, meta.mysql)
        return config
    if not meta.sqlite_path:
        raise SettingsError(f"{settings.source}: key 'metadata': set sqlite_path or mysql")
    os.makedirs(os.path.dirname(meta.sqlite_path) or ".", exist_ok=True)
    config.sqlite.filename_uri = meta.sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def describe_store(settings) -> str:
    """Where the store is, for messages: never the password."""
    mysql = settings.metadata.mysql
    if mysql is not None:
        return f"MySQL {mysql.user}@{mysql.host}:{mysql.port}/{mysql.database}"
    return f"SQLite {settings.metadata.sqlite_path}"


def unavailable_reason(settings) -> str:
    """Why a MySQL store did not open, told apart by what can be checked from here."""
    mysql = settings.metadata.mysql
    if not answers(mysql.host, mysql.port):
        return (f"no MySQL server answers at {mysql.host}:{mysql.port} (is it running? for "
                "Cloud SQL, is the Cloud SQL Auth Proxy running?)")
    if mysql.password_env and mysql.password_env not in os.environ:
        return (f"the server at {mysql.host}:{mysql.port} refused user '{mysql.user}': the "
                f"password variable {mysql.password_env} is not set")
    return (f"the server at {mysql.host}:{mysql.port} refused user '{mysql.user}' on database "
            f"'{mysql.database}' (wrong password, no such database, or no grant on it)")


@contextmanager
def _stderr_silenced():
    """MLMD's C++ layer writes its own connection errors to fd 2; ours replaces them."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def connect(settings):
    """A MetadataStore; a MySQL store that cannot be opened is one MetadataUnavailableError."""
    from ml_metadata.metadata_store import metadata_store

    config = connection_config(settings)
    if settings.metadata.mysql is None:
        return metadata_store.MetadataStore(config)
    try:
        with _stderr_silenced():
            return metadata_store.MetadataStore(config)
    except Exception:  # MLMD says only "mysql_real_connect failed": find out ourselves
        raise MetadataUnavailableError(
            f"ML-Metadata store {describe_store(settings)}: {unavailable_reason(settings)}"
        ) from None


@contextmanager
def open_store(settings):
    store = connect(settings)
    try:
        yield store
    finally:
        del store


STATE_NAMES = {1: "new", 2: "running", 3: "complete", 4: "failed", 5: "cached", 6: "canceled"}


@dataclass
class ExecutionRecord:
    node: str
    state: str
    execution_id: int


def run_executions(store, pipeline: str, run_id: str) -> list[ExecutionRecord]:
    """Executions of one pipeline run, by node id."""
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if context is None:
        return []
    out = []
    for execution in store.get_executions_by_context(context.id):
        node = execution.custom_properties.get("__tfx_node_id__")
        node_contexts = [
            c.name for c in store.get_contexts_by_execution(execution.id)
            if c.name.startswith(f"{pipeline}.")
        ]
        name = node_contexts[0].split(".", 1)[1] if node_contexts else (node.string_value if node else "?")
        out.append(ExecutionRecord(name, STATE_NAMES.get(execution.last_known_state, "?"), execution.id))
    return out


def output_artifacts(store, execution_id: int, type_name: Optional[str] = None):
    """Artifacts an execution produced, optionally of one type."""
    from ml_metadata.proto import metadata_store_pb2

    events = store.get_events_by_execution_ids([execution_id])
    ids = [e.artifact_id for e in events if e.type in (
        metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
    artifacts = store.get_artifacts_by_id(ids) if ids else []
    if type_name is None:
        return artifacts
    types = {t.id: t.name for t in store.get_artifact_types()}
    return [a for a in artifacts if types.get(a.type_id) == type_name]


# A context per run, written by the framework: which process on which host runs it. A shared
# (MySQL) store is written by runs on many hosts at once; only a run whose owner is known to
# be dead may have its RUNNING executions canceled.
OWNER_TYPE = "mlops_run_owner"


def _owner_type_id(store) -> int:
    from ml_metadata.proto import metadata_store_pb2 as pb

    owner_type = pb.ContextType(name=OWNER_TYPE)
    owner_type.properties["host"] = pb.STRING
    owner_type.properties["pid"] = pb.INT
    owner_type.properties["started"] = pb.DOUBLE
    return store.put_context_type(owner_type)


def record_run_owner(store, pipeline: str, run_id: str) -> None:
    """Note that this process, on this host, runs `run_id` of `pipeline`."""
    import socket

    import psutil
    from ml_metadata.proto import metadata_store_pb2 as pb

    context = pb.Context(type_id=_owner_type_id(store), name=f"{pipeline}:{run_id}")
    context.properties["host"].string_value = socket.gethostname()
    context.properties["pid"].int_value = os.getpid()
    context.properties["started"].double_value = psutil.Process().create_time()
    store.put_contexts([context])


def owner_alive(owner) -> Optional[bool]:
    """True/False for an owner on this host; None when it runs elsewhere (cannot be told)."""
    import socket

    import psutil

    if owner.properties["host"].string_value != socket.gethostname():
        return None
    try:
        process = psutil.Process(owner.properties["pid"].int_value)
        return abs(process.create_time() - owner.properties["started"].double_value) < 1.0
    except psutil.Error:
        return False


def _run_ids(store, execution_id: int, run_type_id: Optional[int]) -> list[str]:
    return [c.name for c in store.get_contexts_by_execution(execution_id)
            if c.type_id == run_type_id]


def cancel_orphaned_executions(store, pipeline: str, *, sole_writer: bool) -> tuple[int, int]:
    """Mark executions left RUNNING by a killed run as CANCELED: (canceled, left running).

    `sole_writer`: no other run can be writing (a SQLite store, its run lock held), so every
    RUNNING execution is an orphan. Otherwise (a shared store) only those of runs whose
    owner process is known to be dead: on this host and gone.
    """
    from ml_metadata.proto import metadata_store_pb2

    context = store.get_context_by_type_and_name("pipeline", pipeline)
    if context is None:
        return 0, 0
    running = [e for e in store.get_executions_by_context(context.id)
               if e.last_known_state == metadata_store_pb2.Execution.RUNNING]
    orphans = running if sole_writer else _orphans_of_dead_owners(store, pipeline, running)
    for execution in orphans:
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
    if orphans:
        store.put_executions(orphans)
    return len(orphans), len(running) - len(orphans)


def _orphans_of_dead_owners(store, pipeline: str, running: list) -> list:
    """Those of `running` whose run's owner is known to be dead (on this host and gone)."""
    if not running:
        return []
    try:
        run_type_id = store.get_context_type("pipeline_run").id
    except Exception:  # no run was ever recorded: nothing to tell the owner by
        return []

    def dead_owner(run_id: str) -> bool:
        owner = store.get_context_by_type_and_name(OWNER_TYPE, f"{pipeline}:{run_id}")
        return owner is not None and owner_alive(owner) is False

    return [e for e in running if any(dead_owner(r) for r in _run_ids(store, e.id, run_type_id))]
