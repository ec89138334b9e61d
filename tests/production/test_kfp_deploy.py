"""`mlops deploy --target kubeflow` against the local KFP v2beta1 double (see conftest)."""

from __future__ import annotations

import pytest

from tests.production.conftest import ROOT, TAG, ContractError, parse_model

SECRET = "kfp-test-token-5be1c0de"


@pytest.fixture
def deploy(kfp_server, compiled_kubeflow, monkeypatch, capsys):
    """Run `mlops deploy --target kubeflow --env dev --package <compiled>` in this process."""
    from framework.cli import main

    for name in [n for n in __import__("os").environ if n.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(ROOT))
    monkeypatch.setenv("MLOPS_KUBEFLOW__HOST", kfp_server.url)
    monkeypatch.setenv("KFP_TOKEN", SECRET)

    def call(*extra: str, tag: str = TAG):
        capsys.readouterr()
        code = main(["deploy", "--target", "kubeflow", "--env", "dev", "--tag", tag,
                     "--package", str(compiled_kubeflow.compiled.path),
                     "--poll", "0.02", *extra])
        out = capsys.readouterr()
        return code, out.out + out.err

    return call


def _uploads(state):
    return [(kind, name) for kind, name, _ in state.uploads]


def test_first_deploy_creates_experiment_pipeline_and_tagged_version(deploy, kfp_server):
    code, output = deploy()
    state = kfp_server.state
    assert code == 0, output
    assert [e.display_name for e in state.experiments.values()] == ["taxi-dev"]
    assert [p.display_name for p in state.pipelines.values()] == ["taxi"]
    assert _uploads(state) == [("pipeline", "taxi"), ("version", TAG)]
    [versions] = state.versions.values()
    assert versions[-1].display_name == TAG
    assert versions[-1].pipeline_spec["pipelineInfo"]["name"] == "taxi"
    assert "created: experiment taxi-dev, pipeline taxi, version " + TAG in output
    assert not state.runs


def test_a_new_tag_adds_a_version_to_the_same_pipeline(deploy, kfp_server):
    assert deploy()[0] == 0
    code, output = deploy(tag="v1.1.0")
    assert code == 0, output
    assert len(kfp_server.state.pipelines) == 1
    [versions] = kfp_server.state.versions.values()
    assert [v.display_name for v in versions] == ["taxi", TAG, "v1.1.0"]
    assert "created: version v1.1.0" in output


def test_the_same_tag_twice_creates_nothing(deploy, kfp_server):
    assert deploy()[0] == 0
    before = list(kfp_server.state.uploads)
    code, output = deploy()
    assert code == 0, output
    assert kfp_server.state.uploads == before
    assert "already deployed" in output and "created: nothing new" in output


def test_run_starts_the_tagged_version_in_the_experiment(deploy, kfp_server):
    code, output = deploy("--run")
    state = kfp_server.state
    assert code == 0, output
    [body] = state.run_bodies
    [experiment] = state.experiments.values()
    [versions] = state.versions.values()
    assert body["experiment_id"] == experiment.experiment_id
    assert body["pipeline_version_reference"] == {
        "pipeline_id": versions[-1].pipeline_id,
        "pipeline_version_id": versions[-1].pipeline_version_id}
    assert body["display_name"].startswith(f"taxi-{TAG}-")
    assert body["runtime_config"].get("parameters") in (None, {})
    assert "started in experiment taxi-dev" in output


def test_wait_for_a_run_that_succeeds_exits_zero(deploy, kfp_server):
    code, output = deploy("--run", "--wait", "--timeout", "30")
    assert code == 0, output
    assert "RUNNING" in output and output.rstrip().endswith("SUCCEEDED")


def test_wait_for_a_run_that_fails_exits_non_zero_with_state_and_error(deploy, kfp_server):
    kfp_server.state.run_states = ["RUNNING", "FAILED"]
    kfp_server.state.run_error = "Trainer: OOMKilled (exit code 137)"
    code, output = deploy("--run", "--wait", "--timeout", "30")
    assert code == 4
    assert "ended FAILED: Trainer: OOMKilled (exit code 137)" in output
    assert "Traceback" not in output


def test_wait_that_times_out_exits_non_zero_and_says_the_run_goes_on(deploy, kfp_server):
    kfp_server.state.run_states = ["RUNNING"]
    code, output = deploy("--run", "--wait", "--timeout", "0.3")
    assert code == 5
    assert "still RUNNING after 0.3 s" in output and "keeps running" in output


def test_the_token_is_sent_as_bearer_and_never_printed(deploy, kfp_server):
    kfp_server.state.run_states = ["FAILED"]
    kfp_server.state.run_error = "boom"
    code, output = deploy("--run", "--wait")
    assert code == 4
    assert set(kfp_server.state.authorization) == {f"Bearer {SECRET}"}
    assert SECRET not in output


