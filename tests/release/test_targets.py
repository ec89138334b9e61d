"""Production targets: KServe manifests field by field, Vertex calls at the client boundary."""

from __future__ import annotations

import itertools
import types
from pathlib import Path

import pytest
import yaml
from google.cloud import aiplatform

from framework.release.kserve import inference_service, write_manifest
from framework.release.registry import Registry
from framework.release.vertex import VertexEndpointTarget
from framework.settings import load_settings
from tests.doubles import shaped_like
from tests.release.test_registry import fake_push


@pytest.fixture
def settings(tmp_path):
    env = {
        "MLOPS_PIPELINE__SERVING_DIR": str(tmp_path / "serving"),
        "MLOPS_RELEASE__KSERVE__NAMESPACE": "models",
        "MLOPS_RELEASE__KSERVE__STORAGE_URI": "gs://bucket/taxi/{version}",
        "MLOPS_RELEASE__KSERVE__SERVICE_ACCOUNT": "kserve-reader",
        "MLOPS_RELEASE__VERTEX_ENDPOINT__ENDPOINT": "1234567890",
        "MLOPS_VERTEX__PROJECT": "demo-project",
        "MLOPS_VERTEX__REGION": "europe-west4",
    }
    return load_settings("taxi", "test", environ=env)


@pytest.fixture
def registry(settings, tmp_path):
    for version in ("100", "200", "300"):
        fake_push(tmp_path / "serving", version)
    return Registry(tmp_path / "serving.release.json", settings.pipeline.serving_dir, "taxi")


def predictor(manifest: dict) -> dict:
    return manifest["spec"]["predictor"]


def test_first_release_is_a_plain_inference_service(registry, settings):
    manifest = inference_service(registry.promote("100", by="test"), settings)
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1"
    assert manifest["kind"] == "InferenceService"
    assert manifest["metadata"]["name"] == "taxi"
    assert manifest["metadata"]["namespace"] == "models"
    assert manifest["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert predictor(manifest) == {
        "model": {"modelFormat": {"name": "tensorflow"}, "storageUri": "gs://bucket/taxi/100"},
        "serviceAccountName": "kserve-reader",
    }


def test_canary_puts_the_new_model_on_the_latest_revision_with_its_percent(registry, settings):
    registry.promote("100", by="test")
    manifest = inference_service(registry.canary("200", 10, by="test"), settings)
    assert predictor(manifest)["canaryTrafficPercent"] == 10
    assert predictor(manifest)["model"]["storageUri"] == "gs://bucket/taxi/200"
    notes = manifest["metadata"]["annotations"]
    assert notes["mlops.portable/production-version"] == "100"
    assert notes["mlops.portable/canary-version"] == "200"


def test_promotion_drops_canary_traffic_percent(registry, settings):
    registry.promote("100", by="test")
    registry.canary("200", 10, by="test")
    manifest = inference_service(registry.promote(by="test"), settings)
    assert "canaryTrafficPercent" not in predictor(manifest)
    assert predictor(manifest)["model"]["storageUri"] == "gs://bucket/taxi/200"


def test_rollback_is_canary_traffic_percent_zero_on_the_bad_model(registry, settings, tmp_path):
    registry.promote("100", by="test")
    registry.canary("200", 30, by="test")
    state = registry.rollback(by="test", reason="errors")
    manifest = inference_service(state, settings)
    assert predictor(manifest)["canaryTrafficPercent"] == 0
    assert predictor(manifest)["model"]["storageUri"] == "gs://bucket/taxi/200"
    assert manifest["metadata"]["annotations"]["mlops.portable/rolled-back-version"] == "200"
    written = yaml.safe_load(Path(write_manifest(state, settings, str(registry.state_path))).read_text())
    assert written == manifest


def test_rollback_of_a_promoted_version_is_also_percent_zero(registry, settings):
    registry.promote("100", by="test")
    registry.canary("200", 30, by="test")
    registry.promote(by="test")
    manifest = inference_service(registry.rollback(by="test"), settings)
    assert predictor(manifest)["canaryTrafficPercent"] == 0
    assert manifest["metadata"]["annotations"]["mlops.portable/production-version"] == "100"


# -- Vertex AI, faked at google.cloud.aiplatform's Endpoint and Model classes --------------
# The fakes accept only what the real classes' methods accept (tests/doubles.py).

class FakeDeployedModel:
    """The DeployedModel record Endpoint.list_models returns: data, no methods."""

    def __init__(self, id, display_name, model):
        self.id, self.display_name, self.model = id, display_name, model


@shaped_like(aiplatform.Model)
class FakeModel:
    uploads: list = []

    @classmethod
    def list(cls, filter=None, order_by=None, project=None, location=None, credentials=None):
        name = filter.split('"')[1]
        return [m for m in cls.uploads if m.display_name == name]

    @classmethod
    def upload(cls, **kwargs):
        model = types.SimpleNamespace(**kwargs)  # what was uploaded, read back by the tests
        cls.uploads.append(model)
        return model


