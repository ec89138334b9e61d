"""The Data page: per span, the statistics of each feature (StatisticsGen's output), the
anomalies against the schema (ExampleValidator's), and the drift between two spans.

Statistics and anomalies are read as the protos they are (tensorflow_metadata), without
TensorFlow. Drift uses TFDV's comparators exactly as the drift trigger does
(framework/ct/drift.py: its schema, comparators, thresholds and quantile histograms), on the
two spans' StatisticsGen outputs.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from framework.ui import charts
from framework.ui.source import (
    INPUT_EVENTS,
    OUTPUT_EVENTS,
    Problem,
    Source,
    properties,
    quoted,
    stamp,
)

SPANS_LISTED = 200


# --------------------------------------------------------------------------- files


def read_bytes(uri: str) -> Optional[bytes]:
    """A file's bytes, local or gs://; None when it is not there."""
    from framework.storage import files

    if files.is_remote(uri):
        from google.api_core import exceptions

        try:
            return files.blob(uri).download_as_bytes()
        except exceptions.NotFound:
            return None
        except exceptions.GoogleAPIError as exc:
            raise Problem(f"{uri}: {str(exc).splitlines()[0][:300]}") from None
    try:
        with open(uri, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def split_names(artifact) -> list[str]:
    raw = properties(artifact).get("split_names")
    try:
        names = json.loads(raw) if raw else []
    except ValueError:
        names = []
    return [str(n) for n in names] or ["train", "eval"]


def load_statistics(uri: str, split: str):
    """The DatasetFeatureStatisticsList of one split of an ExampleStatistics artifact."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    path = os.path.join(uri, f"Split-{split}", "FeatureStats.pb") if "://" not in uri \
        else f"{uri.rstrip('/')}/Split-{split}/FeatureStats.pb"
    data = read_bytes(path)
    if data is None:
        raise Problem(f"the statistics of split '{split}' are missing: {path} is not there "
                      "(the artifact folder was moved or deleted)")
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString(data)
    return stats


def load_anomalies(uri: str, split: str):
    """The Anomalies of one split of an ExampleAnomalies artifact, or None when missing."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    path = os.path.join(uri, f"Split-{split}", "SchemaDiff.pb") if "://" not in uri \
        else f"{uri.rstrip('/')}/Split-{split}/SchemaDiff.pb"
    data = read_bytes(path)
    if data is None:
        return None
    anomalies = anomalies_pb2.Anomalies()
    anomalies.ParseFromString(data)
    return anomalies


# --------------------------------------------------------------------------- pure views


TYPE_NAMES = {0: "INT", 1: "FLOAT", 2: "STRING", 3: "BYTES", 4: "STRUCT"}


def feature_rows(stats) -> list[dict]:
    """One dict per feature: type, missing, summary figures and a chart."""
    rows = []
    for dataset in stats.datasets:
        for feature in dataset.features:
            name = ".".join(feature.path.step) or feature.name
            kind = feature.WhichOneof("stats")
            row = {"feature": name, "type": TYPE_NAMES.get(feature.type, str(feature.type)),
                   "examples": dataset.num_examples}
            if kind == "num_stats":
                ns = feature.num_stats
                common = ns.common_stats
                standard = [h for h in ns.histograms if h.type == h.STANDARD]
                buckets = [{"low": b.low_value, "high": b.high_value, "count": b.sample_count}
                           for b in (standard[0].buckets if standard else [])]
                row.update(kind="numeric", mean=ns.mean, std=ns.std_dev, min=ns.min,
                           max=ns.max, median=ns.median, zeros=ns.num_zeros,
                           buckets=buckets, chart=charts.histogram(buckets))
            elif kind == "string_stats":
                ss = feature.string_stats
                common = ss.common_stats
                values = [{"value": v.value, "count": v.frequency} for v in ss.top_values]
                if not values:
                    values = [{"value": b.label, "count": b.sample_count}
                              for b in ss.rank_histogram.buckets]
                values.sort(key=lambda v: -v["count"])
                row.update(kind="categorical", unique=ss.unique, avg_length=ss.avg_length,
                           top=values[:20], chart=charts.top_values(values))
            else:
                common = None
                row.update(kind=kind or "other", chart=None)
            if common is not None:
                present, missing = common.num_non_missing, common.num_missing
                row.update(present=present, missing=missing,
                           missing_pct=100.0 * missing / (present + missing)
                           if present + missing else 0.0)
            rows.append(row)
    return sorted(rows, key=lambda r: r["feature"])


SEVERITY = {0: "unknown", 1: "warning", 2: "error"}


def anomaly_rows(anomalies) -> list[dict]:
    """{feature, severity, short, description} per anomaly, dataset-level ones too."""
    if anomalies is None:
        return []
    rows = [{"feature": feature, "severity": SEVERITY.get(info.severity, str(info.severity)),
             "short": info.short_description, "description": info.description}
            for feature, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        rows.append({"feature": "(dataset)", "severity": SEVERITY.get(info.severity, ""),
                     "short": info.short_description, "description": info.description})
    return rows


# --------------------------------------------------------------------------- the store


def raw_examples(source: Source, pipeline: str) -> list:
    """ExampleGen's outputs (the Examples that carry an input fingerprint), newest first."""
    from ml_metadata import metadata_store as mlmd

    query = (f"type = 'Examples' AND contexts_p.type = 'pipeline' AND contexts_p.name = "
             f"{quoted(pipeline)} AND custom_properties.input_fingerprint.string_value != ''")
    options = mlmd.ListOptions(filter_query=query, order_by=mlmd.OrderByField.ID,
                               is_asc=False, limit=SPANS_LISTED)
    return source.store.get_artifacts(list_options=options)


def derived(source: Source, artifact_id: int, type_name: str) -> list:
    """Artifacts of `type_name` made by executions that read `artifact_id`, newest first."""
    store = source.store
    readers = sorted({e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                      if e.type in INPUT_EVENTS})
    if not readers:
        return []
    made = sorted({e.artifact_id for e in store.get_events_by_execution_ids(readers)
                   if e.type in OUTPUT_EVENTS})
    found = store.get_artifacts_by_id(made) if made else []
    found = [a for a in found if source.type_name("artifact", a.type_id) == type_name]
    return sorted(found, key=lambda a: -a.id)


def made_from(source: Source, artifact_id: int, type_name: str) -> list:
    """Inputs of `type_name` of the executions that made `artifact_id`."""
    store = source.store
    makers = sorted({e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                     if e.type in OUTPUT_EVENTS})
    if not makers:
        return []
    read = sorted({e.artifact_id for e in store.get_events_by_execution_ids(makers)
                   if e.type in INPUT_EVENTS})
    found = store.get_artifacts_by_id(read) if read else []
    return [a for a in found if source.type_name("artifact", a.type_id) == type_name]


def newest_schema(source: Source, pipeline: str):
    from ml_metadata import metadata_store as mlmd

    query = (f"type = 'Schema' AND contexts_p.type = 'pipeline' AND contexts_p.name = "
             f"{quoted(pipeline)}")
    found = source.store.get_artifacts(list_options=mlmd.ListOptions(
        filter_query=query, order_by=mlmd.OrderByField.ID, is_asc=False, limit=1))
    return found[0] if found else None


def _span_view(artifact) -> dict:
    p = properties(artifact)
    return {"id": artifact.id, "span": p.get("span"), "version": p.get("version"),
            "created": stamp(artifact.create_time_since_epoch), "uri": artifact.uri,
            "splits": split_names(artifact),
            "label": f"span {p.get('span', '?')}" + (f" v{p['version']}" if p.get("version")
                                                      else "") + f" (#{artifact.id})"}


def drift_between(source: Source, schema_uri: str, baseline_uri: str, current_uri: str,
                  split: str) -> list[dict]:
    """Drift rows of `current` against `baseline` (StatisticsGen outputs), as the trigger
    measures it: its comparators and thresholds from settings, its quantile histograms."""
    from framework.ct import drift

    for uri in (baseline_uri, current_uri):
        if read_bytes(_stats_path(uri, split)) is None:
            raise Problem(f"cannot compare: {_stats_path(uri, split)} is not there")
    try:
        schema = drift.load_schema(schema_uri)
    except (FileNotFoundError, OSError) as exc:
        raise Problem(f"cannot compare: no schema to compare with ({exc})") from None
    return drift.measure(schema, source.settings, drift.training_statistics(baseline_uri, split),
                         drift.training_statistics(current_uri, split))


def _stats_path(uri: str, split: str) -> str:
    return os.path.join(uri, f"Split-{split}", "FeatureStats.pb")


def data_page(source: Source, pipeline: Optional[str] = None, examples: Optional[int] = None,
              statistics: Optional[int] = None, split: Optional[str] = None,
              compare: Optional[int] = None) -> dict:
    """The Data page's data for one span (an Examples artifact): its features, anomalies,
    and, with `compare` (another span's Examples id), the drift from that span to this."""
    pipeline = pipeline or source.pipeline
    source.require_pipeline(pipeline)
    spans = [_span_view(a) for a in raw_examples(source, pipeline)]
    if not spans:
        raise Problem(f"pipeline '{pipeline}' has ingested no data yet (no ExampleGen output "
                      "in ML-Metadata)", hint="run the pipeline: mlops run")
    if statistics is not None and examples is None:
        inputs = made_from(source, statistics, "Examples")
        examples = inputs[0].id if inputs else None
    chosen = next((s for s in spans if s["id"] == examples), None) if examples else spans[0]
    if chosen is None:
        raise Problem(f"no span with Examples #{examples} in pipeline '{pipeline}'",
                      status=404)
    split = split or ("train" if "train" in chosen["splits"] else chosen["splits"][0])
    if split not in chosen["splits"]:
        raise Problem(f"span {chosen['span']} has no split '{split}' "
                      f"(it has: {', '.join(chosen['splits'])})", status=404)
    out = {"pipeline": pipeline, "spans": spans, "span": chosen, "split": split,
           "statistics": None, "features": [], "anomalies": [], "anomalies_artifact": None,
           "drift": None, "compare": None, "problems": []}
    stats = derived(source, chosen["id"], "ExampleStatistics")
    if not stats:
        out["problems"].append(f"span {chosen['span']} has no statistics yet (StatisticsGen "
                               "has not run on it)")
        return out
    out["statistics"] = {"id": stats[0].id, "uri": stats[0].uri}
    key = ("features", stats[0].id, split)
    features = source.memo.get(key)
    if features is None:
        try:
            features = source.memo.put(key, feature_rows(load_statistics(stats[0].uri, split)))
        except Problem as problem:
            out["problems"].append(problem.message)
            features = []
    out["features"] = features
    found = derived(source, stats[0].id, "ExampleAnomalies")
    if found:
        out["anomalies_artifact"] = {"id": found[0].id, "uri": found[0].uri}
        anomalies = load_anomalies(found[0].uri, split)
        if anomalies is None:
            out["problems"].append(f"the anomalies of split '{split}' are missing under "
                                   f"{found[0].uri}")
        out["anomalies"] = anomaly_rows(anomalies)
    if compare is not None:
        out["compare"], out["drift"] = _drift(source, pipeline, spans, compare, stats[0],
                                              split, out["problems"])
    return out


def _drift(source: Source, pipeline: str, spans: list[dict], compare: int, current,
           split: str, problems: list[str]):
    baseline_span = next((s for s in spans if s["id"] == compare), None)
    if baseline_span is None:
        problems.append(f"no span with Examples #{compare} to compare with")
        return None, None
    baseline = derived(source, compare, "ExampleStatistics")
    if not baseline:
        problems.append(f"span {baseline_span['span']} has no statistics to compare with")
        return baseline_span, None
    schema = newest_schema(source, pipeline)
    if schema is None:
        problems.append("no schema in ML-Metadata to set the drift comparators on")
        return baseline_span, None
    key = ("drift", baseline[0].id, current.id, schema.id, split)
    rows = source.memo.get(key)
    if rows is None:
        try:
            rows = source.memo.put(key, drift_between(source, schema.uri, baseline[0].uri,
                                                      current.uri, split))
        except Problem as problem:
            problems.append(problem.message)
            return baseline_span, None
    return baseline_span, {"rows": rows, "chart": charts.drift(
        [r for r in rows if r["value"] is not None]),
        "drifted": [r["feature"] for r in rows if r["drifted"]]}
