"""The Lineage page: for a pushed model, the chain back to its data (framework/metadata/
lineage.py, as `mlops lineage` shows it) and forward to its release (the registry)."""

from __future__ import annotations

from typing import Optional
from urllib.parse import quote

from framework.metadata.lineage import Graph, model_lineage, props
from framework.ui import dag
from framework.ui.source import Problem, Source, quoted

LISTED = 50
STAGE_STATES = {"production": "complete", "canary": "running", "candidate": "not run",
                "archived": "canceled"}


class FastGraph(Graph):
    """lineage.Graph, finding a type's artifacts with one filtered query instead of reading
    every artifact of the pipeline (which grows with every run)."""

    def artifacts_of_type(self, type_name: str) -> list:
        from ml_metadata import metadata_store as mlmd

        query = (f"type = {quoted(type_name)} AND contexts_p.type = 'pipeline' AND "
                 f"contexts_p.name = {quoted(self.pipeline)}")
        found = self.store.get_artifacts(list_options=mlmd.ListOptions(filter_query=query))
        return sorted(found, key=lambda a: (a.create_time_since_epoch, a.id))


def pushed_list(source: Source, graph: Graph) -> list[dict]:
    """Pushed models, newest first: version, destination, run."""
    from framework.metadata.lineage import pushed_models

    out = []
    for artifact in reversed(pushed_models(graph)[-LISTED:]):
        p = props(artifact)
        out.append({"id": artifact.id, "version": str(p.get("pushed_version") or ""),
                    "destination": p.get("pushed_destination") or ""})
    return out


def release_of(settings, version: str) -> dict:
    """What the registry says about a version: stage, traffic, its history entries."""
    from framework.release.registry import Registry

    registry = Registry.from_settings(settings)
    try:
        state = registry.read()
    except Exception as exc:  # unreadable state: the lineage is still worth showing
        return {"known": False, "problem": str(exc), "state_path": registry.state_path}
    info = state.versions.get(version)
    traffic = state.traffic()
    return {"known": info is not None, "state_path": registry.state_path,
            "stage": (info or {}).get("stage"), "traffic": traffic.get(version),
            "rolled_back": (info or {}).get("rolled_back"),
            "history": [h for h in state.history if h.get("version") == version]}


def graph_of(steps: list[dict], release: dict, version: str) -> tuple[list[dict], list]:
    """Nodes and edges of the chain: each span's examples, statistics and anomalies feed
    the transform and the model; model -> evaluation -> blessing -> push -> release."""
    nodes, edges = [], []
    last_examples, previous = [], None
    names: dict[str, int] = {}

    def add(step: dict, label: str) -> str:
        count = names.get(label, 0)
        names[label] = count + 1
        node_id = label if not count else f"{label} ({count + 1})"
        artifact = step.get("artifact_id")
        href = f"/artifacts/{artifact}" if artifact is not None else None
        detail = ", ".join(f"{k}={v}" for k, v in (step.get("details") or {}).items()
                           if k in ("span", "found", "blessed", "version") and v is not None)
        nodes.append({"id": node_id, "state": "complete", "detail": detail or step.get("node"),
                      "href": href, "title": f"{step['stage']} #{artifact} from "
                      f"{step.get('node')} in run {step.get('run_id')}"})
        return node_id

    transform = None
    for step in steps:
        stage = step["stage"]
        artifact = step.get("artifact_id")
        node = add(step, f"{stage} #{artifact}" if artifact is not None else stage)
        if stage == "examples":
            last_examples.append(node)
        if stage in ("examples", "statistics", "anomalies"):
            edges.append((previous, node))
        elif stage == "transform":
            edges += [(e, node) for e in last_examples]
            transform = node
        elif stage == "model":
            edges += [(transform, node)] if transform else [(e, node) for e in last_examples]
        elif previous is not None:
            edges.append((previous, node))
        previous = node
    if release.get("known"):
        stage = release.get("stage") or "?"
        traffic = release.get("traffic")
        node = f"release {version}"
        nodes.append({"id": node, "state": STAGE_STATES.get(stage, "not run"),
                      "detail": stage + (f" · {traffic}% of traffic" if traffic else ""),
                      "href": "/release", "title": f"version {version} in the registry: {stage}"})
        if previous is not None:
            edges.append((previous, node))
    return nodes, edges


def lineage_page(source: Source, pipeline: Optional[str] = None, ref: Optional[str] = None,
                 artifact: Optional[int] = None) -> dict:
    """The page's data: the pushed models, and the chain of one of them (default: latest)."""
    from framework.core.errors import UserError

    pipeline = pipeline or source.pipeline
    source.require_pipeline(pipeline)
    graph = FastGraph(source.store, pipeline)
    pushed = pushed_list(source, graph)
    if not pushed:
        raise Problem(f"pipeline '{pipeline}' has pushed no model yet: there is no lineage "
                      "to show", hint="a blessed run pushes one: mlops run")
    if artifact is not None:
        chosen = next((p for p in pushed if p["id"] == artifact), None)
        if chosen is None:
            raise Problem(f"artifact #{artifact} is not a model pipeline '{pipeline}' pushed",
                          status=404)
        ref = chosen["version"]
    ref = ref or "latest"
    key = ("lineage", pipeline, ref, pushed[0]["id"])
    steps = source.memo.get(key)
    if steps is None:
        try:
            steps = [s.to_dict() for s in model_lineage(graph, ref)]
        except UserError as exc:
            raise Problem(str(exc), status=404) from None
        source.memo.put(key, steps)
    push = steps[-1]["details"] if steps else {}
    version = str(push.get("version") or "")
    release = release_of(source.settings, version) if pipeline == source.pipeline else \
        {"known": False}
    nodes, edges = graph_of(steps, release, version)
    for step in steps:
        step["run_href"] = f"/runs/{quote(step['run_id'], safe='')}" if step.get("run_id") \
            else None
    return {"pipeline": pipeline, "ref": ref, "pushed": pushed, "version": version,
            "steps": steps, "release": release,
            "svg": dag.svg(nodes, edges, title=f"lineage of model {version}"),
            "evaluation": next((s["artifact_id"] for s in steps
                                if s["stage"] == "evaluation"), None)}
