"""ML-Metadata: the connection from settings and the queries the framework needs."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

from framework.errors import SettingsError


def connection_config(settings):
    """An MLMD ConnectionConfig: SQLite at metadata.sqlite_path, or MySQL / Cloud SQL."""
    from ml_metadata.proto import metadata_store_pb2

    meta = settings.metadata
    config = metadata_store_pb2.ConnectionConfig()
    if meta.mysql is not None:
        config.mysql.host = meta.mysql.host
        config.mysql.port = meta.mysql.port
        config.mysql.database = meta.mysql.database
        config.mysql.user = meta.mysql.user
        if meta.mysql.password_env:
            config.mysql.password = os.environ.get(meta.mysql.password_env, "")
        return config
    if not meta.sqlite_path:
        raise SettingsError(f"{settings.source}: key 'metadata': set sqlite_path or mysql")
    os.makedirs(os.path.dirname(meta.sqlite_path) or ".", exist_ok=True)
    config.sqlite.filename_uri = meta.sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


@contextmanager
def open_store(settings):
    from ml_metadata.metadata_store import metadata_store

    store = metadata_store.MetadataStore(connection_config(settings))
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


def cancel_orphaned_executions(store, pipeline: str) -> int:
    """Mark executions left RUNNING by a killed run as CANCELED; returns how many.

    Only called while holding the run lock, so no other run can own a RUNNING execution.
    """
    from ml_metadata.proto import metadata_store_pb2

    context = store.get_context_by_type_and_name("pipeline", pipeline)
    if context is None:
        return 0
    orphans = [e for e in store.get_executions_by_context(context.id)
               if e.last_known_state == metadata_store_pb2.Execution.RUNNING]
    for execution in orphans:
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
    if orphans:
        store.put_executions(orphans)
    return len(orphans)
