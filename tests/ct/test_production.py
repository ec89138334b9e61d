"""The schedule on KFP and Vertex AI, and the Pub/Sub entry point, at the client boundary.

The fakes accept only what the real client methods accept (tests/doubles.py binds every call
against the real signatures) and answer with the real kfp-server-api models.
"""

import base64
import json
from unittest import mock

import kfp
import pytest
from google.cloud import aiplatform

from framework.core.errors import UserError
from framework.ct import history
from framework.ct.events import match_input, on_new_files, parse_message
from framework.ct.production import kfp_recurring_run, schedule, vertex_schedule
from framework.runners.base import RunResult
from tests.ct.helpers import settings_for
from tests.doubles import shaped_like, signature_of


@shaped_like(kfp.Client)
class FakeKfpClient:
    def __init__(self):
        self.calls = []

    def create_experiment(self, **kwargs):
        import kfp_server_api

        self.calls.append(("create_experiment", kwargs))
        return kfp_server_api.V2beta1Experiment(experiment_id="exp-1",
                                                display_name=kwargs["name"])

    def create_recurring_run(self, **kwargs):
        import kfp_server_api

        self.calls.append(("create_recurring_run", kwargs))
        return kfp_server_api.V2beta1RecurringRun(
            recurring_run_id="rr-1", display_name=kwargs["job_name"],
            trigger=kfp_server_api.V2beta1Trigger(
                cron_schedule=kfp_server_api.V2beta1CronSchedule(cron=kwargs["cron_expression"])))


class FakeAiplatform:
    """Stands in for the google.cloud.aiplatform module."""

    def __init__(self):
        self.calls = []
        fake = self

        @shaped_like(aiplatform.PipelineJob)
        class PipelineJob:
            def __init__(self, **kwargs):
                fake.calls.append(("PipelineJob", kwargs))

            def create_schedule(self, **kwargs):
                fake.calls.append(("create_schedule", kwargs))
                created = mock.create_autospec(aiplatform.PipelineJobSchedule, instance=True)
                created.resource_name = "projects/p/schedules/42"
                return created

        self.PipelineJob = PipelineJob
        self.init = signature_of(aiplatform.init)(
            lambda **kwargs: self.calls.append(("init", kwargs)))


def test_kfp_recurring_run_gets_six_field_cron_and_the_package(tmp_path):
    settings = settings_for(tmp_path, MLOPS_CT__SCHEDULE="0 3 * * *",
                            MLOPS_KUBEFLOW__EXPERIMENT="taxi-ct")
    client = FakeKfpClient()
    created = kfp_recurring_run(settings, tmp_path / "taxi.yaml", client=client)
    (_, experiment), (_, job) = client.calls
    assert experiment["name"] == "taxi-ct"
    assert job["cron_expression"] == "0 0 3 * * *"
    assert job["experiment_id"] == "exp-1"
    assert job["pipeline_package_path"] == str(tmp_path / "taxi.yaml")
    assert job["max_concurrency"] == 1 and job["no_catchup"] is True
    assert created["id"] == "rr-1"


def test_vertex_schedule_is_created_from_the_pipeline_job(tmp_path):
    settings = settings_for(tmp_path, MLOPS_CT__SCHEDULE="@daily",
                            MLOPS_VERTEX__PROJECT="proj", MLOPS_VERTEX__REGION="europe-west4")
    fake = FakeAiplatform()
    created = vertex_schedule(settings, tmp_path / "taxi.json", aiplatform=fake)
    names = [name for name, _ in fake.calls]
    assert names == ["init", "PipelineJob", "create_schedule"]
    job, sched = fake.calls[1][1], fake.calls[2][1]
    assert job["template_path"] == str(tmp_path / "taxi.json")
    assert job["project"] == "proj" and job["location"] == "europe-west4"
    assert sched["cron"] == "0 0 * * *" and sched["max_concurrent_run_count"] == 1
    assert created["id"] == "projects/p/schedules/42"


def test_schedule_without_a_cron_or_on_the_local_runner_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="ct.schedule is not set"):
        schedule(settings_for(tmp_path), target="kubeflow", package_path="x.yaml",
                 client=FakeKfpClient())
    with pytest.raises(UserError, match="kubeflow or vertex"):
        schedule(settings_for(tmp_path, MLOPS_CT__SCHEDULE="@daily"), target="local")


