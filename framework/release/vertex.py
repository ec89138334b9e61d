"""The registry state on a Vertex AI endpoint, through google-cloud-aiplatform.

Each version is a Vertex Model (uploaded once from `<serving_dir>/<version>` with the
prebuilt TensorFlow serving image) deployed to the endpoint as `<model>-<version>`. The
endpoint's `traffic_split` is set from the registry's traffic; the last-good version stays
deployed at 0 % so a rollback is a traffic change, not a deployment; other versions of this
model are undeployed once they carry no traffic.
"""

from __future__ import annotations

import re

from framework.release.registry import ReleaseError, ReleaseState

SETTING = "release.vertex_endpoint.serving_image"
PREBUILT = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.{major}-{minor}:latest"
# Vertex AI's prebuilt TensorFlow images name the TensorFlow they serve: tf2-cpu.2-16.
PREBUILT_TF = re.compile(r"/vertex-ai/prediction/tf2?-[a-z]+\.(\d+)-(\d+)(?=[:@]|$)")


def training_tensorflow() -> str:
    """major.minor of the TensorFlow that trains the models: the one installed here, which
    the pipeline image installs from the same constraints.txt."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        raise ReleaseError(f"tensorflow is not installed here, so {SETTING} cannot follow it: "
                           "set it to the serving image of the model's TensorFlow") from None
    return ".".join(version.split(".")[:2])


def serving_image(settings) -> str:
    """The image each version's Vertex Model is uploaded with; null: the training TF's."""
    explicit = settings.release.vertex_endpoint.serving_image
    if explicit:
        return explicit
    major, minor = training_tensorflow().split(".")
    return PREBUILT.format(major=major, minor=minor)


def serving_image_problem(settings) -> str | None:
    """Why the explicitly set serving image cannot serve the models, or None."""
    image = settings.release.vertex_endpoint.serving_image
    match = PREBUILT_TF.search(image or "")
    if not match:  # null (follows training), or a custom image: nothing to compare
        return None
    serves, trained = f"{match[1]}.{match[2]}", training_tensorflow()
    if serves == trained:
        return None
    fixed = image[:match.start(1)] + trained.replace(".", "-") + image[match.end(2):]
    return (f"{SETTING} {image} serves TensorFlow {serves}, but the models are trained with "
            f"TensorFlow {trained}: set it to {fixed}, or to null to follow the training "
            "TensorFlow")


class VertexEndpointTarget:
    def __init__(self, settings, aiplatform=None) -> None:
        if aiplatform is None:
            from google.cloud import aiplatform
        self.ai = aiplatform
        self.settings = settings
        ep = settings.release.vertex_endpoint
        if not ep.endpoint:
            raise ReleaseError("release.vertex_endpoint.endpoint is not set (an endpoint ID or "
                               "projects/.../locations/.../endpoints/... name)")
        self.options = ep
        self.project = settings.vertex.project
        self.location = settings.vertex.region
        self.model_name = settings.release.model_name or settings.pipeline.name

    def display_name(self, version: str) -> str:
        return f"{self.model_name}-{version}"

    def _endpoint(self):
        return self.ai.Endpoint(endpoint_name=self.options.endpoint, project=self.project,
                                location=self.location)

    def _model(self, version: str):
        name = self.display_name(version)
        found = self.ai.Model.list(filter=f'display_name="{name}"', project=self.project,
                                   location=self.location)
        if found:
            return found[0]
        uri = f"{self.settings.pipeline.serving_dir.rstrip('/')}/{version}"
        return self.ai.Model.upload(
            display_name=name, artifact_uri=uri,
            serving_container_image_uri=serving_image(self.settings),
            labels={"mlops-pipeline": self.settings.pipeline.name, "mlops-version": version},
            project=self.project, location=self.location,
        )

    def apply(self, state: ReleaseState) -> dict[str, int]:
        """Make the endpoint carry the registry's traffic; returns the traffic_split sent."""
        traffic = state.traffic()
        if not traffic:
            raise ReleaseError("no production version yet: nothing to deploy")
        endpoint = self._endpoint()
        deployed = {m.display_name: m.id for m in endpoint.list_models()}
        for version in traffic:
            name = self.display_name(version)
            if name in deployed:
                continue
            # The first model on an empty endpoint must take all traffic; later ones start at
            # 0 and get their share from the one traffic_split update below.
            endpoint.deploy(
                model=self._model(version), deployed_model_display_name=name,
                traffic_percentage=100 if not deployed else 0,
                machine_type=self.options.machine_type,
                min_replica_count=self.options.min_replicas,
                max_replica_count=self.options.max_replicas,
            )
            deployed = {m.display_name: m.id for m in endpoint.list_models()}
        split = {deployed[self.display_name(v)]: p for v, p in traffic.items() if p > 0}
        endpoint.update(traffic_split=split)
        keep = {self.display_name(v) for v in [*traffic, state.last_good] if v}
        prefix = f"{self.model_name}-"
        for name, deployed_id in deployed.items():
            if name.startswith(prefix) and name not in keep:
                endpoint.undeploy(deployed_model_id=deployed_id)
        return split
