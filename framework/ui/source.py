"""The dashboard's view of ML-Metadata: the store opened read-only, one per server thread,
and the queries the pages share, each a filtered MLMD query rather than a walk.

A run is a `pipeline_run` context whose parent is the `pipeline` context (TFX records that
parentage); its executions are attributed to it, and each execution's node is the `node`
context `<pipeline>.<node id>`. The node of an execution is told by its execution type
when exactly one node of the pipeline has that type (asked once per node, cached), else by
its contexts (cached: an execution's node never changes).
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Callable, Optional

from framework.core.errors import UserError
from framework.metadata.lineage import props as properties  # noqa: F401 - the pages read it from here

log = logging.getLogger("mlops.ui")

# metadata_store_pb2.Execution.State
NEW, RUNNING, COMPLETE, FAILED, CACHED, CANCELED = 1, 2, 3, 4, 5, 6
STATE_NAMES = {0: "unknown", NEW: "new", RUNNING: "running", COMPLETE: "complete",
               FAILED: "failed", CACHED: "cached", CANCELED: "canceled"}
NODES_RECHECK_S = 2.0  # how often the pipeline's node contexts are listed again
INPUT_EVENTS, OUTPUT_EVENTS = (2, 3), (1, 4)  # (DECLARED_INPUT, INPUT), (DECLARED_OUTPUT, OUTPUT)


class Problem(Exception):
    """What a page says plainly instead of its content: an empty store, an unknown run, a
    missing artifact folder. Not a server error: the page is served, with this message."""

    def __init__(self, message: str, *, status: int = 200, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.hint = hint


def quoted(text: str) -> str:
    """A value inside an MLMD filter query; names with quotes are refused, not escaped."""
    text = str(text)
    if "'" in text or "\\" in text:
        raise Problem(f"no such name: {text!r}", status=404)
    return f"'{text}'"


def stamp(ms: Optional[int]) -> str:
    """'2026-12-02 15:36:14' (UTC) of milliseconds since the epoch; '' for none."""
    if not ms:
        return ""
    when = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: Optional[float]) -> str:
    """'0.4 s', '12.7 s', '3 min 05 s', '2 h 03 min'; '' for none."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def describe_store(settings) -> str:
    from framework.metadata.store import describe_store as describe

    return describe(settings)


def open_readonly(settings):
    """A MetadataStore over the settings' store; SQLite read-only and never created."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from framework.metadata.store import connect

    if settings.metadata.mysql is not None:
        try:
            return connect(settings)
        except UserError as exc:
            raise Problem(str(exc)) from None
    path = settings.metadata.sqlite_path
    if not path or not os.path.exists(path):
        raise Problem(f"no ML-Metadata store yet at {path}: nothing has run with these "
                      "settings", hint="run the pipeline first: mlops run")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    try:
        return metadata_store.MetadataStore(config)
    except Exception as exc:  # not an MLMD file, or one of another MLMD version
        raise Problem(f"the ML-Metadata store {path} cannot be read: "
                      f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}") \
            from None


class Bounded(OrderedDict):
    """A dict that forgets its oldest entries past `size`; get and put are safe to call
    from the server's threads at once."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self._guard = threading.Lock()

    def get(self, key, default=None):
        with self._guard:
            return super().get(key, default)

    def pop(self, key, *default):
        with self._guard:
            return super().pop(key, *default)

    def put(self, key, value):
        with self._guard:
            self[key] = value
            self.move_to_end(key)
            while len(self) > self.size:
                self.popitem(last=False)
        return value


