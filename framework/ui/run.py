"""The Run page: the pipeline's graph coloured by each node's state in this run, a timeline
of the components, their artifacts, and the error and log tail of a failed one; and the
Artifact page (an artifact, where it came from, what is in its folder).

The graph is read from ML-Metadata: an edge goes from the node that produced an artifact to
each node of the run that read it (events), so a cached node still shows where its inputs
came from. Nodes this run never reached are drawn too, with the edges of the newest run
that reached them.
"""

from __future__ import annotations

import json
import os
from typing import Optional
from urllib.parse import quote

from framework.ui import charts, dag
from framework.ui.runs import status_of
from framework.ui.source import (
    FAILED,
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    STATE_NAMES,
    Problem,
    Source,
    duration,
    properties,
    short_type,
    stamp,
)

LOG_TAIL_LINES = 60
LOG_TAIL_BYTES = 256 * 1024


def _event_key(event) -> str:
    for step in event.path.steps:
        if step.HasField("key"):
            return step.key
    return ""


def artifact_href(type_name: str, artifact_id: int) -> str:
    """Where the dashboard shows an artifact of this type best."""
    if type_name == "ExampleStatistics":
        return f"/data?statistics={artifact_id}"
    if type_name == "ModelEvaluation":
        return f"/model?evaluation={artifact_id}"
    if type_name == "PushedModel":
        return f"/lineage?artifact={artifact_id}"
    return f"/artifacts/{artifact_id}"


def folder_state(uri: str) -> Optional[bool]:
    """True/False for a local folder that is there or not; None for a remote one (unknown
    without a request per artifact)."""
    if not uri or "://" in uri:
        return None
    return os.path.exists(uri)


def _edges_of(source: Source, pipeline: str, executions: list) -> set[tuple[str, str]]:
    """(producer node, consumer node) over the artifacts these executions read."""
    store = source.store
    ids = [e.id for e in executions]
    if not ids:
        return set()
    nodes = {e.id: source.node_of(pipeline, e) for e in executions}
    reads: dict[int, set[str]] = {}
    for event in store.get_events_by_execution_ids(ids):
        if event.type in INPUT_EVENTS:
            reads.setdefault(event.artifact_id, set()).add(nodes[event.execution_id])
    if not reads:
        return set()
    producers: dict[int, set[int]] = {}
    for event in store.get_events_by_artifact_ids(list(reads)):
        if event.type in OUTPUT_EVENTS:
            producers.setdefault(event.artifact_id, set()).add(event.execution_id)
    unknown = sorted({x for ps in producers.values() for x in ps} - set(nodes))
    for execution in store.get_executions_by_id(unknown) if unknown else []:
        nodes[execution.id] = source.node_of(pipeline, execution)
    edges = set()
    for artifact_id, consumers in reads.items():
        for producer in producers.get(artifact_id, ()):
            if producer in nodes:
                edges |= {(nodes[producer], c) for c in consumers if c != nodes[producer]}
    return edges


def pipeline_edges(source: Source, pipeline: str, nodes: list[str]) -> set[tuple[str, str]]:
    """The edges of the newest run that reached every one of `nodes` (looked up again after
    a minute at most)."""
    import time

    key = ("pipeline-edges", pipeline, frozenset(nodes), int(time.monotonic() // 60))
    cached = source.memo.get(key)
    if cached is None:
        cached = source.memo.put(key, _reaching_edges(source, pipeline, nodes))
    return cached


def _reaching_edges(source: Source, pipeline: str, nodes: list[str]) -> set[tuple[str, str]]:
    for run in source.run_contexts(pipeline)[:50]:
        executions = source.executions_of_run(run)
        reached = {source.node_of(pipeline, e) for e in executions}
        if set(nodes) <= reached:
            key = ("edges", pipeline, run.id)
            cached = source.memo.get(key)
            if cached is None:
                cached = source.memo.put(key, _edges_of(source, pipeline, executions))
            return cached
    return set()


def execution_error(execution) -> str:
    """The message TFX recorded with a failed execution, when it recorded one."""
    result = execution.custom_properties.get("__execution_result__")
    if result is None or not result.string_value:
        return ""
    try:
        message = json.loads(result.string_value).get("resultMessage") or \
            json.loads(result.string_value).get("result_message", "")
    except (ValueError, AttributeError):
        return result.string_value[:2000]
    return str(message)


def log_path(settings, run_id: str) -> str:
    from framework.runners.local import default_log_dir

    return os.path.join(default_log_dir(settings), f"{run_id.replace(':', '-')}.log")


def log_tail(path: str, node: Optional[str] = None, lines: int = LOG_TAIL_LINES) -> dict:
    """{path, exists, lines}: the failed node's traceback when the log has one (the local
    runner writes '<node> failed...' before it), else the log's last lines."""
    if not os.path.exists(path):
        return {"path": path, "exists": False, "lines": []}
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - LOG_TAIL_BYTES))
        text = handle.read().decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    if size > LOG_TAIL_BYTES and all_lines:
        all_lines = all_lines[1:]  # the first one is cut
    start = None
    if node:
        for index in range(len(all_lines) - 1, -1, -1):
            if all_lines[index].startswith(f"{node} failed"):
                start = index
                break
    shown = all_lines[start:start + lines] if start is not None else all_lines[-lines:]
    return {"path": path, "exists": True, "lines": shown, "from_failure": start is not None}


