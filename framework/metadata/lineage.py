"""Lineage in ML-Metadata: which data made which model, which run pushed it.

Walks the events between artifacts and executions of one pipeline:

    data span -> Examples (CsvExampleGen) -> ExampleStatistics (StatisticsGen)
      -> ExampleAnomalies (ExampleValidator) -> Transform -> Model (Trainer)
      -> ModelEvaluation + ModelBlessing (Evaluator) -> PushedModel (Pusher)

Used by `mlops lineage` and by the drift and decay triggers, which need the statistics,
the schema and the evaluation of the data the serving model was trained on.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Optional

from framework.core.errors import UserError

INPUT, OUTPUT = 3, 4  # metadata_store_pb2.Event.INPUT / OUTPUT
DECLARED_OUTPUT, DECLARED_INPUT = 1, 2
COMPLETE, CACHED = 3, 5


def _value(value) -> object:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    out = getattr(value, kind)
    if kind == "proto_value" or kind == "struct_value":
        return str(out)
    return out


def props(artifact) -> dict:
    """Properties and custom properties of an artifact, execution or context, as plain values."""
    out = {k: _value(v) for k, v in artifact.properties.items()}
    out.update({k: _value(v) for k, v in artifact.custom_properties.items()})
    return out


def when(ms: int) -> str:
    if not ms:
        return "?"
    stamp = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


class Graph:
    """Small helpers over one MLMD store, with type names cached."""

    def __init__(self, store, pipeline: str):
        self.store = store
        self.pipeline = pipeline
        self.artifact_types = {t.id: t.name for t in store.get_artifact_types()}
        self.execution_types = {t.id: t.name for t in store.get_execution_types()}

    def type_of(self, artifact) -> str:
        return self.artifact_types.get(artifact.type_id, "?")

    def artifacts_of_type(self, type_name: str) -> list:
        """Artifacts of this pipeline with this type, oldest first."""
        context = self.store.get_context_by_type_and_name("pipeline", self.pipeline)
        if context is None:
            return []
        found = [a for a in self.store.get_artifacts_by_context(context.id)
                 if self.type_of(a) == type_name]
        return sorted(found, key=lambda a: (a.create_time_since_epoch, a.id))

    def node_of(self, execution) -> str:
        node = execution.custom_properties.get("__tfx_node_id__")
        if node is not None and node.string_value:
            return node.string_value
        for context in self.store.get_contexts_by_execution(execution.id):
            if context.name.startswith(f"{self.pipeline}."):
                return context.name.split(".", 1)[1]
        return self.execution_types.get(execution.type_id, "?")

    def run_of(self, execution) -> Optional[str]:
        types = {t.id: t.name for t in self.store.get_context_types()}
        for context in self.store.get_contexts_by_execution(execution.id):
            if types.get(context.type_id) == "pipeline_run":
                return context.name
        return None

    def producer(self, artifact):
        """The execution that made the artifact (the original, not a cache hit)."""
        events = [e for e in self.store.get_events_by_artifact_ids([artifact.id])
                  if e.type in (OUTPUT, DECLARED_OUTPUT)]
        executions = self.store.get_executions_by_id([e.execution_id for e in events])
        if not executions:
            return None
        executions.sort(key=lambda x: (x.last_known_state != COMPLETE, x.id))
        return executions[0]

    def consumers(self, artifact, input_key: Optional[str] = None) -> list:
        """Executions that read the artifact (under `input_key`, when given), newest last."""
        events = [e for e in self.store.get_events_by_artifact_ids([artifact.id])
                  if e.type in (INPUT, DECLARED_INPUT)
                  and (input_key is None or _event_key(e) == input_key)]
        executions = self.store.get_executions_by_id(sorted({e.execution_id for e in events}))
        return sorted(executions, key=lambda x: x.id)

    def inputs(self, execution, type_name: Optional[str] = None,
               input_key: Optional[str] = None) -> list:
        return self._linked(execution, (INPUT, DECLARED_INPUT), type_name, input_key)

    def outputs(self, execution, type_name: Optional[str] = None) -> list:
        return self._linked(execution, (OUTPUT, DECLARED_OUTPUT), type_name, None)

    def _linked(self, execution, kinds, type_name, input_key) -> list:
        events = [e for e in self.store.get_events_by_execution_ids([execution.id])
                  if e.type in kinds and (input_key is None or _event_key(e) == input_key)]
        ids = sorted({e.artifact_id for e in events})
        artifacts = self.store.get_artifacts_by_id(ids) if ids else []
        if type_name is not None:
            artifacts = [a for a in artifacts if self.type_of(a) == type_name]
        return artifacts

    def derived(self, artifact, node_prefix: str, type_name: str) -> list:
        """Outputs of type `type_name` of the executions that consumed `artifact`,
        from nodes whose id starts with `node_prefix` (original executions first)."""
        out = []
        for execution in self.consumers(artifact):
            if self.node_of(execution).startswith(node_prefix):
                out.extend(a for a in self.outputs(execution, type_name)
                           if a.id not in {o.id for o in out})
        return out


def _event_key(event) -> Optional[str]:
    for step in event.path.steps:
        if step.HasField("key"):
            return step.key
    return None


# --------------------------------------------------------------------------- the serving model


def pushed_models(graph: Graph) -> list:
    """PushedModel artifacts that were really pushed, oldest first."""
    return [a for a in graph.artifacts_of_type("PushedModel") if props(a).get("pushed") == 1]


def serving_model(graph: Graph):
    """The newest pushed model (what the serving folder serves), or None."""
    pushed = pushed_models(graph)
    return pushed[-1] if pushed else None


@dataclass
class TrainingRecord:
    """What a pushed model came from, found by walking MLMD."""

    pushed: object
    model: object = None
    trainer: object = None
    schema: object = None
    raw_examples: list = field(default_factory=list)
    statistics: dict = field(default_factory=dict)  # Examples id -> ExampleStatistics
    evaluation: object = None
    blessing: object = None

    @property
    def newest_examples(self):
        if not self.raw_examples:
            return None
        return max(self.raw_examples, key=lambda a: (props(a).get("span") or 0, a.id))


def training_record(graph: Graph, pushed) -> TrainingRecord:
    record = TrainingRecord(pushed)
    pusher = graph.producer(pushed)
    if pusher is None:
        return record
    models = graph.inputs(pusher, "Model")
    record.model = models[0] if models else None
    if record.model is None:
        return record
    record.trainer = graph.producer(record.model)
    if record.trainer is not None:
        schemas = graph.inputs(record.trainer, "Schema")
        record.schema = schemas[0] if schemas else None
        for examples in graph.inputs(record.trainer, "Examples"):
            transform = graph.producer(examples)
            if transform is not None and graph.node_of(transform).startswith("Transform"):
                for raw in graph.inputs(transform, "Examples"):
                    if raw.id not in {r.id for r in record.raw_examples}:
                        record.raw_examples.append(raw)
            elif examples.id not in {r.id for r in record.raw_examples}:
                record.raw_examples.append(examples)  # trained on raw examples
    for raw in record.raw_examples:
        stats = graph.derived(raw, "StatisticsGen", "ExampleStatistics")
        if stats:
            record.statistics[raw.id] = stats[0]
    # The Evaluator that judged this model as the candidate (not as a baseline).
    for evaluator in graph.consumers(record.model, input_key="model"):
        if graph.node_of(evaluator).startswith("Evaluator"):
            evaluations = graph.outputs(evaluator, "ModelEvaluation")
            blessings = graph.outputs(evaluator, "ModelBlessing")
            if evaluations:
                record.evaluation = evaluations[0]
                record.blessing = blessings[0] if blessings else None
                break
    return record


# --------------------------------------------------------------------------- `mlops lineage`


@dataclass
class Step:
    stage: str  # span, examples, statistics, anomalies, transform, model, evaluation, ...
    artifact_id: Optional[int]
    node: str
    run_id: Optional[str]
    time: str
    uri: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _step(graph: Graph, stage: str, artifact, execution=None, **details) -> Step:
    execution = execution if execution is not None else graph.producer(artifact)
    return Step(
        stage=stage,
        artifact_id=artifact.id if artifact is not None else None,
        node=graph.node_of(execution) if execution is not None else "?",
        run_id=graph.run_of(execution) if execution is not None else None,
        time=when(execution.create_time_since_epoch if execution is not None else 0),
        uri=artifact.uri if artifact is not None else "",
        details={k: v for k, v in details.items() if v is not None},
    )


def find_pushed(graph: Graph, ref: str):
    """The PushedModel for a model version (serving folder name) or a pipeline run id."""
    pushed = pushed_models(graph)
    if ref in ("latest", "serving"):
        if not pushed:
            raise UserError(f"pipeline '{graph.pipeline}' has no pushed model yet")
        return pushed[-1]
    for artifact in reversed(pushed):
        p = props(artifact)
        destination = str(p.get("pushed_destination") or "")
        if ref == str(p.get("pushed_version")) or destination.rstrip("/").endswith("/" + ref):
            return artifact
    run = graph.store.get_context_by_type_and_name("pipeline_run", ref)
    if run is not None:
        # The run's Pusher, also when it was a cache hit that re-used an earlier push.
        pushed_ids = {a.id for a in pushed}
        for execution in sorted(graph.store.get_executions_by_context(run.id),
                                key=lambda x: -x.id):
            if graph.node_of(execution).startswith("Pusher"):
                for artifact in graph.outputs(execution, "PushedModel"):
                    if artifact.id in pushed_ids:
                        return artifact
        raise UserError(f"run {ref} pushed no model (not blessed, or it failed before Pusher)")
    versions = ", ".join(str(props(a).get("pushed_version")) for a in pushed[-5:]) or "none"
    raise UserError(
        f"no pushed model or run '{ref}' in pipeline '{graph.pipeline}' "
        f"(recent model versions: {versions}; or pass a run id from `mlops ct history`)"
    )


def model_lineage(graph: Graph, ref: str) -> list[Step]:
    """The chain behind a pushed model, data first, push last."""
    pushed = find_pushed(graph, ref)
    record = training_record(graph, pushed)
    steps: list[Step] = []
    for raw in sorted(record.raw_examples, key=lambda a: (props(a).get("span") or 0, a.id)):
        p = props(raw)
        example_gen = graph.producer(raw)
        source = props(example_gen).get("input_base") if example_gen is not None else None
        steps.append(_step(graph, "span", raw, example_gen, span=p.get("span"),
                           version=p.get("version"), input_base=source,
                           fingerprint=_short(p.get("input_fingerprint"))))
        steps.append(_step(graph, "examples", raw, example_gen,
                           splits=p.get("split_names")))
        stats = record.statistics.get(raw.id)
        if stats is not None:
            steps.append(_step(graph, "statistics", stats))
            for anomalies in graph.derived(stats, "ExampleValidator", "ExampleAnomalies")[:1]:
                steps.append(_step(graph, "anomalies", anomalies,
                                   found=_anomaly_count(anomalies)))
    if record.trainer is not None:
        for graph_artifact in graph.inputs(record.trainer, "TransformGraph"):
            steps.append(_step(graph, "transform", graph_artifact))
    if record.model is not None:
        steps.append(_step(graph, "model", record.model))
    if record.evaluation is not None:
        steps.append(_evaluation_step(graph, record.evaluation))
    if record.blessing is not None:
        blessed = props(record.blessing).get("blessed")
        steps.append(_step(graph, "blessing", record.blessing,
                           blessed=bool(blessed) if blessed is not None else None))
    p = props(pushed)
    steps.append(_step(graph, "push", pushed, version=p.get("pushed_version"),
                       destination=p.get("pushed_destination")))
    return steps


def _evaluation_step(graph: Graph, evaluation) -> Step:
    """Every overall metric the Evaluator recorded, by name: whatever the model's task."""
    from framework.metadata.outcome import evaluation_metrics

    try:
        metrics = evaluation_metrics(evaluation.uri)
    except Exception:  # unreadable evaluation: the chain is still worth showing
        metrics = {}
    step = _step(graph, "evaluation", evaluation)
    # Set after _step: a metric name must not collide with _step's own parameters.
    step.details.update((name, round(metrics[name], 4)) for name in sorted(metrics))
    return step


