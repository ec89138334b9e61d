"""One test per pre-flight rule, each failing for the reason it names."""

from __future__ import annotations

import dataclasses

import pytest

from tests.production.conftest import ROOT, TAG, clean_environ


def _settings(target: str, env: str, tag: str | None = TAG, repository=..., **overrides):
    from framework.production.compile import target_settings
    from framework.production.release import Release, resolve_release
    from framework.settings import load_settings

    settings = load_settings("taxi", env, environ=clean_environ(**overrides))
    release = resolve_release(settings, tag=tag) if tag else resolve_release(settings)
    if repository is not ...:
        release = Release(repository, release.tag, release.version)
    return target_settings(settings, target, release)


def _rules(findings, rule):
    return [str(f) for f in findings if f.rule == rule]


def _check(target, env, **kwargs):
    from framework.production.preflight import check_settings

    return check_settings(_settings(target, env, **kwargs), target)


def test_clean_dev_and_staging_settings_pass_the_settings_rules():
    from framework.production.preflight import blocking

    assert blocking(_check("kubeflow", "dev")) == []
    assert blocking(_check("vertex", "staging")) == []


def test_local_pipeline_root_where_gcs_is_needed():
    [line] = _rules(_check("vertex", "staging", MLOPS_PIPELINE__PIPELINE_ROOT="/tmp/roots"),
                    "gcs-paths")
    assert line.startswith("error: [gcs-paths] pipeline.pipeline_root is a local path (/tmp/roots)")
    assert "gs://" in line


def test_local_dataflow_temp_location_where_gcs_is_needed():
    lines = _rules(_check("kubeflow", "dev", MLOPS_DATAFLOW__TEMP_LOCATION="/tmp/beam-tmp"),
                   "gcs-paths")
    assert any("dataflow.temp_location is a local path (/tmp/beam-tmp)" in line for line in lines)


def _trainer_pipeline(module_file: str):
    from tfx import v1 as tfx

    from framework.production.compile import _modules_from_image

    with _modules_from_image():
        trainer = tfx.components.Trainer(
            module_file=module_file,
            examples=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Examples),
            train_args=tfx.proto.TrainArgs(num_steps=1),
            eval_args=tfx.proto.EvalArgs(num_steps=1))
    return tfx.dsl.Pipeline(pipeline_name="taxi", pipeline_root="gs://b/r", components=[trainer])


def test_user_module_outside_the_project_is_not_inside_the_image(tmp_path):
    from framework.production.preflight import check_pipeline

    module = tmp_path / "my_model.py"
    module.write_text("def run_fn(args): pass\n")
    settings = _settings("kubeflow", "dev")
    [line] = _rules(check_pipeline(_trainer_pipeline(str(module)), settings, "kubeflow"),
                    "user-modules")
    assert f"Trainer: module file {module} is outside the project" in line
    assert "not inside the image" in line


def test_user_module_under_the_workdir_but_missing_from_the_checkout():
    from framework.production.preflight import check_pipeline

    settings = _settings("vertex", "staging")
    pipeline = _trainer_pipeline("/app/pipelines/taxi/no_such_model.py")
    [line] = _rules(check_pipeline(pipeline, settings, "vertex"), "user-modules")
    assert "has no counterpart in this checkout" in line


def test_taxi_modules_are_inside_the_image(compiled_kubeflow):
    from framework.production.preflight import check_pipeline

    runner = compiled_kubeflow.runner
    found = check_pipeline(runner.build_pipeline(), runner.target_settings, "kubeflow")
    assert _rules(found, "user-modules") == []


def test_latest_blessed_resolver_on_open_source_kfp_says_why_and_what_to_do(compiled_kubeflow):
    from framework.pipeline.discovery import load_factory
    from framework.production.preflight import check_pipeline

    runner = compiled_kubeflow.runner
    assert _rules(check_pipeline(runner.build_pipeline(), runner.target_settings, "kubeflow"),
                  "resolver") == []  # dev sets evaluation.compare_to_blessed: false
    settings = runner.target_settings
    comparing = settings.replace(evaluation=dataclasses.replace(settings.evaluation, compare_to_blessed=True))
    found = check_pipeline(load_factory("taxi")(comparing), comparing, "kubeflow")
    [line] = [x for x in _rules(found, "resolver") if "latest_blessed_model_resolver" in x]
    assert line.startswith("error: [resolver] latest_blessed_model_resolver: a "
                           "LatestBlessedModelStrategy resolver")
    assert "open-source Kubeflow Pipelines does not" in line
    assert "--target vertex" in line and "compare_to_blessed: false" in line  # what to do
    assert _rules(check_pipeline(load_factory("taxi")(comparing), comparing, "vertex"),
                  "resolver") == []


