"""The dashboard (`mlops ui`) over a store of 1,000 runs: each page's load time.

    python benchmarks/ui_bench.py [--runs 1000] [--repeats 20] [--template-store PATH]

Fills a temporary SQLite ML-Metadata store through ml_metadata's own API with runs shaped
as a real one: the context, execution and artifact types, the nodes and how their
artifacts connect are copied from the newest complete run in a real store (default:
.mlops/local/metadata.sqlite, which `mlops run` writes), and the artifacts point at that
run's folders, so the Data, Model and Lineage pages read real statistics and evaluations.
Of the runs, about one in ten re-uses ExampleGen's output from the cache, 3% fail in the
Trainer, and the newest is still in progress. CT decisions and a release registry are made
too. (ML-Metadata sets execution times itself, so the runs' times are those of the fill.)

Then the app runs on waitress on 127.0.0.1 and each page is fetched `--repeats` times after
one warm-up fetch: the server-side time (its Server-Timing header) and the whole HTTP
exchange, median and p95. Writes benchmarks/results/<date>-<commit>/ui.json and ui.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import results_report  # noqa: E402

GOAL_MS = 300.0
INPUT, OUTPUT = 3, 4  # metadata_store_pb2.Event


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs in the store (1000)")
    parser.add_argument("--repeats", type=int, default=20, help="timed fetches per page (20)")
    parser.add_argument("--template-store", default=str(ROOT / ".mlops/local/metadata.sqlite"),
                        help="a real run's SQLite store to copy types and shape from")
    parser.add_argument("--pipeline", default="taxi")
    parser.add_argument("--out", default=None, help="results folder "
                        "(default: benchmarks/results/<date>-<commit>)")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- the store


def open_store(path: str, create: bool = True):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = (pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
                                     if create else pb.SqliteMetadataSourceConfig.READONLY)
    return metadata_store.MetadataStore(config)


def _key(event) -> str:
    for step in event.path.steps:
        if step.HasField("key"):
            return step.key
    return ""


def read_template(store, pipeline: str) -> dict:
    """The newest complete run of `pipeline` in a real store: its types (copied whole) and,
    per node in order, its execution and the artifacts it read and wrote, each input named
    by the node and output key that made it."""
    run_type = store.get_context_type("pipeline_run").id
    runs = [c for c in store.get_children_contexts_by_context(
        store.get_context_by_type_and_name("pipeline", pipeline).id) if c.type_id == run_type]
    exec_types = {t.id: t for t in store.get_execution_types()}
    art_types = {t.id: t for t in store.get_artifact_types()}
    for run in sorted(runs, key=lambda c: -c.id):
        executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.id)
        if executions and all(e.last_known_state in (3, 5) for e in executions):
            break
    else:
        raise SystemExit(f"no complete run of {pipeline} in the template store")
    made_by: dict[int, tuple[str, str]] = {}
    nodes = []
    for execution in executions:
        node = next(c.name.split(".", 1)[1] for c in store.get_contexts_by_execution(execution.id)
                    if c.name.startswith(pipeline + "."))
        nodes.append({"node": node, "execution": execution, "type": exec_types[execution.type_id],
                      "inputs": [], "outputs": []})
    by_id = {n["execution"].id: n for n in nodes}
    events = store.get_events_by_execution_ids(list(by_id))
    artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted({e.artifact_id
                                                                     for e in events}))}
    for event in events:
        if event.type == OUTPUT:
            made_by.setdefault(event.artifact_id, (by_id[event.execution_id]["node"], _key(event)))
    for artifact_id in artifacts:  # made in an earlier run (a resolver's baseline, a cache hit)
        if artifact_id not in made_by:
            for event in store.get_events_by_artifact_ids([artifact_id]):
                if event.type == OUTPUT:
                    producer = store.get_executions_by_id([event.execution_id])[0]
                    node = next((c.name.split(".", 1)[1] for c in
                                 store.get_contexts_by_execution(producer.id)
                                 if c.name.startswith(pipeline + ".")), None)
                    if node:
                        made_by[artifact_id] = (node, _key(event))
                        break
    for event in events:
        node = by_id[event.execution_id]
        artifact = artifacts[event.artifact_id]
        entry = {"key": _key(event), "artifact": artifact,
                 "type": art_types[artifact.type_id], "from": made_by.get(artifact.id)}
        node["inputs" if event.type == INPUT else "outputs"].append(entry)
    return {"pipeline": pipeline, "nodes": nodes,
            "context_types": store.get_context_types(),
            "execution_types": list(exec_types.values()), "artifact_types": list(art_types.values())}


def _copy_type(put, proto):
    copy = type(proto)()
    copy.CopyFrom(proto)
    copy.ClearField("id")
    return put(copy, can_add_fields=True)


def fill(store, template: dict, runs: int, seed: int = 7) -> list[str]:
    """`runs` runs of the template's pipeline, oldest first; returns their ids."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    rng = random.Random(seed)
    ctx_types = {t.name: _copy_type(store.put_context_type, t)
                 for t in template["context_types"]}
    exec_types = {t.name: _copy_type(store.put_execution_type, t)
                  for t in template["execution_types"]}
    art_types = {t.name: _copy_type(store.put_artifact_type, t)
                 for t in template["artifact_types"]}
    pipeline = template["pipeline"]
    [pipeline_id] = store.put_contexts([pb.Context(type_id=ctx_types["pipeline"], name=pipeline)])
    pipeline_ctx = store.get_contexts_by_id([pipeline_id])[0]
    node_ctx = {}
    for n in template["nodes"]:
        [cid] = store.put_contexts([pb.Context(type_id=ctx_types["node"],
                                               name=f"{pipeline}.{n['node']}")])
        node_ctx[n["node"]] = store.get_contexts_by_id([cid])[0]
    previous: dict[tuple[str, str], object] = {}
    ids = []
    start = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    for index in range(runs):
        run_id = datetime.fromtimestamp(start + index * 3600, tz=timezone.utc) \
            .strftime("%Y-%m-%dT%H:%M:%S.000000")
        [rid] = store.put_contexts([pb.Context(type_id=ctx_types["pipeline_run"], name=run_id)])
        run_ctx = store.get_contexts_by_id([rid])[0]
        store.put_parent_contexts([pb.ParentContext(child_id=rid, parent_id=pipeline_id)])
        newest = index == runs - 1
        fails = not newest and index > 0 and rng.random() < 0.03
        cached_gen = index > 0 and rng.random() < 0.1
        made: dict[tuple[str, str], object] = {}
        for position, node in enumerate(template["nodes"]):
            name = node["node"]
            execution = pb.Execution()
            execution.CopyFrom(node["execution"])
            for field in ("id", "create_time_since_epoch", "last_update_time_since_epoch",
                          "name"):
                execution.ClearField(field)
            execution.type_id = exec_types[node["type"].name]
            cached = cached_gen and position == 0 and all(
                (name, o["key"]) in previous for o in node["outputs"])
            state = pb.Execution.CACHED if cached else pb.Execution.COMPLETE
            last = False
            if fails and name.startswith("Trainer"):
                state, last = pb.Execution.FAILED, True
                execution.custom_properties["__execution_result__"].string_value = json.dumps(
                    {"resultMessage": "ValueError: synthetic failure of the benchmark"})
            if newest and position == len(template["nodes"]) // 2:
                state, last = pb.Execution.RUNNING, True
            execution.last_known_state = state
            pairs = []
            linked = set()
            for entry in node["inputs"]:
                # The same node and key twice (a model and its baseline): this run's, then
                # the previous run's.
                choices = [made.get(entry["from"]), previous.get(entry["from"])] \
                    if entry["from"] else []
                source = next((a for a in choices if a is not None and a.id not in linked),
                              None)
                if source is None:
                    continue
                linked.add(source.id)
                event = pb.Event(type=pb.Event.INPUT)
                event.path.steps.add().key = entry["key"]
                event.path.steps.add().index = 0
                pairs.append((source, event))
            if state in (pb.Execution.COMPLETE, pb.Execution.CACHED):
                for entry in node["outputs"]:
                    if cached:
                        artifact = previous[(name, entry["key"])]
                    else:
                        artifact = pb.Artifact()
                        artifact.CopyFrom(entry["artifact"])
                        for field in ("id", "create_time_since_epoch",
                                      "last_update_time_since_epoch", "name"):
                            artifact.ClearField(field)
                        artifact.type_id = art_types[entry["type"].name]
                        if "pushed_version" in artifact.custom_properties:
                            artifact.custom_properties["pushed_version"].string_value = \
                                str(1_700_000_000 + index)
                    event = pb.Event(type=pb.Event.OUTPUT)
                    event.path.steps.add().key = entry["key"]
                    event.path.steps.add().index = 0
                    pairs.append((artifact, event))
            _, artifact_ids, _ = store.put_execution(
                execution, pairs, [pipeline_ctx, run_ctx, node_ctx[name]],
                reuse_context_if_already_exist=True)
            outputs = [p for p in pairs if p[1].type == pb.Event.OUTPUT]
            written = [i for p, i in zip(pairs, artifact_ids) if p[1].type == pb.Event.OUTPUT]
            for (artifact, event), artifact_id in zip(outputs, written):
                artifact.id = artifact_id  # an input of later nodes: linked by its id
                made[(name, _key(event))] = artifact
            if last:
                break
        previous.update(made)
        ids.append(run_id)
    return ids