def _artifact_row(source: Source, artifact, key: str) -> dict:
    type_name = source.type_name("artifact", artifact.type_id)
    p = properties(artifact)
    return {"id": artifact.id, "type": type_name, "key": key, "uri": artifact.uri,
            "href": artifact_href(type_name, artifact.id), "exists": folder_state(artifact.uri),
            "span": p.get("span") if type_name == "Examples" else None,
            "version": p.get("pushed_version")}


def run_detail(source: Source, run_id: str, settings=None) -> dict:
    """The Run page's data: nodes with state and times, edges, timeline, artifacts, errors."""
    store = source.store
    run = source.run_context(run_id)
    pipeline = source.pipeline_of_run(run) or source.pipeline
    executions = source.executions_of_run(run)
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    artifact_ids = sorted({e.artifact_id for e in events})
    artifacts = {a.id: a for a in store.get_artifacts_by_id(artifact_ids)} if artifact_ids else {}
    by_execution: dict[int, dict[str, list]] = {}
    for event in events:
        side = "inputs" if event.type in INPUT_EVENTS else "outputs"
        if event.artifact_id in artifacts:
            by_execution.setdefault(event.execution_id, {"inputs": [], "outputs": []})[side] \
                .append(_artifact_row(source, artifacts[event.artifact_id], _event_key(event)))
    rows: dict[str, dict] = {}
    for execution in executions:  # oldest first: a retried node keeps its newest execution
        node = source.node_of(pipeline, execution)
        start, end = execution.create_time_since_epoch, execution.last_update_time_since_epoch
        state = STATE_NAMES.get(execution.last_known_state, "unknown")
        running = state in ("running", "new")
        seconds = (end - start) / 1000 if start and end and not running else None
        linked = by_execution.get(execution.id, {"inputs": [], "outputs": []})
        rows[node] = {
            "id": node, "execution_id": execution.id, "state": state,
            "type": short_type(source.type_name("execution", execution.type_id)),
            "start": stamp(start), "end": "" if running else stamp(end),
            "start_ms": start, "end_ms": None if running else end,
            "seconds": round(seconds, 2) if seconds is not None else None,
            "duration": duration(seconds) if seconds is not None else "",
            "inputs": sorted(linked["inputs"], key=lambda a: (a["key"], a["id"])),
            "outputs": sorted(linked["outputs"], key=lambda a: (a["key"], a["id"])),
            "error": execution_error(execution) if execution.last_known_state == FAILED else "",
        }
    definition = source.definition(pipeline)
    known = list(source.node_contexts(pipeline))
    if definition is not None:  # the order the package declares, then nodes it dropped
        known = definition["nodes"] + [n for n in known if n not in definition["nodes"]]
    names = [n for n in known if n in rows] + [n for n in known if n not in rows]
    names += [n for n in rows if n not in names]
    edges = _edges_of(source, pipeline, executions)
    if definition is not None:
        edges |= {(a, b) for a, b in definition["edges"] if a in names and b in names}
    missing = [n for n in names if n not in rows]
    if missing:
        edges |= pipeline_edges(source, pipeline, missing)
    order = _topological(names, edges)
    status = status_of([e.last_known_state for e in executions])
    nodes = []
    for name in order:
        row = rows.get(name)
        if row is None:
            nodes.append({"id": name, "state": "not run", "detail": "not run",
                          "inputs": [], "outputs": [], "error": ""})
            continue
        detail = row["state"] + (f" · {row['duration']}" if row["duration"] else "")
        nodes.append({**row, "detail": detail, "href": f"#node-{quote(name)}",
                      "title": f"{name} ({row['type']}): {row['state']}"
                               + (f", {row['duration']}" if row["duration"] else "")})
    failed = [n for n in nodes if n["state"] == "failed"]
    log = None
    if failed or status in ("running", "canceled"):
        if settings is not None and pipeline == settings.pipeline.name:
            log = log_tail(log_path(settings, run.name), failed[0]["id"] if failed else None)
    starts = [e.create_time_since_epoch for e in executions if e.create_time_since_epoch]
    ends = [e.last_update_time_since_epoch for e in executions]
    start = min(starts) if starts else run.create_time_since_epoch
    end = max(ends) if ends else None
    model = next((a for n in nodes for a in n["outputs"] if a["type"] == "ModelEvaluation"),
                 None)
    pushed = next((a for n in nodes for a in n["outputs"] if a["type"] == "PushedModel"), None)
    return {
        "run_id": run.name, "pipeline": pipeline, "status": status,
        "start": stamp(start), "end": stamp(end) if status != "running" else "",
        "duration": duration((end - start) / 1000) if end and start and status != "running"
        else "",
        "nodes": nodes, "edges": sorted(edges), "failed": failed, "log": log,
        "svg": dag.svg(nodes, sorted(edges), title=f"pipeline graph of run {run.name}"),
        "timeline": charts.timeline([n for n in nodes if n["state"] != "not run"]),
        "evaluation": model, "pushed": pushed, "from_definition": definition is not None,
        "ran": [n["id"] for n in nodes if n["state"] == "complete"],
        "cached": [n["id"] for n in nodes if n["state"] == "cached"],
        "not_run": [n["id"] for n in nodes if n["state"] == "not run"],
    }