def test_an_unreachable_host_is_one_line(deploy, monkeypatch):
    monkeypatch.setenv("MLOPS_KUBEFLOW__HOST", "http://127.0.0.1:9")
    code, output = deploy()
    assert code == 2
    assert output.strip().startswith("error: cannot reach Kubeflow Pipelines at http://127.0.0.1:9")
    assert "Traceback" not in output and SECRET not in output


def test_the_double_rejects_fields_the_api_does_not_have():
    with pytest.raises(ContractError, match="no field"):
        parse_model({"experiment_id": "e", "pipeline_name": "x"}, "V2beta1Run")


def test_wait_without_run_is_refused_in_one_line(deploy, kfp_server):
    code, output = deploy("--wait")
    assert code == 2
    assert output.strip() == "error: --wait needs --run (there is no run to wait for)"
    assert kfp_server.state.requests == []


@pytest.mark.parametrize("states, succeeded", [(["RUNNING", "SUCCEEDED"], True),
                                               (["FAILED"], False)])
def test_runner_run_deploys_runs_and_reports(kfp_server, compiled_kubeflow, states, succeeded):
    from framework.production.release import resolve_release
    from framework.runners import get_runner
    from framework.settings import load_settings
    from tests.production.conftest import clean_environ

    kfp_server.state.run_states = states
    kfp_server.state.run_error = "Evaluator failed"
    settings = load_settings("taxi", "dev", environ=clean_environ(
        MLOPS_KUBEFLOW__HOST=kfp_server.url))
    runner = get_runner("kubeflow", settings, release=resolve_release(settings, tag=TAG),
                        printer=lambda *_: None,
                        package=str(compiled_kubeflow.compiled.path), poll_seconds=0.01)
    result = runner.run()
    assert result.runner == "kubeflow" and result.succeeded is succeeded
    if succeeded:
        assert result.run_id in kfp_server.state.runs
    else:
        assert "ended FAILED: Evaluator failed" in result.error


def test_the_double_parses_every_upload_as_a_kfp_pipeline_spec_message(deploy, kfp_server):
    from kfp.pipeline_spec import pipeline_spec_pb2

    from tests.production.conftest import parse_pipeline_spec

    assert deploy()[0] == 0
    for _kind, _name, spec in kfp_server.state.uploads:
        message = parse_pipeline_spec(spec)
        assert isinstance(message, pipeline_spec_pb2.PipelineSpec)
        assert message.pipeline_info.name == "taxi"
        assert "CsvExampleGen" in message.root.dag.tasks


def test_the_double_refuses_a_spec_with_a_field_pipeline_spec_does_not_have(compiled_kubeflow):
    import copy

    from tests.production.conftest import parse_pipeline_spec

    spec = copy.deepcopy(compiled_kubeflow.compiled.spec)
    spec["root"]["dag"]["taskz"] = {}
    with pytest.raises(ContractError, match="taskz"):
        parse_pipeline_spec(spec)


def test_the_double_refuses_a_spec_field_of_the_wrong_type(compiled_kubeflow):
    import copy

    from tests.production.conftest import parse_pipeline_spec

    spec = copy.deepcopy(compiled_kubeflow.compiled.spec)
    spec["pipelineInfo"]["name"] = ["not", "a", "string"]
    with pytest.raises(ContractError, match="name"):
        parse_pipeline_spec(spec)


def test_run_states_of_the_double_are_members_of_the_v2beta1_enum(kfp_server):
    import kfp_server_api

    allowed = kfp_server_api.V2beta1RuntimeState.allowable_values
    assert set(kfp_server.state.run_states) <= set(allowed)
    with pytest.raises(ValueError, match="not a v2beta1 RuntimeState"):
        kfp_server.state.run_states = ["RUNNING", "DONE"]


def test_the_double_is_a_server_behind_the_real_kfp_client(kfp_server):
    """The double fakes the API server, not the client: the framework's client is kfp's own,
    so a misspelt argument fails in kfp.Client before any request is sent."""
    import kfp

    from framework.production.kfp_deploy import kfp_client
    from framework.settings import load_settings
    from tests.production.conftest import clean_environ

    settings = load_settings("taxi", "dev", environ=clean_environ(
        MLOPS_KUBEFLOW__HOST=kfp_server.url))
    client = kfp_client(settings, environ={})
    assert type(client) is kfp.Client
    with pytest.raises(TypeError, match="unexpected keyword argument 'pipeline_fil'"):
        client.create_run_from_pipeline_package(pipeline_fil="taxi.yaml")
    assert [m for m, _path in kfp_server.state.requests if m == "POST"] == []