def ct_history(settings, runs: list[str], count: int = 300, seed: int = 7) -> None:
    """CT decisions as `mlops ct` records them: most fired nothing, some ran a run."""
    from framework.ct import history

    rng = random.Random(seed)
    for i in range(count):
        value = round(rng.uniform(0.01, 0.35), 4)
        drift = {"name": "drift", "fired": value > 0.2, "reason": "measured", "error": None,
                 "evidence": [{"feature": "trip_miles", "statistic": "jensen_shannon_divergence",
                               "value": value, "threshold": 0.2}]}
        record = {"command": "watch", "pipeline": settings.pipeline.name, "env": settings.env,
                  "time": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00+00:00",
                  "triggers": [drift], "fired": ["drift"] if drift["fired"] else [],
                  "action": "run" if drift["fired"] else "none", "reason": "",
                  "run": {"run_id": rng.choice(runs), "succeeded": True, "runner": "local"}
                  if drift["fired"] else None}
        history.append(settings, record)


def registry(settings, versions: int = 30) -> None:
    """A serving folder of `versions` versions and a registry that promoted and rolled
    back through them, with the server's statistics file beside it."""
    from framework.release.registry import Registry, stats_path_for
    from framework.release.stats import ServingStats

    for i in range(versions):
        folder = Path(settings.pipeline.serving_dir) / str(1_700_000_000 + i)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "saved_model.pb").write_bytes(b"")
    reg = Registry.from_settings(settings)
    names = [str(1_700_000_000 + i) for i in range(versions)]
    reg.promote(names[0], by="benchmark", force=True)
    for name in names[1:]:
        reg.canary(name, 10, by="benchmark")
        if int(name) % 4 == 0:
            reg.rollback(by="benchmark", reason="error rate")
        else:
            reg.promote(by="benchmark")
    stats = ServingStats(stats_path_for(reg.state_path))
    rng = random.Random(3)
    for name in names[-2:]:
        for _ in range(200):
            stats.record(name, rng.random() < 0.01, rng.uniform(2, 20))
    stats.write()


