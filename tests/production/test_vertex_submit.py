"""Vertex AI submission, checked at the google-cloud-aiplatform boundary, without network."""

from __future__ import annotations

import json
import types

import pytest
from google.cloud import aiplatform

from tests.doubles import shaped_like, signature_of
from tests.production.conftest import ROOT, TAG

STAGING_ROOT = "gs://portable-mlops-staging/pipelines/taxi"
SERVICE_ACCOUNT = "pipelines@portable-mlops-staging.iam.gserviceaccount.com"


@shaped_like(aiplatform.PipelineJob)
class FakePipelineJob:
    """Stands in for aiplatform.PipelineJob: records what it was built and submitted with.
    Its methods accept only what the real PipelineJob's accept (tests/doubles.py)."""

    instances: list = []
    states: list = ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED"]
    error: str | None = None

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.submitted_with = None
        self._polls = 0
        FakePipelineJob.instances.append(self)

    def submit(self, service_account=None):
        self.submitted_with = {"service_account": service_account}

    @property
    def state(self):
        name = self.states[min(self._polls, len(self.states) - 1)]
        self._polls += 1
        self._gca_resource = types.SimpleNamespace(
            error=types.SimpleNamespace(message=self.error) if self.error else None)
        return types.SimpleNamespace(name=name)


def fake_init(calls: list):
    """aiplatform.init that records its arguments; it accepts only what the real one does."""
    return signature_of(aiplatform.init)(lambda **kw: calls.append(kw))


@pytest.fixture
def vertex(compiled_vertex, monkeypatch, capsys):
    """`mlops deploy --target vertex --env staging --package <compiled>`, aiplatform faked."""
    from framework.cli import main

    inits = []
    FakePipelineJob.instances = []
    FakePipelineJob.states = ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_SUCCEEDED"]
    FakePipelineJob.error = None
    monkeypatch.setattr(aiplatform, "PipelineJob", FakePipelineJob)
    monkeypatch.setattr(aiplatform, "init", fake_init(inits))
    for name in [n for n in __import__("os").environ if n.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(ROOT))

    def call(*extra: str):
        capsys.readouterr()
        code = main(["deploy", "--target", "vertex", "--env", "staging", "--tag", TAG,
                     "--package", str(compiled_vertex.compiled.path), "--poll", "0.01",
                     *extra])
        out = capsys.readouterr()
        return code, out.out + out.err, inits

    return call


def test_submit_builds_the_job_from_staging_settings(vertex, compiled_vertex):
    code, output, inits = vertex("--run")
    assert code == 0, output
    [job] = FakePipelineJob.instances
    assert inits == [{"project": "portable-mlops-staging", "location": "europe-west4"}]
    fields = job.kwargs
    assert fields["project"] == "portable-mlops-staging"
    assert fields["location"] == "europe-west4"
    assert fields["template_path"] == str(compiled_vertex.compiled.path)
    assert fields["pipeline_root"] == STAGING_ROOT
    assert fields["labels"] == {"team": "mlops", "env": "staging", "pipeline": "taxi",
                                "version": TAG}
    assert fields["enable_caching"] is True
    assert fields["parameter_values"] == {}
    assert fields["display_name"] == f"taxi-{TAG}"
    assert fields["job_id"].startswith(f"taxi-{TAG}-")
    assert job.submitted_with == {"service_account": SERVICE_ACCOUNT}
    assert "submitted to portable-mlops-staging/europe-west4" in output


def test_without_run_the_job_is_built_but_not_submitted(vertex):
    code, output, _ = vertex()
    assert code == 0, output
    [job] = FakePipelineJob.instances
    assert job.submitted_with is None
    assert "nothing submitted" in output


def test_caching_off_in_settings_reaches_the_job(vertex, monkeypatch):
    monkeypatch.setenv("MLOPS_VERTEX__ENABLE_CACHING", "false")
    code, output, _ = vertex("--run")
    assert code == 0, output
    assert FakePipelineJob.instances[0].kwargs["enable_caching"] is False


def test_wait_for_a_job_that_succeeds(vertex):
    code, output, _ = vertex("--run", "--wait", "--timeout", "30")
    assert code == 0, output
    assert "PIPELINE_STATE_SUCCEEDED" in output


def test_wait_for_a_job_that_fails_exits_non_zero_with_state_and_error(vertex):
    FakePipelineJob.states = ["PIPELINE_STATE_RUNNING", "PIPELINE_STATE_FAILED"]
    FakePipelineJob.error = "The DAG failed because some tasks failed: Trainer"
    code, output, _ = vertex("--run", "--wait", "--timeout", "30")
    assert code == 4
    assert "ended PIPELINE_STATE_FAILED: The DAG failed because some tasks failed: Trainer" \
        in output


def test_wait_that_times_out_exits_non_zero(vertex):
    FakePipelineJob.states = ["PIPELINE_STATE_RUNNING"]
    code, output, _ = vertex("--run", "--wait", "--timeout", "0.2")
    assert code == 5
    assert "still PIPELINE_STATE_RUNNING" in output


def test_the_real_pipelinejob_class_accepts_the_compiled_json(compiled_vertex):
    """The real aiplatform.PipelineJob parses our JSON (no call is made: anonymous creds)."""
    from google.auth.credentials import AnonymousCredentials

    from framework.production.vertex_submit import job_fields

    runner = compiled_vertex.runner
    fields = job_fields(runner.target_settings, compiled_vertex.compiled, TAG)
    fields["enable_caching"] = False
    job = aiplatform.PipelineJob(**fields, credentials=AnonymousCredentials())
    resource = job._gca_resource
    assert job.project == "portable-mlops-staging" and job.location == "europe-west4"
    assert resource.runtime_config.gcs_output_directory == STAGING_ROOT
    assert dict(resource.labels)["version"] == TAG
    spec = json.loads(compiled_vertex.compiled.path.read_text())["pipelineSpec"]
    tasks = dict(resource.pipeline_spec["root"]["dag"]["tasks"])
    assert set(tasks) == set(spec["root"]["dag"]["tasks"])
    assert all(dict(t["cachingOptions"]).get("enableCache") is False for t in tasks.values())


def test_missing_google_credentials_is_one_line(vertex, monkeypatch):
    from google.auth.exceptions import DefaultCredentialsError

    @signature_of(aiplatform.PipelineJob)
    def no_credentials(**kwargs):
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(aiplatform, "PipelineJob", no_credentials)
    code, output, _ = vertex("--run")
    assert code == 2
    assert output.strip().startswith("error: no Google Cloud credentials: run `gcloud auth")
    assert "Traceback" not in output


def test_the_fakes_refuse_what_the_real_pipelinejob_and_init_refuse():
    """A misspelt argument fails in the doubles as it would against google-cloud-aiplatform."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'enable_cache'"):
        FakePipelineJob(display_name="taxi", template_path="taxi.json", enable_cache=False)
    job = FakePipelineJob(display_name="taxi", template_path="taxi.json")
    with pytest.raises(TypeError, match="unexpected keyword argument 'service_acount'"):
        job.submit(service_acount="sa@p.iam.gserviceaccount.com")
    with pytest.raises(TypeError, match="unexpected keyword argument 'region'"):
        fake_init([])(project="p", region="europe-west4")