def test_the_fakes_refuse_what_the_real_clients_refuse():
    """A misspelt argument fails in the doubles as it would against kfp and aiplatform."""
    client = FakeKfpClient()
    with pytest.raises(TypeError, match="unexpected keyword argument 'cron'"):
        client.create_recurring_run(experiment_id="exp-1", job_name="taxi-ct", cron="0 3 * * *")
    with pytest.raises(TypeError, match="unexpected keyword argument 'namespce'"):
        client.create_experiment(name="taxi-ct", namespce="kubeflow")
    fake = FakeAiplatform()
    with pytest.raises(TypeError, match="unexpected keyword argument 'region'"):
        fake.init(project="p", region="europe-west4")
    with pytest.raises(TypeError, match="unexpected keyword argument 'pipeline_roots'"):
        fake.PipelineJob(display_name="taxi-ct", template_path="taxi.json", pipeline_roots="gs://b")
    job = fake.PipelineJob(display_name="taxi-ct", template_path="taxi.json")
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_concurrency'"):
        job.create_schedule(cron="0 3 * * *", display_name="taxi-ct", max_concurrency=1)
    assert client.calls == [] and [name for name, _ in fake.calls] == ["PipelineJob"]


def _message(bucket, name, **attributes):
    data = base64.b64encode(json.dumps({"bucket": bucket, "name": name}).encode()).decode()
    return {"data": data, "attributes": attributes}


def test_message_formats_are_understood():
    plain = parse_message(_message("b", "data/span-3/x.csv"))
    pushed = parse_message({"message": _message("b", "data/span-3/x.csv"), "subscription": "s"})
    by_attributes = parse_message({"attributes": {"bucketId": "b", "objectId": "data/span-3/x.csv",
                                                  "eventType": "OBJECT_DELETE"}})
    assert plain == pushed == {"bucket": "b", "name": "data/span-3/x.csv",
                               "event_type": "OBJECT_FINALIZE"}
    assert by_attributes["event_type"] == "OBJECT_DELETE"
    with pytest.raises(UserError):
        parse_message({"data": base64.b64encode(b"{}").decode()})


class FakeRunner:
    runs = []

    def __init__(self, settings, **options):
        self.settings = settings

    def run(self, progress=None):
        FakeRunner.runs.append(self.settings.pipeline.data_root)
        return RunResult("taxi", "run-from-event", "fake", succeeded=True)


@pytest.fixture
def gcs_settings(tmp_path, monkeypatch):
    import framework.runners

    FakeRunner.runs = []
    monkeypatch.setattr(framework.runners, "get_runner",
                        lambda name, settings, **options: FakeRunner(settings, **options))
    return settings_for(tmp_path, MLOPS_PIPELINE__DATA_ROOT="gs://bucket/data",
                        MLOPS_PIPELINE__INPUT_PATTERN="span-{SPAN}/*.csv")


def test_new_file_under_the_data_root_starts_one_run_and_is_recorded(gcs_settings):
    decision = on_new_files(_message("bucket", "data/span-7/part-0.csv"), settings=gcs_settings)
    assert FakeRunner.runs == ["gs://bucket/data"]
    assert decision["action"] == "run" and decision["run"]["run_id"] == "run-from-event"
    assert decision["triggers"][0]["evidence"][0]["span"] == 7
    assert history.read(gcs_settings)[-1]["command"] == "event"


def test_files_outside_the_input_pattern_are_ignored_and_recorded(gcs_settings):
    decision = on_new_files(_message("bucket", "other/span-7/part-0.csv"), settings=gcs_settings)
    assert FakeRunner.runs == []
    assert decision["action"] == "none"
    assert "not a new file matching" in history.read(gcs_settings)[-1]["triggers"][0]["reason"]


def test_match_input_reads_the_span_number(gcs_settings):
    assert match_input(gcs_settings, "gs://bucket/data/span-12/a.csv") == 12
    assert match_input(gcs_settings, "gs://bucket/data/span-x/a.csv") is None
    assert match_input(gcs_settings, "gs://bucket/data/span-1/sub/a.csv") is None
