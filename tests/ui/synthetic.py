"""Small ML-Metadata stores for the dashboard's fast tests, written through ml_metadata's own
API with the contexts TFX writes (pipeline, pipeline_run as its child, node), TFX's type
names, and artifacts linked by events: ExampleGen -> StatisticsGen -> Trainer -> Pusher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

NODES = [
    ("CsvExampleGen", "tfx.components.example_gen.csv_example_gen.component.CsvExampleGen",
     [], [("examples", "Examples")]),
    ("StatisticsGen", "tfx.components.statistics_gen.component.StatisticsGen",
     [("examples", "CsvExampleGen", "examples")], [("statistics", "ExampleStatistics")]),
    ("Trainer", "tfx.components.trainer.component.Trainer",
     [("examples", "CsvExampleGen", "examples")], [("model", "Model")]),
    ("Pusher", "tfx.components.pusher.component.Pusher",
     [("model", "Trainer", "model")], [("pushed_model", "PushedModel")]),
]
STATES = {"new": 1, "running": 2, "complete": 3, "failed": 4, "cached": 5, "canceled": 6}


class SyntheticStore:
    def __init__(self, path: Path, folder: Path):
        from ml_metadata.metadata_store import metadata_store
        from ml_metadata.proto import metadata_store_pb2 as pb

        self.pb = pb
        self.folder = folder
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = str(path)
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)
        self.ctx = {n: self.store.put_context_type(pb.ContextType(name=n))
                    for n in ("pipeline", "pipeline_run", "node")}
        self.exec_types = {t: self.store.put_execution_type(pb.ExecutionType(name=t))
                           for _, t, _, _ in NODES}
        self.art_types = {}
        for name in ("Examples", "ExampleStatistics", "Model", "PushedModel"):
            kind = pb.ArtifactType(name=name)
            if name == "Examples":
                kind.properties["span"] = pb.INT
                kind.properties["split_names"] = pb.STRING
            self.art_types[name] = self.store.put_artifact_type(kind)
        self.previous: dict[tuple[str, str, str], object] = {}

    def _context(self, kind: str, name: str):
        found = self.store.get_context_by_type_and_name(kind, name)
        if found is not None:
            return found
        [cid] = self.store.put_contexts([self.pb.Context(type_id=self.ctx[kind], name=name)])
        return self.store.get_contexts_by_id([cid])[0]

    def add_run(self, pipeline: str, run_id: str, states: Optional[dict[str, str]] = None,
                error: str = "", make_folders: bool = True, run_properties: Optional[dict] = None):
        """A run whose nodes end in `states` (default complete); a failed or running node is
        the last one that has an execution, as in a real run."""
        pb = self.pb
        states = states or {}
        pipeline_ctx = self._context("pipeline", pipeline)
        run_ctx = self._context("pipeline_run", run_id)
        for key, value in (run_properties or {}).items():
            run_ctx.custom_properties[key].string_value = value
        if run_properties:
            self.store.put_contexts([run_ctx])
        self.store.put_parent_contexts([pb.ParentContext(child_id=run_ctx.id,
                                                         parent_id=pipeline_ctx.id)])
        made = {}
        for node, type_name, inputs, outputs in NODES:
            state = states.get(node, "complete")
            execution = pb.Execution(type_id=self.exec_types[type_name],
                                     last_known_state=STATES[state])
            if state == "failed" and error:
                execution.custom_properties["__execution_result__"].string_value = \
                    json.dumps({"resultMessage": error})
            pairs = []
            for key, producer, out_key in inputs:
                source = made.get((producer, out_key)) or self.previous.get(
                    (pipeline, producer, out_key))
                if source is not None:
                    event = pb.Event(type=pb.Event.INPUT)
                    event.path.steps.add().key = key
                    pairs.append((source, event))
            if state in ("complete", "cached"):
                for key, art_type in outputs:
                    if state == "cached" and (pipeline, node, key) in self.previous:
                        artifact = self.previous[(pipeline, node, key)]
                    else:
                        uri = self.folder / pipeline / node / f"{run_id.replace(':', '-')}-{key}"
                        if make_folders:
                            uri.mkdir(parents=True, exist_ok=True)
                            (uri / "data.bin").write_bytes(b"x" * 10)
                        artifact = pb.Artifact(type_id=self.art_types[art_type], uri=str(uri))
                        if art_type == "Examples":
                            artifact.custom_properties["span"].int_value = 0
                            artifact.custom_properties["input_fingerprint"].string_value = \
                                f"split:single,num_files:1,run:{run_id}"
                        if art_type == "PushedModel":
                            artifact.custom_properties["pushed"].int_value = 1
                            artifact.custom_properties["pushed_version"].string_value = \
                                str(1000 + len(self.previous))
                    event = pb.Event(type=pb.Event.OUTPUT)
                    event.path.steps.add().key = key
                    pairs.append((artifact, event))
            node_ctx = self._context("node", f"{pipeline}.{node}")
            _, ids, _ = self.store.put_execution(execution, pairs,
                                                 [pipeline_ctx, run_ctx, node_ctx],
                                                 reuse_context_if_already_exist=True)
            for (artifact, event), artifact_id in zip(pairs, ids):
                if event.type == pb.Event.OUTPUT:
                    artifact.id = artifact_id
                    made[(node, event.path.steps[0].key)] = artifact
            if state in ("failed", "running", "new", "canceled"):
                break
        for (node, key), artifact in made.items():
            self.previous[(pipeline, node, key)] = artifact
        return run_ctx
