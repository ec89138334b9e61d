"""The Model page: the Evaluator's metrics (TFMA) overall and per slice, the candidate against
the baseline it was judged with, the thresholds, and why it was or was not blessed."""

from __future__ import annotations

import json
import os
import re
from typing import Optional

from framework.ui import charts
from framework.ui.source import (
    OUTPUT_EVENTS,
    Problem,
    Source,
    properties,
    quoted,
    stamp,
)

LISTED = 100


def metric_name(class_name: str) -> str:
    """TFMA's metric name of a Keras/TFMA class: BinaryAccuracy -> binary_accuracy, AUC -> auc."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", class_name).lower()


def thresholds(eval_config: dict) -> dict[str, dict]:
    """{metric: {lower_bound, upper_bound, change, direction}} from an EvalConfig as JSON
    (camelCase, as TFMA writes it, or snake_case, as TFX records it)."""
    out = {}
    specs = eval_config.get("metricsSpecs") or eval_config.get("metrics_specs") or []
    for spec in specs:
        for metric in spec.get("metrics") or []:
            threshold = metric.get("threshold")
            if not threshold:
                continue
            name = metric_name(metric.get("className") or metric.get("class_name") or "?")
            value = threshold.get("valueThreshold") or threshold.get("value_threshold") or {}
            change = threshold.get("changeThreshold") or threshold.get("change_threshold") or {}
            out[name] = {
                "lower_bound": _number(value.get("lowerBound", value.get("lower_bound"))),
                "upper_bound": _number(value.get("upperBound", value.get("upper_bound"))),
                "change": _number(change.get("absolute")),
                "direction": change.get("direction"),
            }
    return out


def _number(value) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, dict):  # {"value": x} in some JSON forms of a wrapper
        value = value.get("value")
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def slice_label(slice_key) -> str:
    """'overall' or 'trip_start_hour = 14' of a TFMA SliceKey proto."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        parts.append(f"{single.column} = {value}")
    return ", ".join(parts) or "overall"


def _slice_order(label: str):
    if label == "overall":
        return (0, "", 0.0, "")
    column, _, value = label.partition(" = ")
    try:
        return (1, column, float(value), "")
    except ValueError:
        return (1, column, float("inf"), value)


def checks(metrics: dict[str, dict], limits: dict[str, dict]) -> list[dict]:
    """What each threshold asked of the overall slice, and whether it held:
    {metric, check, value, limit, held}."""
    out = []
    for name, limit in sorted(limits.items()):
        values = metrics.get(name) or {}
        value = values.get("candidate")
        if limit.get("lower_bound") is not None:
            out.append({"metric": name, "check": "value ≥ lower bound", "value": value,
                        "limit": limit["lower_bound"], "phrase": f"{name} {_fmt(value)} ≥ "
                        f"{_fmt(limit['lower_bound'])} (lower bound)",
                        "held": None if value is None else value >= limit["lower_bound"]})
        if limit.get("upper_bound") is not None:
            out.append({"metric": name, "check": "value ≤ upper bound", "value": value,
                        "limit": limit["upper_bound"], "phrase": f"{name} {_fmt(value)} ≤ "
                        f"{_fmt(limit['upper_bound'])} (upper bound)",
                        "held": None if value is None else value <= limit["upper_bound"]})
        if limit.get("change") is not None:
            diff = values.get("diff")
            higher = limit.get("direction") != "LOWER_IS_BETTER"
            held = None
            if diff is not None:
                held = diff >= limit["change"] if higher else diff <= limit["change"]
            out.append({"metric": name, "check": "change vs baseline " +
                        ("≥" if higher else "≤") + " limit", "value": diff,
                        "limit": limit["change"], "held": held,
                        "phrase": f"{name} changed {_signed(diff)} against the baseline, "
                        f"{'≥' if higher else '≤'} {_signed(limit['change'])} allowed",
                        "no_baseline": values.get("baseline") is None})
    return out


