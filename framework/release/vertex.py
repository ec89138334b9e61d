"""The registry state on a Vertex AI endpoint, through google-cloud-aiplatform.

Each version is a Vertex Model (uploaded once from `<serving_dir>/<version>` with the
prebuilt TensorFlow serving image) deployed to the endpoint as `<model>-<version>`. The
endpoint's `traffic_split` is set from the registry's traffic; the last-good version stays
deployed at 0 % so a rollback is a traffic change, not a deployment; other versions of this
model are undeployed once they carry no traffic.
"""

from __future__ import annotations

from framework.release.registry import ReleaseError, ReleaseState


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
            serving_container_image_uri=self.options.serving_image,
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
