"""The rehearsal's copy of the compiled spec: only what cannot exist on one machine changes.

No container here: these check framework/rehearsal/local_spec.py on the specs that
`mlops compile` writes for Kubeflow (dev) and Vertex AI (staging).
"""

from __future__ import annotations

import copy
import json

import pytest

ROOT = "/srv/rehearsal"


def _localize(compiled_target):
    from framework.rehearsal.rehearse import prepare_spec

    settings = compiled_target.runner.target_settings
    from pathlib import Path

    local, _folders = prepare_spec(compiled_target.compiled, settings, Path(ROOT))
    return settings, local


def _undo(local_spec: dict, original: dict, replacements) -> dict:
    """The local spec with each path replacement reversed and the Beam arguments put back."""
    from framework.rehearsal.local_spec import _replace_strings

    spec = copy.deepcopy(local_spec)
    # Longest local folder first: the root's own path is a prefix of the other two.
    for change in sorted(replacements, key=lambda c: -len(c.after)):
        if change.what != "beam":
            spec = _replace_strings(spec, change.after.rstrip("/"), change.before.rstrip("/"))
    for label, executor in spec["deploymentSpec"]["executors"].items():
        if "container" in executor:
            executor["container"] = copy.deepcopy(
                original["deploymentSpec"]["executors"][label]["container"]) | {
                "image": executor["container"]["image"]}
    return spec


def test_kubeflow_spec_changes_only_the_three_locations_and_the_beam_runner(compiled_kubeflow):
    settings, local = _localize(compiled_kubeflow)
    original = compiled_kubeflow.compiled.spec
    assert {c.what for c in local.replacements} == {"pipeline root", "data root", "serving",
                                                    "beam"}
    assert "gs://" not in json.dumps(local.spec)
    assert "DataflowRunner" not in json.dumps(local.spec["deploymentSpec"])
    assert _undo(local.spec, original, local.replacements) == original
    assert [str(s) for s in local.stand_ins] == [
        "not run: CsvExampleGen preCacheCheck (a lifecycle hook, which kfp.local does not run); "
        "the task itself runs as on a cache miss"]
    assert local.tasks == sorted(original["root"]["dag"]["tasks"])


def test_kubeflow_spec_keeps_image_commands_and_parameters(compiled_kubeflow):
    _settings, local = _localize(compiled_kubeflow)
    original = compiled_kubeflow.compiled.spec["deploymentSpec"]["executors"]
    for label, executor in local.spec["deploymentSpec"]["executors"].items():
        assert executor["container"]["image"] == original[label]["container"]["image"]
        assert executor["container"]["command"] == original[label]["container"]["command"]
    assert local.spec["root"].get("inputDefinitions") == \
        compiled_kubeflow.compiled.spec["root"].get("inputDefinitions")


def test_local_folders_replace_the_gs_locations(compiled_kubeflow):
    settings, local = _localize(compiled_kubeflow)
    by_what = {c.what: c for c in local.replacements}
    assert by_what["data root"].before == settings.pipeline.data_root
    assert by_what["data root"].after == f"{ROOT}/data"
    assert by_what["serving"].after == f"{ROOT}/serving"
    assert by_what["pipeline root"].after == ROOT
    gen = local.spec["root"]["dag"]["tasks"]["CsvExampleGen"]["inputs"]["parameters"]
    assert gen["input_base"]["runtimeValue"]["constant"] == f"{ROOT}/data"