def read_evaluation(uri: str) -> dict:
    """{slices: {label: {metric: {candidate, baseline, diff}}}, validation, config} of a
    ModelEvaluation folder (TFMA's output)."""
    if not uri or ("://" not in uri and not os.path.isdir(uri)):
        raise Problem(f"the evaluation's folder {uri} is not there (moved or deleted)")
    import tensorflow_model_analysis as tfma

    slices: dict[str, dict] = {}
    for record in tfma.load_metrics(uri):
        label = slice_label(record.slice_key)
        metrics = slices.setdefault(label, {})
        for item in record.metric_keys_and_values:
            if item.value.WhichOneof("type") != "double_value":
                continue
            key = item.key
            role = "diff" if key.is_diff else ("baseline" if key.model_name == "baseline"
                                                else "candidate")
            metrics.setdefault(key.name, {})[role] = float(item.value.double_value.value)
    validation = None
    try:
        result = tfma.load_validation_result(uri)
        failures = []
        for per_slice in result.metric_validations_per_slice:
            for failure in per_slice.failures:
                failures.append({"slice": slice_label(per_slice.slice_key),
                                 "metric": failure.metric_key.name,
                                 "value": str(failure.metric_value).strip(),
                                 "threshold": str(failure.metric_threshold).strip()
                                 .replace("\n", " "),
                                 "message": failure.message})
        validation = {"ok": bool(result.validation_ok), "failures": failures,
                      "missing_slices": [str(s).strip() for s in result.missing_slices]}
    except Exception:  # no validations file: an Evaluator without thresholds
        validation = None
    config = {}
    config_path = os.path.join(uri, "eval_config.json")
    if "://" not in uri and os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle).get("evalConfig", {})
    ordered = {label: slices[label] for label in sorted(slices, key=_slice_order)}
    return {"slices": ordered, "validation": validation, "config": config}


# --------------------------------------------------------------------------- the store


def evaluations(source: Source, pipeline: str) -> list[dict]:
    """The pipeline's ModelEvaluation artifacts, newest first, with run and blessing (a
    few batched queries, whatever the number of runs)."""
    from ml_metadata import metadata_store as mlmd

    store = source.store
    query = (f"type = 'ModelEvaluation' AND contexts_p.type = 'pipeline' AND contexts_p.name = "
             f"{quoted(pipeline)}")
    found = store.get_artifacts(list_options=mlmd.ListOptions(
        filter_query=query, order_by=mlmd.OrderByField.ID, is_asc=False, limit=LISTED))
    if not found:
        return []
    makers: dict[int, int] = {}
    for event in store.get_events_by_artifact_ids([a.id for a in found]):
        if event.type in OUTPUT_EVENTS:
            makers.setdefault(event.artifact_id, event.execution_id)
    blessed_by: dict[int, Optional[bool]] = {}
    outputs = store.get_events_by_execution_ids(sorted(set(makers.values())))
    output_ids = sorted({e.artifact_id for e in outputs if e.type in OUTPUT_EVENTS})
    by_id = {a.id: a for a in store.get_artifacts_by_id(output_ids)} if output_ids else {}
    for event in outputs:
        artifact = by_id.get(event.artifact_id)
        if artifact is not None and event.type in OUTPUT_EVENTS and \
                source.type_name("artifact", artifact.type_id) == "ModelBlessing":
            value = properties(artifact).get("blessed")
            blessed_by[event.execution_id] = None if value is None else bool(value)
    out = []
    for artifact in found:
        execution = makers.get(artifact.id)
        runs = source.runs_of_execution(execution) if execution is not None else []
        out.append({"id": artifact.id, "uri": artifact.uri, "run_id": runs[0] if runs else None,
                    "created": stamp(artifact.create_time_since_epoch),
                    "execution_id": execution, "blessed": blessed_by.get(execution)})
    return out


def _evaluation_of_run(source: Source, run_id: str) -> Optional[int]:
    run = source.run_context(run_id)
    store = source.store
    executions = source.executions_of_run(run)
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    ids = sorted({e.artifact_id for e in events if e.type in OUTPUT_EVENTS})
    for artifact in store.get_artifacts_by_id(ids) if ids else []:
        if source.type_name("artifact", artifact.type_id) == "ModelEvaluation":
            return artifact.id
    return None


def _evaluation_of_version(source: Source, pipeline: str, version: str) -> Optional[int]:
    from framework.metadata.lineage import find_pushed, training_record
    from framework.ui.lineage import FastGraph

    graph = FastGraph(source.store, pipeline)
    record = training_record(graph, find_pushed(graph, version))
    return record.evaluation.id if record.evaluation is not None else None