@shaped_like(aiplatform.Endpoint)
class FakeEndpoint:
    """Keeps Vertex's rules: traffic sums to 100; only models without traffic are undeployed."""

    instances: list = []
    ids = itertools.count(1)

    def __init__(self, endpoint_name, project=None, location=None, credentials=None):
        self.args = (endpoint_name, project, location)
        self.deployed: list[FakeDeployedModel] = FakeEndpoint.state
        self.calls = FakeEndpoint.calls
        FakeEndpoint.instances.append(self)

    def list_models(self):
        return list(self.deployed)

    def deploy(self, model, deployed_model_display_name, traffic_percentage, **kwargs):
        assert traffic_percentage == (100 if not self.deployed else 0)
        self.calls.append(("deploy", deployed_model_display_name, traffic_percentage))
        self.deployed.append(FakeDeployedModel(str(next(self.ids)), deployed_model_display_name,
                                               model))
        if not self.deployed[:-1]:
            FakeEndpoint.split = {self.deployed[-1].id: 100}
        self.kwargs = kwargs

    def update(self, traffic_split=None, **kwargs):
        assert sum(traffic_split.values()) == 100
        assert set(traffic_split) <= {m.id for m in self.deployed}
        self.calls.append(("update", dict(traffic_split)))
        FakeEndpoint.split = dict(traffic_split)

    def undeploy(self, deployed_model_id, **kwargs):
        assert FakeEndpoint.split.get(deployed_model_id, 0) == 0, "undeploy of a model with traffic"
        self.calls.append(("undeploy", deployed_model_id))
        self.deployed[:] = [m for m in self.deployed if m.id != deployed_model_id]


@pytest.fixture
def fake_vertex(monkeypatch):
    FakeEndpoint.state, FakeEndpoint.calls, FakeEndpoint.split = [], [], {}
    FakeEndpoint.instances, FakeModel.uploads = [], []
    monkeypatch.setattr(aiplatform, "Endpoint", FakeEndpoint)
    monkeypatch.setattr(aiplatform, "Model", FakeModel)
    return FakeEndpoint


def test_vertex_traffic_split_follows_canary_promote_and_rollback(registry, settings,
                                                                  fake_vertex):
    target = VertexEndpointTarget(settings)
    ids = {}

    def names_to_ids():
        return {m.display_name: m.id for m in fake_vertex.state}

    assert target.apply(registry.promote("100", by="test")) == {"1": 100}
    assert fake_vertex.instances[0].args == ("1234567890", "demo-project", "europe-west4")
    upload = FakeModel.uploads[0]
    assert upload.display_name == "taxi-100"
    assert upload.artifact_uri == f"{settings.pipeline.serving_dir}/100"
    assert upload.serving_container_image_uri.startswith("us-docker.pkg.dev/vertex-ai/")
    assert fake_vertex.instances[0].kwargs["machine_type"] == "n1-standard-2"

    split = target.apply(registry.canary("200", 10, by="test"))
    ids = names_to_ids()
    assert split == {ids["taxi-100"]: 90, ids["taxi-200"]: 10}
    assert ("deploy", "taxi-200", 0) in fake_vertex.calls

    split = target.apply(registry.promote(by="test"))
    assert split == {ids["taxi-200"]: 100}
    assert set(names_to_ids()) == {"taxi-100", "taxi-200"}  # last good stays deployed at 0 %

    split = target.apply(registry.canary("300", 20, by="test"))
    ids = names_to_ids()
    assert split == {ids["taxi-200"]: 80, ids["taxi-300"]: 20}
    assert set(ids) == {"taxi-200", "taxi-300"}  # 100 is no longer the last good version

    split = target.apply(registry.rollback(by="test", reason="errors"))
    assert split == {ids["taxi-200"]: 100}
    assert fake_vertex.calls[-1] == ("undeploy", ids["taxi-300"])
    assert fake_vertex.split == {ids["taxi-200"]: 100}


def test_vertex_target_needs_an_endpoint(tmp_path):
    from framework.core.errors import UserError

    settings = load_settings("taxi", "test", environ={})
    with pytest.raises(UserError, match="release.vertex_endpoint.endpoint is not set"):
        VertexEndpointTarget(settings, aiplatform=object())


def test_the_vertex_fakes_refuse_what_the_real_endpoint_and_model_refuse(fake_vertex):
    """A misspelt argument fails in the doubles as it would against google-cloud-aiplatform."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'region'"):
        FakeEndpoint("1234567890", project="demo-project", region="europe-west4")
    endpoint = FakeEndpoint("1234567890")
    with pytest.raises(TypeError, match="unexpected keyword argument 'traffic_percent'"):
        endpoint.deploy(model=None, deployed_model_display_name="taxi-1", traffic_percent=100)
    with pytest.raises(TypeError, match="unexpected keyword argument 'split'"):
        endpoint.update(split={"1": 100})
    with pytest.raises(TypeError, match="unexpected keyword argument 'drain'"):
        endpoint.undeploy(deployed_model_id="1", drain=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'artifact_url'"):
        FakeModel.upload(display_name="taxi-1", artifact_url="gs://b/taxi/1")
    with pytest.raises(TypeError, match="unexpected keyword argument 'filters'"):
        FakeModel.list(filters='display_name="taxi-1"')
    assert fake_vertex.calls == [] and FakeModel.uploads == []
