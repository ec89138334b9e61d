"""Compile taxi for both targets (once per session) and check what the orchestrator gets."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from tests.production.conftest import TAG, clean_environ

DEV_IMAGE = f"europe-west4-docker.pkg.dev/portable-mlops-dev/mlops/taxi:{TAG}"
STAGING_IMAGE = f"europe-west4-docker.pkg.dev/portable-mlops-staging/mlops/taxi:{TAG}"
V2_ENTRYPOINT = ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
BEAM_COMPONENTS = ("CsvExampleGen", "StatisticsGen", "Transform", "Evaluator")


def _tasks(spec: dict) -> dict:
    return spec["root"]["dag"]["tasks"]


def _container(spec: dict, task: str) -> dict:
    executor = spec["components"][_tasks(spec)[task]["componentRef"]["name"]]["executorLabel"]
    return spec["deploymentSpec"]["executors"][executor]["container"]


def _expected_tasks(runner) -> set[str]:
    """Every node of the pipeline object; a resolver becomes tasks prefixed with its id."""
    return {node.id for node in runner.build_pipeline().components}


def test_kubeflow_ir_has_a_task_for_every_component(compiled_kubeflow):
    tasks = set(_tasks(compiled_kubeflow.compiled.spec))
    for node_id in _expected_tasks(compiled_kubeflow.runner):
        assert node_id in tasks or any(t.startswith(f"{node_id}-") for t in tasks), node_id
    assert {"CsvExampleGen", "Transform", "Trainer", "Evaluator", "Pusher",
            "ValidationGate", "schema_importer"} <= tasks


def test_every_kubeflow_executor_runs_the_release_image(compiled_kubeflow):
    spec = compiled_kubeflow.compiled.spec
    containers = [e["container"] for e in spec["deploymentSpec"]["executors"].values()
                  if "container" in e]
    assert len(containers) >= 8
    for container in containers:
        assert container["image"] == DEV_IMAGE
        assert container["command"] == V2_ENTRYPOINT


def test_kubeflow_pipeline_root_comes_from_dev_settings(compiled_kubeflow):
    compiled = compiled_kubeflow.compiled
    assert compiled.spec["defaultPipelineRoot"] == "gs://portable-mlops-dev/pipelines/taxi"
    assert compiled.job["runtimeConfig"]["gcsOutputDirectory"] == compiled.spec[
        "defaultPipelineRoot"]


def test_beam_components_get_the_dataflow_arguments(compiled_kubeflow):
    spec = compiled_kubeflow.compiled.spec
    for task in BEAM_COMPONENTS:
        args = _container(spec, task)["args"]
        for expected in ("--runner=DataflowRunner", "--project=portable-mlops-dev",
                         "--region=europe-west4",
                         "--temp_location=gs://portable-mlops-dev/dataflow/tmp",
                         "--staging_location=gs://portable-mlops-dev/dataflow/staging",
                         "--machine_type=n1-standard-4", "--max_num_workers=4",
                         "--autoscaling_algorithm=THROUGHPUT_BASED",
                         f"--sdk_container_image={DEV_IMAGE}"):
            assert expected in args, (task, expected)


def test_user_modules_are_read_from_the_image_workdir(compiled_kubeflow):
    tasks = _tasks(compiled_kubeflow.compiled.spec)
    for task, module in (("Transform", "preprocessing.py"), ("Trainer", "model.py")):
        value = tasks[task]["inputs"]["parameters"]["module_file"]["runtimeValue"]["constant"]
        assert value == f"/app/pipelines/taxi/{module}"


def test_kfp_sdk_loads_the_written_yaml(compiled_kubeflow):
    from kfp import components

    path = compiled_kubeflow.compiled.path
    assert path.suffix == ".yaml"
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "taxi"
    assert loaded.pipeline_spec.default_pipeline_root == "gs://portable-mlops-dev/pipelines/taxi"
    assert set(loaded.pipeline_spec.root.dag.tasks) == set(
        _tasks(compiled_kubeflow.compiled.spec))
    assert yaml.safe_load(path.read_text())["schemaVersion"] == "2.1.0"


def test_vertex_job_json_has_image_root_and_every_task(compiled_vertex, compiled_kubeflow):
    compiled = compiled_vertex.compiled
    job = json.loads(compiled.path.read_text())
    assert set(job) >= {"displayName", "pipelineSpec", "runtimeConfig", "labels"}
    assert job["displayName"] == "taxi"
    root = "gs://portable-mlops-staging/pipelines/taxi"
    assert job["runtimeConfig"]["gcsOutputDirectory"] == root
    assert job["pipelineSpec"]["defaultPipelineRoot"] == root
    spec = job["pipelineSpec"]
    # Same tasks as on Kubeflow, plus the baseline resolver's (dev leaves it out: see
    # evaluation.compare_to_blessed in pipelines/taxi/settings.yaml).
    resolver = {t for t in _tasks(spec) if t.startswith("latest_blessed_model_resolver-")}
    assert resolver
    assert set(_tasks(spec)) - resolver == set(_tasks(compiled_kubeflow.compiled.spec))
    for executor in spec["deploymentSpec"]["executors"].values():
        if "container" in executor:
            assert executor["container"]["image"] == STAGING_IMAGE
    args = _container(spec, "Transform")["args"]
    assert "--project=portable-mlops-staging" in args and "--max_num_workers=8" in args


def _tiny_pipeline():
    from tfx import v1 as tfx

    data_root = tfx.dsl.experimental.RuntimeParameter(name="data_root", ptype=str,
                                                      default="gs://b/default")
    gen = tfx.components.CsvExampleGen(input_base=data_root)
    return tfx.dsl.Pipeline(pipeline_name="tiny", pipeline_root="gs://b/root",
                            components=[gen])


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_runtime_parameters_come_from_the_target_settings(target, tmp_path):
    from framework.production.compile import compile_pipeline, target_settings
    from framework.production.release import resolve_release
    from framework.settings import load_settings

    settings = load_settings("taxi", "dev", environ=clean_environ(**{
        f"MLOPS_{target.upper()}__PARAMETERS": "{data_root: gs://portable-mlops-dev/data/x}"}))
    settings = target_settings(settings, target, resolve_release(settings, tag=TAG))
    compiled = compile_pipeline(settings, target, tmp_path, pipeline=_tiny_pipeline())
    declared = compiled.spec["root"]["inputDefinitions"]["parameters"]
    assert declared["data_root"]["defaultValue"] == "gs://portable-mlops-dev/data/x"
    assert compiled.parameters == {"data_root": "gs://portable-mlops-dev/data/x"}


def test_a_parameter_the_pipeline_does_not_declare_is_an_error(tmp_path):
    from framework.core.errors import UserError
    from framework.production.compile import compile_pipeline, target_settings
    from framework.production.release import resolve_release
    from framework.settings import load_settings

    settings = load_settings("taxi", "dev", environ=clean_environ(
        MLOPS_KUBEFLOW__PARAMETERS="{train_stepz: '5'}"))
    settings = target_settings(settings, "kubeflow", resolve_release(settings, tag=TAG))
    with pytest.raises(UserError, match="train_stepz.*does not declare"):
        compile_pipeline(settings, "kubeflow", tmp_path, pipeline=_tiny_pipeline())


def test_manifest_sets_image_and_version(tmp_path):
    from framework.production.release import resolve_release
    from framework.settings import load_settings

    manifest = tmp_path / "build.json"
    manifest.write_text(json.dumps({"image": "europe-west4-docker.pkg.dev/p/mlops/taxi:9a8b7c6",
                                    "commit": "9a8b7c6d5e4f", "tag": "v1.4.0"}))
    settings = load_settings("taxi", "dev", environ=clean_environ())
    release = resolve_release(settings, manifest=manifest)
    assert release.image == "europe-west4-docker.pkg.dev/p/mlops/taxi:9a8b7c6"
    assert release.version == "v1.4.0" and release.commit == "9a8b7c6d5e4f"
    untagged = dataclasses.replace(release, tag=None)
    assert untagged.image == "europe-west4-docker.pkg.dev/p/mlops/taxi"


def test_manifest_from_ci_build_uses_version_tag_or_the_image_tag(tmp_path):
    from framework.production.release import resolve_release
    from framework.settings import load_settings

    settings = load_settings("taxi", "dev", environ=clean_environ())
    manifest = tmp_path / "build.json"
    manifest.write_text(json.dumps({"image": "r.example/mlops/taxi:c0ffee1", "commit": "c0ffee1",
                                    "version_tag": None}))
    assert resolve_release(settings, manifest=manifest).version == "c0ffee1"
    manifest.write_text(json.dumps({"image": "r.example/mlops/taxi:c0ffee1", "commit": "c0ffee1",
                                    "version_tag": "v2.0.0"}))
    assert resolve_release(settings, manifest=manifest).version == "v2.0.0"