def test_imported_artifact_at_a_local_path_fails_on_kfp(compiled_kubeflow):
    from tfx import v1 as tfx

    from framework.production.preflight import check_pipeline

    runner = compiled_kubeflow.runner
    # taxi brings its schema in with a component, not an Importer: no finding for it ...
    assert _rules(check_pipeline(runner.build_pipeline(), runner.target_settings, "kubeflow"),
                  "importer-path") == []
    # ... while a pipeline importing a local folder is told it fails on Kubeflow.
    importer = tfx.dsl.Importer(source_uri="/app/pipelines/taxi/schema",
                                artifact_type=tfx.types.standard_artifacts.Schema).with_id("schema_import")
    pipeline = tfx.dsl.Pipeline(pipeline_name="imp", pipeline_root="gs://b/r", components=[importer])
    [line] = _rules(check_pipeline(pipeline, runner.target_settings, "kubeflow"), "importer-path")
    assert line.startswith("error: [importer-path] schema_import: imports /app/pipelines/taxi/schema")


def test_missing_vertex_project_and_region():
    found = _check("vertex", "staging", MLOPS_VERTEX__PROJECT="", MLOPS_VERTEX__REGION="")
    lines = _rules(found, "target-settings")
    assert any(line.startswith("error: [target-settings] vertex.project is not set")
               for line in lines)
    assert any("vertex.region is not set" in line for line in lines)


def test_missing_kubeflow_endpoint():
    [line] = _rules(_check("kubeflow", "dev", MLOPS_KUBEFLOW__HOST=""), "target-settings")
    assert "kubeflow.host is not set" in line


def test_missing_image_repository():
    [line] = _rules(_check("vertex", "staging", repository=None), "target-settings")
    assert "image.repository is not set" in line


@pytest.mark.parametrize("tag, expected", [
    ("latest", "image tag 'latest' moves with every build"),
    (None, "no image tag"),
])
def test_image_tag_latest_or_none(tag, expected):
    [line] = _rules(_check("vertex", "staging", tag=tag), "image-tag")
    assert line.startswith("error: [image-tag] " + expected)


def test_dataflow_arguments_are_checked_by_beam():
    found = _check("kubeflow", "dev", MLOPS_BEAM__EXTRA_ARGS='["--no_such_beam_flag=1"]',
                   MLOPS_DATAFLOW__MAX_NUM_WORKERS="-2")
    lines = _rules(found, "dataflow-args")
    assert "error: [dataflow-args] Beam does not know the option --no_such_beam_flag" in lines
    assert any("Invalid value (-2) for option: max_num_workers" in line for line in lines)


def test_direct_runner_on_a_target_is_a_warning():
    found = _check("vertex", "staging", MLOPS_BEAM__RUNNER="DirectRunner")
    [line] = _rules(found, "beam-direct")
    assert line.startswith("warning: [beam-direct]")


def test_check_command_lists_findings_and_exits_non_zero(compiled_kubeflow, monkeypatch, capsys):
    from framework.cli import main

    for name in [n for n in __import__("os").environ if n.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(ROOT))
    assert main(["check", "--env", "dev", "--tag", TAG]) == 0  # dev as configured is clean
    capsys.readouterr()
    monkeypatch.setenv("MLOPS_EVALUATION__COMPARE_TO_BLESSED", "true")
    code = main(["check", "--env", "dev", "--tag", TAG])
    output = capsys.readouterr().out
    assert code == 1
    assert "error: [resolver]" in output and "error: [importer-path]" not in output
    assert "1 error(s)" in output


def test_compile_stops_on_errors_unless_ignored():
    from framework.core.errors import UserError
    from framework.production.preflight import Finding, raise_on_errors

    findings = [Finding("resolver", "error", "x"), Finding("beam-direct", "warning", "y")]
    printed = []
    with pytest.raises(UserError, match="--ignore resolver"):
        raise_on_errors(findings, printer=printed.append)
    assert printed == ["error: [resolver] x", "warning: [beam-direct] y"]
    raise_on_errors(findings, ["resolver"], printer=printed.append)
