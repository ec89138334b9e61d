"""The package `mlops new` writes for a profile, one per task, read back as the framework and
a person read it: lint, settings for every environment, schema, features, import rules."""

from __future__ import annotations

import ast
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from framework.scaffold import profile, render
from tests.conftest import ROOT

TASKS = {"mixed": "binary", "codes": "multiclass", "numbers": "regression"}


@pytest.fixture(scope="module")
def project(tmp_path_factory, mixed, codes, numbers):
    """A project root holding the three packages and their tests."""
    root = tmp_path_factory.mktemp("project")
    (root / "framework").mkdir()
    (root / "pipelines").mkdir()
    (root / "pipelines" / "__init__.py").write_text("")
    for name, (prepared, found) in {"mixed": mixed, "codes": codes, "numbers": numbers}.items():
        test = render.write_package(found, prepared, name, root / "pipelines" / name)
        (root / "tests" / "pipelines").mkdir(parents=True, exist_ok=True)
        (root / "tests" / "pipelines" / f"test_{name}.py").write_text(test)
    return root


def _assigned(path: Path, name: str):
    """The literal value a module assigns to `name` at its top level."""
    tree = ast.parse(path.read_text())
    [value] = [node.value for node in tree.body if isinstance(node, ast.Assign)
               and any(getattr(t, "id", None) == name for t in node.targets)]
    return ast.literal_eval(value)


def test_generated_code_passes_the_projects_lint(project):
    # The repository's ruff settings, with both roots' packages first-party, as in a checkout.
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"),
         "--config", f"src=['{project}', '{ROOT}']", "pipelines", "tests"],
        cwd=project, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_features_module_lists_each_column_under_the_kind_decided(project, mixed):
    _, found = mixed
    features = runpy.run_path(str(project / "pipelines" / "mixed" / "features.py"))
    assert features["NUMERIC_FEATURE_KEYS"] == found.names(profile.NUMERIC) == ["Price", "count"]
    assert features["CATEGORICAL_FEATURE_KEYS"] == ["colour", "rating"]
    assert features["HASHED_FEATURE_KEYS"] == ["user"]
    assert features["EXCLUDED_FEATURE_KEYS"]["leak"] == "excluded with --exclude"
    assert set(features["EXCLUDED_FEATURE_KEYS"]) == {
        "review", "row_id", "code", "country", "empty", "leak", "ticket"}
    assert features["LABEL_KEY"] == "label" and features["LABEL_VALUES"] == ["no", "yes"]
    # A prediction request: every feature the model takes, a value for each, no label.
    assert set(features["EXAMPLE_INSTANCE"]) == {"Price", "count", "colour", "rating", "user"}
    assert None not in features["EXAMPLE_INSTANCE"].values()


@pytest.mark.parametrize("name", TASKS)
def test_each_task_gets_its_own_label_encoding_output_and_loss(project, name):
    package = project / "pipelines" / name
    task = TASKS[name]
    assert _assigned(package / "pipeline.py", "TASK") == task
    model = (package / "model.py").read_text()
    loss = {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy",
            "regression": "mean_squared_error"}[task]
    assert f'loss="{loss}"' in model
    preprocessing = (package / "preprocessing.py").read_text()
    assert ("_class_index(label)" in preprocessing) == (task != "regression")
    if task == "regression":
        assert "Rescaling(" in model
        assert {"LABEL_MEAN", "LABEL_STD"} <= set(runpy.run_path(str(package / "features.py")))


@pytest.mark.parametrize("name", TASKS)
def test_settings_load_in_every_environment_and_judge_by_a_metric_of_the_task(project, name):
    from framework.pipeline.pipeline_support import check_evaluation
    from framework.settings import ENVIRONMENTS, settings_from_dict

    package = project / "pipelines" / name
    data = yaml.safe_load((package / "settings.yaml").read_text())
    assert set(data) == {"base", *ENVIRONMENTS}
    for env in ENVIRONMENTS:
        settings = settings_from_dict(data, env, source=f"{name}/settings.yaml", root=project,
                                      environ={})
        assert settings.pipeline.name == name
        check_evaluation(settings, TASKS[name], package / "schema" / "schema.pbtxt")
    local = settings_from_dict(data, "local", root=project, environ={})
    assert local.pipeline.data_root == str(project / "pipelines" / name / "data")
    assert local.pipeline.input_pattern == "*.csv"


def test_blessing_thresholds_ask_more_than_a_trivial_model(project, mixed, codes, numbers):
    def evaluation(name):
        return yaml.safe_load((project / "pipelines" / name / "settings.yaml").read_text())[
            "base"]["evaluation"]

    assert evaluation("mixed")["metric"] == "auc" and evaluation("mixed")["lower_bound"] > 0.5
    codes_floor = evaluation("codes")["lower_bound"]
    assert evaluation("codes")["metric"] == "sparse_categorical_accuracy"
    assert codes[1].majority_share < codes_floor < codes[1].majority_share + 0.02
    ceiling = evaluation("numbers")["upper_bound"]
    assert evaluation("numbers")["metric"] == "root_mean_squared_error"
    assert numbers[1].label_std <= ceiling < numbers[1].label_std * 1.01


def test_schema_file_is_the_curated_schema(project, mixed):
    from framework.pipeline.schema_tools import parse_schema_file

    written = parse_schema_file(project / "pipelines" / "mixed" / "schema" / "schema.pbtxt")
    assert written == mixed[1].schema


def test_packages_are_listed_and_follow_the_frameworks_import_rules(project, monkeypatch):
    from framework.pipeline import discovery

    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(project))
    assert [p.name for p in discovery.list_pipelines()] == ["codes", "mixed", "numbers"]
    assert discovery.find_pipeline("numbers").description.startswith(
        "Regression of 'y' from numbers.csv")
    for name in TASKS:
        discovery.check_imports(discovery.find_pipeline(name))  # raises UserError otherwise


def test_package_test_runs_on_rows_of_the_data_with_a_gap_among_them(project, mixed):
    rows = _assigned(project / "tests" / "pipelines" / "test_mixed.py", "ROWS")
    used = {c.name for c in mixed[1].columns if c.kind != profile.EXCLUDED}
    assert len(rows) >= render.TEST_ROWS and all(set(row) == used for row in rows)
    assert any(row[key] is None for row in rows for key in used)  # how gaps are filled