def _topological(names: list[str], edges) -> list[str]:
    layer = dag.layers(names, list(edges))
    return sorted(names, key=lambda n: (layer[n], names.index(n)))


# --------------------------------------------------------------------------- artifacts


MAX_LISTED = 200


def list_folder(uri: str) -> dict:
    """{exists, files [{name, bytes}], truncated} of an artifact's folder (or file)."""
    if not uri:
        return {"exists": False, "files": [], "truncated": False}
    if "://" in uri:
        from framework.storage import files

        if not files.is_remote(uri):
            return {"exists": None, "files": [], "truncated": False}
        names = files.list_tree(uri)
        return {"exists": bool(names), "files": [{"name": n, "bytes": None}
                                                 for n in names[:MAX_LISTED]],
                "truncated": len(names) > MAX_LISTED}
    if os.path.isfile(uri):
        return {"exists": True, "files": [{"name": os.path.basename(uri),
                                           "bytes": os.path.getsize(uri)}], "truncated": False}
    if not os.path.isdir(uri):
        return {"exists": False, "files": [], "truncated": False}
    found = []
    for folder, _dirs, names in os.walk(uri):
        for name in sorted(names):
            path = os.path.join(folder, name)
            try:
                size = os.path.getsize(path)
            except OSError:
                size = None
            found.append({"name": os.path.relpath(path, uri), "bytes": size})
            if len(found) > MAX_LISTED:
                return {"exists": True, "files": found[:MAX_LISTED], "truncated": True}
    return {"exists": True, "files": sorted(found, key=lambda f: f["name"]), "truncated": False}


def artifact_detail(source: Source, artifact_id: int) -> dict:
    """The Artifact page: type, uri, properties, the run and node that made it, its files."""
    store = source.store
    found = store.get_artifacts_by_id([artifact_id])
    if not found:
        raise Problem(f"no artifact #{artifact_id} in the ML-Metadata store ({source.where})",
                      status=404)
    artifact = found[0]
    type_name = source.type_name("artifact", artifact.type_id)
    events = store.get_events_by_artifact_ids([artifact.id])
    execution_ids = sorted({e.execution_id for e in events})
    executions = {e.id: e for e in store.get_executions_by_id(execution_ids)} \
        if execution_ids else {}
    links = []
    for event in sorted(events, key=lambda e: e.execution_id):
        execution = executions.get(event.execution_id)
        if execution is None:
            continue
        pipeline = _pipeline_of_execution(source, execution)
        runs = source.runs_of_execution(execution.id)
        links.append({"direction": "made by" if event.type in OUTPUT_EVENTS else "read by",
                      "node": source.node_of(pipeline, execution) if pipeline else
                      short_type(source.type_name("execution", execution.type_id)),
                      "state": STATE_NAMES.get(execution.last_known_state, "unknown"),
                      "run_id": runs[0] if runs else None, "key": _event_key(event),
                      "time": stamp(execution.create_time_since_epoch)})
    listing = list_folder(artifact.uri)
    return {"id": artifact.id, "type": type_name, "uri": artifact.uri,
            "state": artifact.state, "created": stamp(artifact.create_time_since_epoch),
            "properties": {k: v for k, v in sorted(properties(artifact).items())
                           if not str(k).startswith("__")},
            "links": links, "listing": listing, "view": artifact_href(type_name, artifact.id)
            if artifact_href(type_name, artifact.id) != f"/artifacts/{artifact.id}" else None}


def _pipeline_of_execution(source: Source, execution) -> Optional[str]:
    pipeline_type = source.store.get_context_type("pipeline").id
    for context in source.store.get_contexts_by_execution(execution.id):
        if context.type_id == pipeline_type:
            return context.name
    return None
