"""Settings: base + environment merge, MLOPS_* overrides, and one clear error per mistake."""

from pathlib import Path

import pytest

from framework.core.errors import SettingsError
from framework.settings import load_settings, settings_from_dict

BASE = {
    "pipeline": {
        "name": "demo",
        "data_root": "data",
        "pipeline_root": "out/root",
        "serving_dir": "out/serving",
    },
    "training": {"train_steps": 100, "hidden_units": [8, 4]},
    "kubeflow": {"parameters": {"a": "1", "b": "2"}},
}


def load(data, env="local", environ=None, root=Path("/project")):
    return settings_from_dict(data, env, source="demo/settings.yaml", root=root,
                              environ=environ or {})


def test_environment_block_overrides_base_key_by_key():
    data = {"base": BASE, "test": {"training": {"train_steps": 5}, "kubeflow": {"parameters": {"b": "3"}}}}
    settings = load(data, "test")
    assert settings.training.train_steps == 5
    assert settings.training.hidden_units == [8, 4]  # untouched sibling key survives
    assert settings.kubeflow.parameters == {"a": "1", "b": "3"}  # mappings merge too
    assert settings.env == "test"


def test_other_environments_do_not_leak():
    data = {"base": BASE, "prod": {"training": {"train_steps": 5000}}}
    assert load(data, "dev").training.train_steps == 100


def test_mlops_variables_override_files_with_typed_values():
    environ = {"MLOPS_TRAINING__TRAIN_STEPS": "7", "MLOPS_ENABLE_CACHE": "false",
               "MLOPS_IMAGE__TAG": "123"}
    settings = load({"base": BASE}, environ=environ)
    assert settings.training.train_steps == 7
    assert settings.enable_cache is False
    assert settings.image.tag == "123"  # a string field keeps the text as given


def test_relative_paths_resolve_against_project_root_and_urls_stay():
    data = {"base": {**BASE, "pipeline": {**BASE["pipeline"], "serving_dir": "gs://bucket/serving"}}}
    settings = load(data)
    assert settings.pipeline.pipeline_root == "/project/out/root"
    assert settings.pipeline.serving_dir == "gs://bucket/serving"


def test_package_paths_resolve_inside_the_installed_package():
    data = {"base": {**BASE, "pipeline": {**BASE["pipeline"], "data_root": "package://framework/settings"}}}
    settings = load(data)
    assert Path(settings.pipeline.data_root, "model.py").exists()


def test_unknown_key_names_file_block_and_key():
    data = {"base": BASE, "local": {"training": {"train_stepz": 5}}}
    with pytest.raises(SettingsError) as err:
        load(data)
    message = str(err.value)
    assert "demo/settings.yaml [local]" in message
    assert "training.train_stepz" in message
    assert "train_steps" in message  # the known keys are listed


def test_wrong_type_names_key_and_expectation():
    data = {"base": BASE, "local": {"beam": {"direct_num_workers": "two"}}}
    with pytest.raises(SettingsError, match=r"beam.direct_num_workers': expected an integer, got 'two'"):
        load(data)


def test_wrong_type_from_environment_names_the_variable():
    with pytest.raises(SettingsError, match="environment variable MLOPS_TRAINING__TRAIN_STEPS"):
        load({"base": BASE}, environ={"MLOPS_TRAINING__TRAIN_STEPS": "lots"})


def test_unknown_variable_is_an_error():
    with pytest.raises(SettingsError, match="MLOPS_TRAINING__STEPS: no settings key 'training.steps'"):
        load({"base": BASE}, environ={"MLOPS_TRAINING__STEPS": "3"})


def test_missing_required_value_is_named():
    data = {"base": {"pipeline": {"name": "demo", "data_root": "d", "pipeline_root": "r"}}}
    with pytest.raises(SettingsError, match="missing required key 'pipeline.serving_dir'"):
        load(data)


def test_choice_outside_the_allowed_values():
    data = {"base": BASE, "local": {"beam": {"direct_running_mode": "fast"}}}
    with pytest.raises(SettingsError, match="one of 'in_memory', 'multi_threading', 'multi_processing'"):
        load(data)


def test_unknown_environment_is_rejected():
    with pytest.raises(SettingsError, match="unknown environment 'qa'"):
        load({"base": BASE}, "qa")


def test_unknown_top_level_block_is_rejected():
    with pytest.raises(SettingsError, match="unknown top-level block 'production'"):
        load({"base": BASE, "production": {}})


@pytest.mark.parametrize("key,value", [
    ("pipeline.name", "taxi; rm -rf /"),
    ("pipeline.name", "../etc"),
    ("image.tag", "v1 && curl x"),
    ("image.tag", "$(whoami)"),
    ("image.repository", "repo/../../x"),
])
def test_names_and_tags_with_shell_metacharacters_or_traversal_are_rejected(key, value):
    section, field = key.split(".")
    data = {"base": {**BASE, section: {**BASE.get(section, {}), field: value}}}
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load(data)


def test_broken_yaml_names_file_and_line(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "framework").mkdir(parents=True)
    (project / "pipelines" / "broken").mkdir(parents=True)
    (project / "pipelines" / "broken" / "__init__.py").write_text("")
    (project / "pipelines" / "broken" / "settings.yaml").write_text("base:\n  pipeline: [unclosed\n")
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(project))
    with pytest.raises(SettingsError, match=r"settings.yaml: broken YAML at line \d+"):
        load_settings("broken", "local", environ={})


def test_taxi_settings_load_for_every_environment():
    from framework.settings import ENVIRONMENTS

    for env in ENVIRONMENTS:
        settings = load_settings("taxi", env, environ={})
        assert settings.pipeline.name == "taxi"
    assert load_settings("taxi", "prod", environ={}).runner == "vertex"