def model_page(source: Source, pipeline: Optional[str] = None,
               evaluation: Optional[int] = None, run: Optional[str] = None,
               version: Optional[str] = None) -> dict:
    """The Model page's data for one evaluation (default: the newest)."""
    from framework.core.errors import UserError

    pipeline = pipeline or source.pipeline
    source.require_pipeline(pipeline)
    listed = evaluations(source, pipeline)
    if run:
        evaluation = _evaluation_of_run(source, run)
        if evaluation is None:
            raise Problem(f"run {run} has no evaluation (it failed or stopped before the "
                          "Evaluator)", status=404)
    elif version:
        try:
            evaluation = _evaluation_of_version(source, pipeline, version)
        except UserError as exc:
            raise Problem(str(exc), status=404) from None
        if evaluation is None:
            raise Problem(f"model version {version} has no evaluation in ML-Metadata")
    if not listed:
        raise Problem(f"pipeline '{pipeline}' has no evaluated model yet",
                      hint="the Evaluator runs after the Trainer: mlops run")
    chosen = next((e for e in listed if e["id"] == evaluation), None) if evaluation else listed[0]
    if chosen is None:
        raise Problem(f"no evaluation #{evaluation} in pipeline '{pipeline}'", status=404)
    key = ("evaluation", chosen["id"])
    result = source.memo.get(key)
    if result is None:
        result = source.memo.put(key, read_evaluation(chosen["uri"]))
    config = result["config"] or _recorded_config(source, chosen["execution_id"])
    limits = thresholds(config)
    overall = result["slices"].get("overall", {})
    held = checks(overall, limits)
    metric = source.settings.evaluation.metric if pipeline == source.pipeline else None
    metric = metric if metric in overall else (next(iter(limits), None) or next(iter(overall),
                                                                                None))
    per_slice = [{"slice": label, "value": m[metric]["candidate"],
                  "baseline": m[metric].get("baseline")}
                 for label, m in result["slices"].items()
                 if label != "overall" and metric in m and "candidate" in m[metric]]
    columns = {row["slice"].partition(" = ")[0] for row in per_slice}
    if len(columns) == 1 and all(", " not in row["slice"] for row in per_slice):
        for row in per_slice:
            row["slice"] = row["slice"].partition(" = ")[2]
    has_baseline = any("baseline" in v for v in overall.values())
    return {
        "pipeline": pipeline, "evaluations": listed, "evaluation": chosen,
        "overall": overall, "slices": result["slices"], "slice_count": len(result["slices"]),
        "thresholds": limits, "checks": held, "validation": result["validation"],
        "blessed": chosen["blessed"], "has_baseline": has_baseline, "metric": metric,
        "why": why(chosen["blessed"], result["validation"], held, has_baseline),
        "chart": charts.slices(metric, per_slice, limits.get(metric, {}),
                               next(iter(columns)) if len(columns) == 1 else "slice")
        if metric else None,
    }


def _recorded_config(source: Source, execution_id: Optional[int]) -> dict:
    """The eval_config the Evaluator execution recorded in ML-Metadata (JSON)."""
    if execution_id is None:
        return {}
    found = source.store.get_executions_by_id([execution_id])
    raw = properties(found[0]).get("eval_config") if found else None
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def why(blessed: Optional[bool], validation: Optional[dict], held: list[dict],
        has_baseline: bool) -> list[str]:
    """Sentences saying why the model was or was not blessed."""
    lines = []
    if blessed is None:
        lines.append("no blessing was recorded for this evaluation")
    failures = (validation or {}).get("failures") or []
    if blessed or (validation and validation["ok"]):
        kept = [c for c in held if c["held"]]
        if kept:
            lines.append("blessed: every threshold held: " + "; ".join(c["phrase"]
                                                                      for c in kept))
        else:
            lines.append("blessed: no threshold failed")
    if failures:
        lines.append("not blessed: " + "; ".join(
            f"{f['metric']} on {f['slice']}: {f['message'] or 'threshold not met'}"
            for f in failures[:10]) + (f" (and {len(failures) - 10} more)"
                                       if len(failures) > 10 else ""))
    elif blessed is False:
        broken = [c for c in held if c["held"] is False]
        lines.append("not blessed" + (": " + "; ".join(
            c["phrase"] + " does not hold" for c in broken) if broken else ""))
    if not has_baseline:
        lines.append("there was no blessed baseline yet: no change threshold was applied "
                     "(a first model is judged by its value thresholds alone)")
    return lines


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.4g}"


def _signed(value) -> str:
    return "—" if value is None else f"{value:+.4g}"
