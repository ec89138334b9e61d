"""ValidationGate: stops the pipeline when ExampleValidator found anomalies.

TFX's ExampleValidator only records anomalies; downstream components run anyway. This
component fails when any split has one, and the pipeline factory makes Transform depend on
it, so a bad data file never reaches Transform or Trainer. Being a component (not a check
in the local runner), it stops the run the same way on Kubeflow and Vertex.
"""


import os

from tfx import v1 as tfx

GATE_ERROR_PREFIX = "data validation failed"


def describe_anomalies(anomalies_uri: str, split_names: list[str]) -> list[str]:
    """One entry per anomalous column: "column 'fare': <what> (splits train, eval)"."""
    from tensorflow_data_validation.utils.anomalies_util import load_anomalies_binary

    found: dict[str, list[str]] = {}
    for split in split_names:
        path = os.path.join(anomalies_uri, f"Split-{split}", "SchemaDiff.pb")
        anomalies = load_anomalies_binary(path)
        for column, info in sorted(anomalies.anomaly_info.items()):
            what = info.short_description or info.description
            found.setdefault(f"column '{column}': {what}", []).append(split)
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            found.setdefault(f"dataset: {info.short_description or info.description}", []).append(split)
    return [f"{what} (split {', '.join(splits)})" for what, splits in found.items()]


@tfx.dsl.components.component
def ValidationGate(  # noqa: N802 - TFX components are named like classes
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
) -> None:
    from tfx.types import artifact_utils

    splits = artifact_utils.decode_split_names(anomalies.split_names)
    found = describe_anomalies(anomalies.uri, splits)
    if found:
        raise RuntimeError(f"{GATE_ERROR_PREFIX}: " + " | ".join(found))
