"""Bootstrap and refresh a pipeline's curated schema from the statistics of its data.

The inferred schema (TFDV, as SchemaGen does) supplies types, presence and value counts;
what a person curated in the existing schema is kept: lifecycle stages (e.g. features marked
DEPRECATED because the model does not use them), value domains and which features have a
string domain at all, skew and drift comparators, and environments (the schema's
default environments and which features are in or out of each, e.g. the label kept out of
SERVING).
"""

from __future__ import annotations

import os
from pathlib import Path

from framework.core.errors import UserError

CURATED_FIELDS = ("lifecycle_stage", "int_domain", "float_domain", "bool_domain", "domain",
                  "skew_comparator", "drift_comparator")
CURATED_LISTS = ("in_environment", "not_in_environment")  # repeated: no HasField
# The class name ending the MLMD execution type of a StatisticsGen node (TFX names the type
# by the component class's path). Transform's statistics are ExampleStatistics too, but of
# the transformed data: only StatisticsGen describes the raw examples the schema is for.
STATISTICS_GEN = "StatisticsGen"


def parse_schema_file(path: str | os.PathLike):
    """A curated schema.pbtxt as a Schema message (text format; no TFDV import)."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(Path(path).read_text(), schema_pb2.Schema())


def latest_statistics_uri(settings) -> str:
    """The newest StatisticsGen output of this pipeline's runs recorded in ML-Metadata."""
    from framework.metadata.store import describe_store, open_store

    name, where = settings.pipeline.name, describe_store(settings)
    sqlite = settings.metadata.sqlite_path if settings.metadata.mysql is None else None
    if sqlite and not os.path.exists(sqlite):  # opening would create an empty store
        raise UserError(_no_runs(name, where))
    with open_store(settings) as store:
        return pipeline_statistics_uri(store, name, where)


def _no_runs(pipeline: str, where: str) -> str:
    return (f"no runs of pipeline '{pipeline}' recorded in ML-Metadata ({where}): run "
            f"`mlops run --pipeline {pipeline}` first")


def pipeline_statistics_uri(store, pipeline: str, where: str = "ML-Metadata") -> str:
    """URI of the newest statistics a StatisticsGen of `pipeline` produced. Executions are
    found by the pipeline's context, so another pipeline's runs in the store never count."""
    context = store.get_context_by_type_and_name("pipeline", pipeline)
    if context is None:
        raise UserError(_no_runs(pipeline, where))
    found = _statistics_gen_outputs(store, context.id)
    if not found:
        raise UserError(f"no StatisticsGen output of pipeline '{pipeline}' in ML-Metadata "
                        f"({where}): no run got past StatisticsGen yet; run "
                        f"`mlops run --pipeline {pipeline}` first")
    return max(found, key=lambda a: (a.create_time_since_epoch, a.id)).uri


def _statistics_gen_outputs(store, context_id: int) -> list:
    """The ExampleStatistics of the finished (complete or cached) StatisticsGen executions
    in one context; a failed or running execution's outputs may be partial."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from framework.metadata.store import output_artifacts

    types = {t.id: t.name for t in store.get_execution_types()}
    finished = (pb.Execution.COMPLETE, pb.Execution.CACHED)
    return [artifact for execution in store.get_executions_by_context(context_id)
            if execution.last_known_state in finished
            and types.get(execution.type_id, "").rsplit(".", 1)[-1] == STATISTICS_GEN
            for artifact in output_artifacts(store, execution.id, "ExampleStatistics")]


def read_statistics(statistics_uri: str, split: str = "train"):
    """One split's statistics, read with tf.io.gfile: the URI may be a gs:// folder (a
    pipeline_root in a bucket), which `open()` or `pathlib` would take for a local path."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from framework.storage.files import join

    path = join(statistics_uri, f"Split-{split}", "FeatureStats.pb")
    statistics = statistics_pb2.DatasetFeatureStatisticsList()
    try:
        if not tf.io.gfile.exists(path):
            raise UserError(f"no statistics for split '{split}' at {path}")
        with tf.io.gfile.GFile(path, "rb") as handle:
            statistics.ParseFromString(handle.read())
    except tf.errors.OpError as exc:  # e.g. no credentials for the bucket: one line
        raise UserError(f"cannot read {path}: {exc.message.splitlines()[0]}") from None
    return statistics


def infer_schema(statistics_uri: str, split: str = "train"):
    import tensorflow_data_validation as tfdv

    return tfdv.infer_schema(read_statistics(statistics_uri, split))


def merge_curated(inferred, curated):
    """`inferred` with the curated parts of `curated` carried over; returns (schema, changes)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    merged = schema_pb2.Schema()
    merged.CopyFrom(inferred)
    old = {f.name: f for f in curated.feature}
    changes = []
    for feature in merged.feature:
        before = old.get(feature.name)
        if before is None:
            changes.append(f"added feature '{feature.name}'")
            continue
        for name in CURATED_FIELDS:
            feature.ClearField(name)
            if before.HasField(name) if name != "domain" else bool(before.domain):
                if name == "domain":
                    feature.domain = before.domain
                elif name == "lifecycle_stage":
                    feature.lifecycle_stage = before.lifecycle_stage
                else:
                    getattr(feature, name).CopyFrom(getattr(before, name))
        for name in CURATED_LISTS:
            feature.ClearField(name)
            getattr(feature, name).extend(getattr(before, name))
        if feature.type != before.type:
            changes.append(
                f"feature '{feature.name}': type {schema_pb2.FeatureType.Name(before.type)} -> "
                f"{schema_pb2.FeatureType.Name(feature.type)}"
            )
        elif feature.SerializeToString(deterministic=True) != before.SerializeToString(
            deterministic=True
        ):
            changes.append(f"feature '{feature.name}': presence or value counts updated")
    names = {f.name for f in merged.feature}
    changes += [f"removed feature '{n}'" for n in old if n not in names]
    used = {f.domain for f in merged.feature if f.domain}
    del merged.string_domain[:]
    by_name = {d.name: d for d in inferred.string_domain}
    by_name.update({d.name: d for d in curated.string_domain})
    merged.string_domain.extend(by_name[n] for n in sorted(used) if n in by_name)
    del merged.default_environment[:]
    merged.default_environment.extend(curated.default_environment)
    return merged, changes


def refresh_schema(statistics_uri: str, schema_file: Path, *, write: bool) -> list[str]:
    """Infer from the statistics, keep curation, and (if write) save to schema_file."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    inferred = infer_schema(statistics_uri)
    curated = tfdv.load_schema_text(str(schema_file)) if schema_file.exists() else schema_pb2.Schema()
    merged, changes = merge_curated(inferred, curated)
    if write and changes:
        schema_file.parent.mkdir(parents=True, exist_ok=True)
        tfdv.write_schema_text(merged, str(schema_file))
    return changes
