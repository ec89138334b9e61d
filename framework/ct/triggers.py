"""The four CT triggers. Each returns a TriggerResult: fired or not, why, and the evidence.

- schedule: a cron tick has passed since the pipeline last ran.
- new_data: the newest input (span, or the files' fingerprint without {SPAN}) is one no
  ExampleGen run has ingested yet.
- drift: TFDV drift comparators between the newest span and the training statistics of
  the serving model (found through ML-Metadata lineage).
- decay: the serving model's metric on newly labelled data against its own evaluation.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Optional

from framework.metadata.lineage import Graph, props, serving_model, training_record


@dataclass
class TriggerResult:
    name: str
    fired: bool
    reason: str
    evidence: list[dict] = field(default_factory=list)
    error: Optional[str] = None  # could not be evaluated (counts as not fired)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class InputState:
    """The newest input under the data root, as CsvExampleGen would resolve it."""

    span: int
    version: Optional[int]
    fingerprint: str
    pattern: str  # input pattern with {SPAN} filled in
    location: str  # data_root joined with pattern
    num_files: int


def newest_input(settings) -> Optional[InputState]:
    """What ExampleGen would read now (local folder or gs://), or None when nothing matches."""
    import re

    from tfx.components.example_gen import utils
    from tfx.proto import example_gen_pb2

    split = example_gen_pb2.Input.Split(name="single", pattern=settings.pipeline.input_pattern)
    try:
        fingerprint, span, version = utils.calculate_splits_fingerprint_span_and_version(
            settings.pipeline.data_root, [split])
    except (ValueError, FileNotFoundError):
        return None  # no file matches the pattern
    match = re.search(r"num_files:(\d+)", fingerprint)
    num_files = int(match.group(1)) if match else 0
    if num_files == 0:
        return None
    return InputState(span, version, fingerprint, split.pattern,
                      os.path.join(settings.pipeline.data_root, split.pattern), num_files)


class Context:
    """What the triggers share within one check: the MLMD graph, the serving model's
    training record and the newest input, each computed once."""

    def __init__(self, settings, store, now: Optional[datetime.datetime] = None):
        self.settings = settings
        self.graph = Graph(store, settings.pipeline.name)
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self._newest = ...
        self._record = ...

    @property
    def newest(self) -> Optional[InputState]:
        if self._newest is ...:
            self._newest = newest_input(self.settings)
        return self._newest

    @property
    def record(self):
        if self._record is ...:
            pushed = serving_model(self.graph)
            self._record = training_record(self.graph, pushed) if pushed is not None else None
        return self._record

    def ingested(self) -> list:
        """Examples artifacts made by ExampleGen runs of this pipeline."""
        out = []
        for artifact in self.graph.artifacts_of_type("Examples"):
            producer = self.graph.producer(artifact)
            if producer is not None and "ExampleGen" in self.graph.node_of(producer):
                out.append(artifact)
        return out


# --------------------------------------------------------------------------- schedule


def schedule_trigger(ctx: Context) -> TriggerResult:
    from framework.ct.cron import parse

    cron = parse(ctx.settings.ct.schedule)
    tick = cron.last_tick(ctx.now)
    last = last_pipeline_activity(ctx.graph)
    evidence = {"schedule": cron.expression, "last_tick": tick.isoformat() if tick else None,
                "last_run": last.isoformat() if last else None}
    if tick is None:
        return TriggerResult("schedule", False, "the schedule never matched", [evidence])
    if last is None or last < tick:
        why = "no run yet" if last is None else f"no run since {tick:%Y-%m-%d %H:%M} UTC"
        return TriggerResult("schedule", True, f"cron '{cron.expression}' ticked: {why}",
                             [evidence])
    return TriggerResult("schedule", False,
                         f"last run {last:%Y-%m-%d %H:%M} UTC is after the last tick", [evidence])


def last_pipeline_activity(graph: Graph) -> Optional[datetime.datetime]:
    context = graph.store.get_context_by_type_and_name("pipeline", graph.pipeline)
    if context is None:
        return None
    executions = graph.store.get_executions_by_context(context.id)
    if not executions:
        return None
    ms = max(e.create_time_since_epoch for e in executions)
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)


# --------------------------------------------------------------------------- new data


def new_data_trigger(ctx: Context) -> TriggerResult:
    state = ctx.newest
    pattern = os.path.join(ctx.settings.pipeline.data_root, ctx.settings.pipeline.input_pattern)
    if state is None:
        return TriggerResult("new_data", False, f"no input files match {pattern}")
    seen = [(props(a).get("span") or 0, props(a).get("input_fingerprint")) for a in ctx.ingested()]
    evidence = {"span": state.span, "files": state.num_files, "location": state.location,
                "last_ingested_span": max((s for s, _ in seen), default=None)}
    if (state.span, state.fingerprint) in seen:
        return TriggerResult("new_data", False,
                             f"span {state.span} ({state.num_files} files) was already ingested",
                             [evidence])
    if any(s == state.span for s, _ in seen):
        reason = f"span {state.span} has new or changed files"
    else:
        reason = f"new span {state.span} ({state.num_files} files at {state.location})"
    return TriggerResult("new_data", True, reason, [evidence])