def test_vertex_resolvers_are_named_and_the_evaluator_rehearses_a_first_run(compiled_vertex):
    _settings, local = _localize(compiled_vertex)
    resolvers = [s for s in local.stand_ins if "resolver" in s.node]
    names = [s.node for s in resolvers]
    assert names == ["latest_blessed_model_resolver-model-blessing-resolver",
                     "latest_blessed_model_resolver-model-resolver"]
    assert all("resolver node, which kfp.local cannot execute" in str(s) for s in resolvers)
    assert "read only by latest_blessed_model_resolver-model-resolver, which is not run either" \
        in str(resolvers[0])
    assert "Evaluator.baseline_model" in str(resolvers[1])
    tasks = local.spec["root"]["dag"]["tasks"]
    assert not any("resolver" in name for name in tasks)
    evaluator = tasks["Evaluator"]
    assert "baseline_model" not in evaluator["inputs"]["artifacts"]
    assert "baseline_model" not in \
        local.spec["components"]["Evaluator"]["inputDefinitions"]["artifacts"]
    assert all("resolver" not in t for t in evaluator["dependentTasks"])
    # The deployed spec itself is left as it was.
    assert "latest_blessed_model_resolver-model-resolver" in \
        compiled_vertex.compiled.spec["root"]["dag"]["tasks"]


def test_every_path_a_task_is_given_is_found(compiled_kubeflow):
    from framework.rehearsal.local_spec import referenced_paths

    _settings, local = _localize(compiled_kubeflow)
    paths = dict((p, t) for t, p in referenced_paths(local.spec))
    assert paths["/app/pipelines/taxi/preprocessing.py"] == "Transform"
    assert paths["/app/pipelines/taxi/model.py"] == "Trainer"
    assert paths["/app/pipelines/taxi/schema/schema.pbtxt"] == "schema_importer"
    assert paths[f"{ROOT}/data"] == "CsvExampleGen"
    assert paths[f"{ROOT}/serving"] == "Pusher"
    assert not [p for p in paths if p.startswith("gs://")]


def test_a_remote_uri_left_in_the_spec_stops_the_rehearsal_without_the_engine():
    from framework.rehearsal.checks import RehearsalCheckError, check_reachable

    referenced = [("CsvExampleGen", "gs://elsewhere/data"), ("Pusher", "gs://elsewhere/serving")]
    # client=None: the finding must come before anything asks the engine.
    with pytest.raises(RehearsalCheckError,
                       match=r"gives CsvExampleGen gs://elsewhere/data, .* \(1 more like it\)"):
        check_reachable(referenced, root=ROOT, workdir="/app", client=None, image="i:t")


def test_a_spec_kfp_local_refuses_is_one_error_line_not_a_traceback(compiled_kubeflow, tmp_path):
    from framework.core.errors import RunFailedError
    from framework.rehearsal.kfp_local_adapter import Observed
    from framework.rehearsal.rehearse import execute, write_spec

    _settings, local = _localize(compiled_kubeflow)
    # A condition on the first task: kfp.local supports none, and says so before any container.
    local.spec["root"]["dag"]["tasks"]["CsvExampleGen"]["triggerPolicy"] = {
        "condition": "inputs.parameter_values['x'] == 'y'"}
    spec_file = write_spec(local.spec, tmp_path / "spec.yaml")
    observed = Observed(tmp_path)
    with pytest.raises(RunFailedError, match=r"kfp.local could not run spec.yaml: 'dsl.Condition' is not supported"):
        execute(spec_file, {}, tmp_path, observed)
    assert observed.tasks == []
    assert (tmp_path / "kfp.local.log").is_file()


def test_a_flink_environment_rehearses_on_direct_runner_and_says_so(compiled_kubeflow):
    from framework.pipeline.pipeline_support import beam_args
    from framework.rehearsal.local_spec import _arg_lists, local_beam

    settings = compiled_kubeflow.runner.target_settings
    flink = settings.beam.__class__(runner="FlinkRunner")
    flink.flink.master, flink.flink.version = "flink:8081", "1.18"
    flink_settings = settings.replace(beam=flink)
    production = beam_args(flink_settings)
    spec = copy.deepcopy(compiled_kubeflow.compiled.spec)
    for executor in spec["deploymentSpec"]["executors"].values():
        for args in _arg_lists(executor["container"]):  # the task's and its hooks' args
            args[args.index("--runner=DataflowRunner"):] = production
    spec, [change] = local_beam(spec, production, [])
    assert str(change) == f"replaced beam: FlinkRunner ({len(production)} arguments) -> DirectRunner"
    assert "FlinkRunner" not in json.dumps(spec["deploymentSpec"])