# --------------------------------------------------------------------------- measuring


def fetch(url: str) -> tuple[int, float, float, int]:
    """(status, server ms from Server-Timing, whole exchange ms, bytes)."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            body, status, timing = response.read(), response.status, \
                response.headers.get("Server-Timing", "")
    except urllib.error.HTTPError as exc:
        body, status, timing = exc.read(), exc.code, exc.headers.get("Server-Timing", "")
    total = (time.perf_counter() - started) * 1000
    server = float(timing.split("dur=", 1)[1]) if "dur=" in timing else float("nan")
    return status, server, total, len(body)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def measure(base: str, pages: dict[str, str], repeats: int) -> dict:
    out = {}
    for name, path in pages.items():
        status, first_server, first_total, size = fetch(base + path)
        server, total = [], []
        for _ in range(repeats):
            status, s, t, size = fetch(base + path)
            server.append(s)
            total.append(t)
        out[name] = {"path": path, "status": status, "bytes": size,
                     "first_ms": round(first_total, 1),
                     "server_median_ms": round(statistics.median(server), 1),
                     "server_p95_ms": round(p95(server), 1),
                     "http_median_ms": round(statistics.median(total), 1),
                     "http_p95_ms": round(p95(total), 1)}
        print(f"{name:<22} {status}  server {out[name]['server_median_ms']:7.1f} ms "
              f"(p95 {out[name]['server_p95_ms']:.1f})  http {out[name]['http_median_ms']:7.1f}"
              f" ms (p95 {out[name]['http_p95_ms']:.1f})  first {first_total:8.1f} ms",
              flush=True)
    return out


def render(results: dict) -> str:
    meta = results["meta"]
    lines = [f"# Dashboard page times ({meta['date']}, commit {meta['commit']})", "",
             f"`mlops ui` over a SQLite ML-Metadata store of {meta['runs']:,} runs "
             f"({meta['executions']:,} executions, {meta['artifacts']:,} artifacts), "
             f"{meta['repeats']} fetches per page after one warm-up fetch, "
             f"{meta['machine']['cores']} cores. Server: the app's own time (Server-Timing); "
             "HTTP: the whole exchange from a client on the same machine.", "",
             "| page | server median | server p95 | HTTP median | HTTP p95 | first fetch |",
             "|---|---|---|---|---|---|"]
    for name, p in results["pages"].items():
        lines.append(f"| {name} (`{p['path']}`) | {p['server_median_ms']:.1f} ms | "
                     f"{p['server_p95_ms']:.1f} ms | {p['http_median_ms']:.1f} ms | "
                     f"{p['http_p95_ms']:.1f} ms | {p['first_ms']:.0f} ms |")
    worst = max(p["http_p95_ms"] for p in results["pages"].values())
    lines += ["", f"Slowest page at p95: {worst:.0f} ms over HTTP (goal: under "
              f"{GOAL_MS:.0f} ms with 1,000 runs). The first fetch of the Model and Data "
              "pages reads the evaluation and statistics files, and the drift comparison "
              "loads TFDV; later fetches come from the dashboard's cache."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    args = parse_args(argv)
    if not os.path.exists(args.template_store):
        raise SystemExit(f"no template store at {args.template_store}: run the pipeline once "
                         "(mlops run) or pass --template-store")
    measured_commit = results_report.commit(ROOT)
    out = Path(args.out) if args.out else results_report.default_folder(ROOT, measured_commit)
    from framework.settings import load_settings
    from framework.ui.app import Dashboard
    from framework.ui.server import start_in_thread

    with tempfile.TemporaryDirectory(prefix="ui-bench-") as tmp:
        work = Path(tmp)
        copy = work / "template.sqlite"
        shutil.copy(args.template_store, copy)  # read it without holding the real one
        template = read_template(open_store(str(copy), create=False), args.pipeline)
        path = str(work / "metadata.sqlite")
        store = open_store(path)
        started = time.perf_counter()
        runs = fill(store, template, args.runs)
        fill_seconds = time.perf_counter() - started
        executions, artifacts = len(store.get_executions()), len(store.get_artifacts())
        del store
        print(f"filled {len(runs)} runs ({executions} executions, {artifacts} artifacts) in "
              f"{fill_seconds:.0f} s", flush=True)
        environ = {"MLOPS_METADATA__SQLITE_PATH": path,
                   "MLOPS_PIPELINE__PIPELINE_ROOT": str(work / "pipeline_root"),
                   "MLOPS_PIPELINE__SERVING_DIR": str(work / "serving"),
                   "MLOPS_PROJECT_ROOT": str(ROOT)}
        settings = load_settings(args.pipeline, "local", environ=environ)
        ct_history(settings, runs)
        registry(settings)
        app = Dashboard(settings)
        app.source.definition(args.pipeline)  # the pipeline's graph: built once, up front
        server = start_in_thread(app)
        try:
            newest_done = next(r for r in reversed(runs[:-1]))
            from framework.ui.runs import run_statuses

            statuses = run_statuses(app.source, args.pipeline)
            failed = [r for r in runs if statuses.get(r) == "failed"]
            from urllib.parse import quote

            pages = {
                "runs": "/runs",
                "runs, page 20": "/runs?page=20",
                "runs, failed": "/runs?status=failed",
                "run": f"/runs/{quote(newest_done, safe='')}",
                "run, in progress": f"/runs/{quote(runs[-1], safe='')}",
                "data": "/data",
                "data, drift": "/data?compare=" + str(_second_span(app)),
                "model": "/model",
                "lineage": "/lineage",
                "continuous training": "/ct",
                "release": "/release",
            }
            if failed:
                pages["run, failed"] = f"/runs/{quote(failed[-1], safe='')}"
            results = {"meta": {
                "date": f"{datetime.now(timezone.utc):%Y-%m-%d}", "commit": measured_commit,
                "runs": len(runs), "executions": executions, "artifacts": artifacts,
                "repeats": args.repeats, "fill_seconds": round(fill_seconds, 1),
                "template_store": args.template_store, "machine": results_report.machine(),
                "versions": results_report.versions()},
                "pages": measure(server.url, pages, args.repeats)}
        finally:
            server.stop()
    out.mkdir(parents=True, exist_ok=True)
    (out / "ui.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "ui.md").write_text(render(results))
    print(f"wrote {out / 'ui.md'}")
    return 0 if all(p["status"] == 200 for p in results["pages"].values()) else 1


def _second_span(app) -> int:
    from framework.ui.data import raw_examples

    found = raw_examples(app.source, app.source.pipeline)
    return found[1].id if len(found) > 1 else found[0].id


if __name__ == "__main__":
    sys.exit(main())
