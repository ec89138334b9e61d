"""The registry state as a KServe InferenceService (serving.kserve.io/v1beta1).

KServe's canary model: the spec names the *latest* revision's model and `canaryTrafficPercent`
says how much traffic it gets; the previously rolled-out revision keeps the rest. Promotion
drops the field (the latest revision takes 100 %); setting it to 0 is the rollback, pinning
all traffic to the previous good revision. Canary rollout needs KServe's Serverless mode.
"""

from __future__ import annotations

from framework.release.registry import ReleaseError, ReleaseState, beside_state
from framework.storage import files

# What KServe's default storage initializer downloads from (its ClusterStorageContainer's
# URI formats), plus pvc:// (a volume claim KServe mounts) and oci:// (modelcars). A path
# on this machine is none of them: the predictor pod runs on the cluster.
READABLE = ("gs://", "s3://", "pvc://", "hdfs://", "webhdfs://", "https://", "http://",
            "hf://", "oci://")


def _filled(settings, version: str) -> str:
    template = settings.release.kserve.storage_uri
    try:
        return template.format(serving_dir=settings.pipeline.serving_dir.rstrip("/"),
                               version=version)
    except (KeyError, IndexError):
        raise ReleaseError(f"release.kserve.storage_uri '{template}': only {{serving_dir}} and "
                           "{version} can be filled in") from None


def storage_problem(settings) -> str | None:
    """Why KServe could not read the model at release.kserve.storage_uri, or None."""
    try:
        uri = _filled(settings, "{version}")
    except ReleaseError as exc:
        return str(exc)
    if uri.startswith(READABLE):
        return None
    return (f"release.kserve.storage_uri gives {uri}, which KServe on a cluster cannot read: "
            "set it (or pipeline.serving_dir) to a gs://, s3://, pvc://<claim>/... or https:// "
            "location of the pushed models")


def storage_uri(settings, version: str) -> str:
    problem = storage_problem(settings)
    if problem:
        raise ReleaseError(problem)
    return _filled(settings, version)


def inference_service(state: ReleaseState, settings) -> dict:
    """The InferenceService manifest that puts the registry's traffic on a cluster."""
    if state.production is None:
        raise ReleaseError("no production version yet: nothing to deploy "
                           "(mlops release promote VERSION)")
    ks = settings.release.kserve
    if state.canary:
        latest, percent = state.canary, state.canary_percent
    elif state.rolled_back:
        latest, percent = state.rolled_back, 0  # the rollback: pinned to the previous revision
    else:
        latest, percent = state.production, None
    predictor: dict = {
        "model": {"modelFormat": {"name": "tensorflow"},
                  "storageUri": storage_uri(settings, latest)},
    }
    if percent is not None:
        predictor["canaryTrafficPercent"] = percent
    if ks.service_account:
        predictor["serviceAccountName"] = ks.service_account
    annotations = {
        "serving.kserve.io/deploymentMode": "Serverless",
        "mlops.portable/production-version": state.production,
        "mlops.portable/registry-revision": str(state.revision),
    }
    if state.canary:
        annotations["mlops.portable/canary-version"] = state.canary
    if state.rolled_back and not state.canary:
        annotations["mlops.portable/rolled-back-version"] = state.rolled_back
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": ks.name or settings.pipeline.name,
            "namespace": ks.namespace,
            "labels": {"app.kubernetes.io/managed-by": "portable-mlops",
                       "mlops.portable/pipeline": settings.pipeline.name},
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }


def manifest_path(settings, state_path: str) -> str:
    explicit = settings.release.kserve.manifest_path
    if explicit:
        return explicit
    return beside_state(state_path, ".inferenceservice.yaml")


def write_manifest(state: ReleaseState, settings, state_path: str) -> str:
    import yaml

    path = manifest_path(settings, state_path)
    problem = storage_problem(settings)
    if problem:  # the registry already has the change; only the manifest waits
        raise ReleaseError(f"{problem}; the registry has the change, and once this is fixed "
                           f"`mlops release manifest -o {path}` writes its manifest")
    files.write_text(path, yaml.safe_dump(inference_service(state, settings), sort_keys=False))
    return path
