"""`mlops new` on three tables bundled with scikit-learn (multi-class, binary, regression),
each generated package run end to end on the local runner with few training steps: it blesses
and pushes a model that beats a trivial model on the same evaluation split. The packages live
in a project root of their own (MLOPS_PROJECT_ROOT), never in the checkout's pipelines/."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, workspace_env

pytestmark = pytest.mark.integration

# name: (label, task); the tables are written as CSV as a user would export them.
TABLES = {"iris": ("species", "multiclass"), "cancer": ("target", "binary"),
          "diabetes": ("target", "regression")}
TRAIN_STEPS = "150"  # few: each run stays small; the blessing thresholds are the generated ones
TAG = "3f2c1ab"


def _write_table(name: str, folder: Path) -> Path:
    from sklearn import datasets

    if name == "iris":  # string classes, and column names with spaces and parentheses
        bunch = datasets.load_iris(as_frame=True)
        frame = bunch.frame.drop(columns=["target"])
        frame["species"] = bunch.target_names[bunch.target]
    elif name == "cancer":  # integer classes 0 and 1, 30 numeric columns
        frame = datasets.load_breast_cancer(as_frame=True).frame
    else:  # a float label: disease progression after one year
        frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def _mlops(project: Path, *args: str, env: dict | None = None, timeout: int = 900):
    """The CLI in a subprocess from the project root, so `pipelines` is that root's package."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env = {**env, "MLOPS_PROJECT_ROOT": str(project), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "framework", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project root holding the three generated packages (and their tests)."""
    root = tmp_path_factory.mktemp("project")
    (root / "framework").mkdir()
    tables = tmp_path_factory.mktemp("tables")
    for name, (label, _) in TABLES.items():
        new = _mlops(root, "new", name, "--data", str(_write_table(name, tables)), "--label", label)
        assert new.returncode == 0, new.stdout[-2000:] + new.stderr[-3000:]
    return root


@dataclass
class Run:
    name: str
    task: str
    result: dict
    workdir: Path
    output: str


@pytest.fixture(scope="module", params=list(TABLES))
def run(request, project, tmp_path_factory) -> Run:
    name = request.param
    workdir = tmp_path_factory.mktemp(f"run-{name}")
    env = workspace_env(workdir, MLOPS_TRAINING__TRAIN_STEPS=TRAIN_STEPS)
    proc = _mlops(project, "run", "--pipeline", name, "--json", str(workdir / "result.json"),
                  env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    import json

    result = json.loads((workdir / "result.json").read_text())
    return Run(name, TABLES[name][1], result, workdir, proc.stdout)


def _labels(workdir: Path, split: str, label: str) -> list:
    """The label of every example ExampleGen put in `split` (the rows the Evaluator scored)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    files = sorted((workdir / "pipeline_root" / "CsvExampleGen" / "examples").glob(
        f"*/Split-{split}/*.gz"))
    assert files, f"no {split} examples under {workdir}"
    values = []
    for record in tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature[label]
        [value] = getattr(feature, feature.WhichOneof("kind")).value
        values.append(value)
    return values


def test_generated_package_blesses_and_pushes_a_model_that_beats_a_trivial_one(run):
    result = run.result
    assert result["succeeded"] and result["blessed"] is True, run.output[-2000:]
    assert result["pushed_model"] and Path(result["pushed_model"]).is_dir()
    label = TABLES[run.name][0]
    train, evaluation = (_labels(run.workdir, s, label) for s in ("train", "eval"))
    assert result["metrics"]["example_count"] == len(evaluation)
    metrics = result["metrics"]
    if run.task == "regression":
        # The trivial model predicts the training split's mean for every row.
        mean = sum(train) / len(train)
        baseline = math.sqrt(sum((y - mean) ** 2 for y in evaluation) / len(evaluation))
        got = metrics["root_mean_squared_error"]
        print(f"{run.name}: RMSE {got:.2f}, predicting the mean {baseline:.2f}")
        assert got < baseline, (got, baseline)
        return
    # The trivial model always answers the training split's most common class.
    majority = Counter(train).most_common(1)[0][0]
    baseline = sum(y == majority for y in evaluation) / len(evaluation)
    got = metrics["sparse_categorical_accuracy" if run.task == "multiclass" else "binary_accuracy"]
    print(f"{run.name}: accuracy {got:.3f}, always the most common class {baseline:.3f}"
          + (f", AUC {metrics['auc']:.3f} (a constant score: 0.5)" if "auc" in metrics else ""))
    assert got > baseline, (got, baseline)
    if run.task == "binary":
        assert metrics["auc"] > 0.5


def test_generated_tests_pass_on_their_packages(project):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/pipelines"], cwd=project, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # At least 3 tests per package: features out, numbers finite, the label as encoded.
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 3 * len(TABLES), proc.stdout[-2000:]


def test_generated_code_passes_the_projects_lint(project):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"),
         "--config", f"src=['{project}', '{ROOT}']", "pipelines", "tests"],
        cwd=project, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_a_generated_package_passes_the_preflight_check_and_compiles_for_both_targets(
        project, tmp_path):
    import json

    import yaml

    for env, target in (("dev", "kubeflow"), ("staging", "vertex")):
        check = _mlops(project, "check", "--pipeline", "iris", "--env", env, "--tag", TAG)
        assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
        assert f"ready: iris on {target} ({env}), 0 warning(s)" in check.stdout
        compiled = _mlops(project, "compile", "--pipeline", "iris", "--target", target,
                          "--env", env, "--tag", TAG, "--out", str(tmp_path))
        assert compiled.returncode == 0, compiled.stdout[-2000:] + compiled.stderr[-2000:]
    kubeflow = yaml.safe_load((tmp_path / "iris-kubeflow.yaml").read_text())
    vertex = json.loads((tmp_path / "iris-vertex.json").read_text())
    for spec in (kubeflow, vertex["pipelineSpec"]):
        tasks = spec["root"]["dag"]["tasks"]
        assert {"CsvExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"} <= set(tasks)
        module = tasks["Transform"]["inputs"]["parameters"]["module_file"]["runtimeValue"]
        assert module["constant"] == "/app/pipelines/iris/preprocessing.py"
