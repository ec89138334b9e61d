"""Bootstrap and refresh a pipeline's curated schema from the statistics of its data.

The inferred schema (TFDV, as SchemaGen does) supplies types, presence and value counts;
what a person curated in the existing schema is kept: lifecycle stages (e.g. features marked
DEPRECATED because the model does not use them), value domains and which features have a
string domain at all.
"""

from __future__ import annotations

from pathlib import Path

from framework.errors import UserError

CURATED_FIELDS = ("lifecycle_stage", "int_domain", "float_domain", "bool_domain", "domain")


def latest_statistics_uri(settings) -> str:
    """The newest StatisticsGen output of this pipeline recorded in ML-Metadata."""
    from framework.metadata import open_store

    with open_store(settings) as store:
        artifacts = store.get_artifacts_by_type("ExampleStatistics")
    if not artifacts:
        raise UserError(
            f"no statistics recorded yet for pipeline '{settings.pipeline.name}' "
            f"in {settings.metadata.sqlite_path}: run `mlops run` first"
        )
    return max(artifacts, key=lambda a: (a.create_time_since_epoch, a.id)).uri


def infer_schema(statistics_uri: str, split: str = "train"):
    import tensorflow_data_validation as tfdv

    path = Path(statistics_uri) / f"Split-{split}" / "FeatureStats.pb"
    if not path.exists():
        raise UserError(f"no statistics for split '{split}' at {path}")
    return tfdv.infer_schema(tfdv.load_stats_binary(str(path)))


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
    return merged, changes


def refresh_schema(settings, schema_file: Path, *, write: bool) -> list[str]:
    """Infer from the latest statistics, keep curation, and (if write) save to schema_file."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    inferred = infer_schema(latest_statistics_uri(settings))
    curated = tfdv.load_schema_text(str(schema_file)) if schema_file.exists() else schema_pb2.Schema()
    merged, changes = merge_curated(inferred, curated)
    if write and changes:
        schema_file.parent.mkdir(parents=True, exist_ok=True)
        tfdv.write_schema_text(merged, str(schema_file))
    return changes