# --------------------------------------------------------------------------- drift


def drift_trigger(ctx: Context) -> TriggerResult:
    from framework.ct.drift import compare

    state, record = ctx.newest, ctx.record
    if state is None:
        return TriggerResult("drift", False, "no input data to compare")
    if record is None:
        return TriggerResult("drift", False, "no serving model yet: nothing to compare with")
    trained = {(props(a).get("span") or 0, props(a).get("input_fingerprint"))
               for a in record.raw_examples}
    if (state.span, state.fingerprint) in trained:
        return TriggerResult(
            "drift", False, f"the serving model was trained on the newest data (span {state.span})")
    baseline = record.newest_examples
    stats = record.statistics.get(baseline.id) if baseline is not None else None
    if stats is None:
        return TriggerResult("drift", False, "no training statistics found for the serving model",
                             error="StatisticsGen output not found in ML-Metadata")
    drifted, measured = compare(ctx.settings, state.location, stats.uri,
                                record.schema.uri if record.schema is not None else None)
    base_span = props(baseline).get("span") or 0
    if drifted:
        names = ", ".join(f"{e['feature']} ({e['statistic']} {e['value']:.3f} > "
                          f"{e['threshold']:g})" for e in drifted)
        return TriggerResult("drift", True,
                             f"span {state.span} drifted from training span {base_span}: {names}",
                             drifted)
    top = sorted(measured, key=lambda e: e["value"] - e["threshold"], reverse=True)[:3]
    return TriggerResult("drift", False,
                         f"span {state.span} within thresholds of training span {base_span}",
                         top)


# --------------------------------------------------------------------------- decay


def decay_trigger(ctx: Context) -> TriggerResult:
    from framework.ct.decay import score_serving_model, worsening

    decay = ctx.settings.ct.decay
    if not decay.labelled_data:
        return TriggerResult("decay", False, "no labelled data configured (ct.decay.labelled_data)")
    record = ctx.record
    if record is None:
        return TriggerResult("decay", False, "no serving model yet")
    outcome = score_serving_model(ctx.graph, record, decay.labelled_data, decay.metric)
    if outcome is None:
        return TriggerResult("decay", False, f"no labelled rows at {decay.labelled_data}")
    # How much worse than at evaluation: a fall of accuracy or auc, a rise of an error.
    drop = worsening(decay.metric, outcome["evaluation"], outcome["value"])
    evidence = {**outcome, "drop": round(drop, 4), "threshold": decay.max_drop}
    if drop > decay.max_drop:
        moved = "rose" if outcome["value"] > outcome["evaluation"] else "fell"
        return TriggerResult(
            "decay", True,
            f"{decay.metric} {moved} from {outcome['evaluation']:.3f} (evaluation) to "
            f"{outcome['value']:.3f} on {outcome['rows']} labelled rows "
            f"(drop {drop:.3f} > {decay.max_drop:g})", [evidence])
    return TriggerResult(
        "decay", False,
        f"{decay.metric} {outcome['value']:.3f} on labelled rows vs {outcome['evaluation']:.3f} "
        f"at evaluation (drop {drop:.3f} <= {decay.max_drop:g})", [evidence])


TRIGGERS = {
    "schedule": schedule_trigger,
    "new_data": new_data_trigger,
    "drift": drift_trigger,
    "decay": decay_trigger,
}


def enabled_triggers(settings) -> list[str]:
    ct = settings.ct
    names = []
    if ct.schedule:
        names.append("schedule")
    if ct.new_data:
        names.append("new_data")
    if ct.drift.enabled:
        names.append("drift")
    if ct.decay.enabled:
        names.append("decay")
    return names


def evaluate(settings, names: Optional[list[str]] = None, now=None) -> list[TriggerResult]:
    """Evaluate the enabled triggers (or `names`) once against the settings' MLMD store."""
    from framework.core.errors import UserError
    from framework.metadata.store import open_store

    results = []
    with open_store(settings) as store:
        ctx = Context(settings, store, now)
        for name in names or enabled_triggers(settings):
            try:
                results.append(TRIGGERS[name](ctx))
            except UserError:
                raise
            except Exception as exc:  # one broken trigger must not hide the others
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                results.append(TriggerResult(name, False, "could not be evaluated",
                                             error=f"{type(exc).__name__}: {text}"))
    return results