class Source:
    """What every page reads: the settings, a read-only store per thread, shared caches."""

    def __init__(self, settings, open_store: Optional[Callable] = None,
                 definition: bool = True):
        self.settings = settings
        self._open = open_store or open_readonly
        self._want_definition = definition
        self._definition: object = ...
        self._definition_lock = threading.Lock()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._node_types: dict[str, tuple[tuple, dict, float]] = {}
        self._execution_nodes = Bounded(200_000)
        self._execution_runs = Bounded(200_000)
        self.memo = Bounded(256)  # results read from artifacts, by (what, artifact id, ...)

    @property
    def pipeline(self) -> str:
        return self.settings.pipeline.name

    @property
    def where(self) -> str:
        return describe_store(self.settings)

    # -- the store --------------------------------------------------------------------------

    @property
    def store(self):
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._open(self.settings)
            self._local.store = store
        return store

    def forget_store(self) -> None:
        """Drop this thread's connection (after an error: the next request opens anew)."""
        self._local.store = None

    def type_names(self, kind: str) -> dict[int, str]:
        """{type id: name} of 'artifact', 'execution' or 'context' types."""
        key = ("types", kind)
        with self._lock:
            cached = self.memo.get(key)
        if cached is not None:
            return cached
        getter = {"artifact": self.store.get_artifact_types,
                  "execution": self.store.get_execution_types,
                  "context": self.store.get_context_types}[kind]
        names = {t.id: t.name for t in getter()}
        with self._lock:
            return self.memo.put(key, names)

    def type_name(self, kind: str, type_id: int) -> str:
        names = self.type_names(kind)
        if type_id not in names:  # a type registered since: read them again
            with self._lock:
                self.memo.pop(("types", kind), None)
            names = self.type_names(kind)
        return names.get(type_id, "?")

    # -- pipelines and runs -----------------------------------------------------------------

    def pipelines(self) -> list[str]:
        return sorted(c.name for c in self.store.get_contexts_by_type("pipeline"))

    def require_pipeline(self, pipeline: str):
        """The pipeline's context; a Problem naming what the store holds when it is not there
        (an empty store, or a store of other pipelines)."""
        context = self.store.get_context_by_type_and_name("pipeline", pipeline)
        if context is not None:
            return context
        others = self.pipelines()
        if not others:
            raise Problem(f"the ML-Metadata store ({self.where}) holds no runs yet",
                          hint="run the pipeline first: mlops run")
        raise Problem(f"the ML-Metadata store ({self.where}) holds no runs of pipeline "
                      f"'{pipeline}'; it holds runs of: {', '.join(others)}",
                      hint="pick one of those, or start the dashboard with the settings "
                      "of this pipeline's store (mlops ui --pipeline NAME --env ENV)")

    def run_contexts(self, pipeline: str) -> list:
        """The pipeline's run contexts, newest first (one query)."""
        from ml_metadata import metadata_store as mlmd

        query = f"type = 'pipeline_run' AND parent_contexts_a.name = {quoted(pipeline)}"
        runs = self.store.get_contexts(list_options=mlmd.ListOptions(filter_query=query))
        return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)

    def run_context(self, run_id: str):
        context = self.store.get_context_by_type_and_name("pipeline_run", run_id)
        if context is None:
            raise Problem(f"no run '{run_id}' in the ML-Metadata store ({self.where})",
                          status=404)
        return context

    def pipeline_of_run(self, run) -> Optional[str]:
        parents = self.store.get_parent_contexts_by_context(run.id)
        return parents[0].name if parents else None

    def executions_of_run(self, run) -> list:
        return sorted(self.store.get_executions_by_context(run.id),
                      key=lambda e: (e.create_time_since_epoch, e.id))

    def executions_in_states(self, pipeline: str, states: tuple[int, ...]) -> list:
        """Executions of the pipeline in any of `states` (one query)."""
        from ml_metadata import metadata_store as mlmd

        names = {NEW: "NEW", RUNNING: "RUNNING", FAILED: "FAILED", CANCELED: "CANCELED",
                 COMPLETE: "COMPLETE", CACHED: "CACHED"}
        wanted = " OR ".join(f"last_known_state = {names[s]}" for s in states)
        query = (f"contexts_p.type = 'pipeline' AND contexts_p.name = {quoted(pipeline)} "
                 f"AND ({wanted})")
        return self.store.get_executions(list_options=mlmd.ListOptions(filter_query=query))

    def runs_of_execution(self, execution_id: int) -> list[str]:
        """Names of the runs an execution belongs to (cached: that never changes)."""
        with self._lock:
            cached = self._execution_runs.get(execution_id)
        if cached is not None:
            return cached
        run_type = self.store.get_context_type("pipeline_run").id
        names = [c.name for c in self.store.get_contexts_by_execution(execution_id)
                 if c.type_id == run_type]
        with self._lock:
            return self._execution_runs.put(execution_id, names)

    # -- nodes ------------------------------------------------------------------------------

    def node_contexts(self, pipeline: str) -> dict[str, object]:
        """{node id: its `node` context} of the pipeline, in the order they first ran."""
        from ml_metadata import metadata_store as mlmd

        prefix = f"{pipeline}."
        query = f"type = 'node' AND name LIKE {quoted(pipeline + '.%')}"
        contexts = self.store.get_contexts(list_options=mlmd.ListOptions(filter_query=query))
        found = sorted((c for c in contexts if c.name.startswith(prefix)), key=lambda c: c.id)
        return {c.name[len(prefix):]: c for c in found}

    def _types_of_nodes(self, pipeline: str) -> dict[int, Optional[str]]:
        """{execution type id: node id, or None when several nodes share the type}."""
        from ml_metadata import metadata_store as mlmd

        with self._lock:
            cached = self._node_types.get(pipeline)
        if cached is not None and time.monotonic() - cached[2] < NODES_RECHECK_S:
            return cached[1]
        nodes = self.node_contexts(pipeline)
        signature = tuple(sorted(c.id for c in nodes.values()))
        if cached is not None and cached[0] == signature:
            with self._lock:
                self._node_types[pipeline] = (signature, cached[1], time.monotonic())
            return cached[1]
        by_type: dict[int, Optional[str]] = {}
        newest = mlmd.ListOptions(limit=1, order_by=mlmd.OrderByField.ID, is_asc=False)
        for node, context in nodes.items():
            for execution in self.store.get_executions_by_context(context.id,
                                                                  list_options=newest):
                by_type[execution.type_id] = node if execution.type_id not in by_type else None
        with self._lock:
            self._node_types[pipeline] = (signature, by_type, time.monotonic())
        return by_type

    def node_of(self, pipeline: str, execution) -> str:
        """The node id of one of the pipeline's executions."""
        tfx_node = execution.custom_properties.get("__tfx_node_id__")
        if tfx_node is not None and tfx_node.string_value:
            return tfx_node.string_value
        by_type = self._types_of_nodes(pipeline)
        node = by_type.get(execution.type_id)
        if node is not None:
            return node
        with self._lock:
            cached = self._execution_nodes.get(execution.id)
        if cached is not None:
            return cached
        prefix = f"{pipeline}."
        names = [c.name[len(prefix):] for c in self.store.get_contexts_by_execution(execution.id)
                 if c.name.startswith(prefix)]
        node = names[0] if names else self.type_name("execution", execution.type_id)
        with self._lock:
            return self._execution_nodes.put(execution.id, node)

    # -- the pipeline's definition ----------------------------------------------------------

    def definition(self, pipeline: str) -> Optional[dict]:
        """{"nodes": [node ids], "edges": {(upstream, downstream)}} of the settings' pipeline
        as its package builds it now (once; a few seconds), or None when it cannot be built.
        Adds what ML-Metadata cannot tell: order-only dependencies (the validation gate
        before Transform) and nodes that never ran."""
        if not self._want_definition or pipeline != self.pipeline:
            return None
        with self._definition_lock:
            if self._definition is ...:
                self._definition = _build_definition(self.settings)
            return self._definition


def _build_definition(settings) -> Optional[dict]:
    from framework.core import speedups
    from framework.pipeline.discovery import load_factory

    try:
        with speedups.building(settings):
            pipeline = load_factory(settings.pipeline.name)(settings)
        nodes = [c.id for c in pipeline.components]
        edges = {(u.id, c.id) for c in pipeline.components for u in c.upstream_nodes}
    except Exception as exc:  # the package cannot be built here: ML-Metadata's edges only
        log.warning("the graph shows ML-Metadata's edges only: pipeline '%s' cannot be built "
                    "here (%s: %s)", settings.pipeline.name, type(exc).__name__, exc)
        return None
    return {"nodes": nodes, "edges": edges}


def short_type(name: str) -> str:
    """'tfx.components.trainer.component.Trainer' -> 'Trainer'."""
    return name.rsplit(".", 1)[-1]