def _short(text) -> Optional[str]:
    if not text:
        return None
    text = str(text).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def _anomaly_count(artifact) -> Optional[int]:
    """Number of anomalous features over the splits of an ExampleAnomalies artifact."""
    import os

    from tensorflow_metadata.proto.v0 import anomalies_pb2

    total = 0
    try:
        from tfx.dsl.io import fileio

        for split_dir in fileio.listdir(artifact.uri):
            path = os.path.join(artifact.uri, split_dir, "SchemaDiff.pb")
            if fileio.exists(path):
                anomalies = anomalies_pb2.Anomalies()
                with fileio.open(path, "rb") as handle:
                    anomalies.ParseFromString(handle.read())
                total += len(anomalies.anomaly_info)
    except Exception:  # unreadable: say nothing rather than something wrong
        return None
    return total


def format_lineage(pipeline: str, ref: str, steps: list[Step]) -> str:
    lines = [f"lineage of {ref} ({pipeline}), data first:"]
    for step in steps:
        detail = "  ".join(f"{k}={v}" for k, v in step.details.items())
        ident = f"#{step.artifact_id}" if step.artifact_id is not None else ""
        lines.append(f"  {step.stage:<11} {ident:<6} {step.node:<28} run {step.run_id or '?'}"
                     f"  {step.time}")
        if detail:
            lines.append(f"  {'':<11} {'':<6} {detail}")
    return "\n".join(lines)
