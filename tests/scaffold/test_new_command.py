"""`mlops new` as a user runs it, in a subprocess on a project root of its own: what it
writes and prints, and each refusal as one `error:` line, exit code 2, nothing written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.scaffold.conftest import write_csv


@pytest.fixture
def project(tmp_path) -> Path:
    """An empty project root: `framework/` marks it, `pipelines/` is made by `mlops new`."""
    root = tmp_path / "project"
    (root / "framework").mkdir(parents=True)
    return root


def mlops(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(MLOPS_PROJECT_ROOT=str(project), PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3",
               TF_USE_LEGACY_KERAS="1")
    return subprocess.run([sys.executable, "-m", "framework", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def refused(proc: subprocess.CompletedProcess, project: Path, name: str = "shop") -> str:
    """The one `error:` line of a refusal (exit 2), after checking nothing was written."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    assert not (project / "pipelines" / name).exists()
    assert not (project / "tests" / "pipelines" / f"test_{name}.py").exists()
    return lines[0]


def shop_csv(folder: Path) -> Path:
    return write_csv(folder / "shop.csv", {
        "basket value": [12.5, 30.0, 7.25, 55.0, 18.0, 9.5, 41.0, 22.0],
        "channel": ["web", "store", "web", "app", "web", "store", "app", "web"],
        "bought": ["no", "yes", "no", "yes", "no", "no", "yes", "yes"],
    })


def test_writes_the_package_and_its_test_and_prints_each_column_with_its_kind(project, tmp_path):
    proc = mlops(project, "new", "shop", "--data", str(shop_csv(tmp_path)), "--label", "bought")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert f"read {tmp_path / 'shop.csv'}: 8 rows, 3 columns; copied into the package" in out
    assert "task: binary classification: 2 classes of 'bought' (no, yes; strings)" in out
    table = {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line.strip())
                                               for line in out.splitlines())}
    assert table["column"] == ["kind", "reason"]
    assert table["basket_value (basket value)"] == ["numeric", "numbers"]
    assert table["channel"] == ["categorical", "3 distinct strings (at most 50)"]
    assert table["bought"] == ["label", "the label (--label)"]
    package = project / "pipelines" / "shop"
    for name in ("__init__.py", "features.py", "preprocessing.py", "model.py", "pipeline.py",
                 "settings.yaml", "schema/schema.pbtxt", "data/shop.csv"):
        assert (package / name).is_file(), name
    assert (project / "tests" / "pipelines" / "test_shop.py").is_file()
    listed = mlops(project, "pipelines")
    assert listed.returncode == 0 and "shop" in listed.stdout, listed.stdout + listed.stderr


def test_refuses_a_label_column_that_does_not_exist_and_lists_the_columns(project, tmp_path):
    data = shop_csv(tmp_path)
    line = refused(mlops(project, "new", "shop", "--data", str(data), "--label", "buys"), project)
    assert line == (f"error: no column 'buys' in {data} (--label; its columns: basket value, "
                    f"channel, bought)")


def test_refuses_a_label_with_one_value(project, tmp_path):
    data = write_csv(tmp_path / "t.csv", {"x": [1.5, 2.5, 3.5], "y": ["ok", "ok", "ok"]})
    line = refused(mlops(project, "new", "shop", "--data", str(data), "--label", "y"), project)
    assert line == "error: label column 'y' has one value (ok) in every row: there is nothing to predict"


def test_refuses_a_file_it_cannot_parse(project, tmp_path):
    data = tmp_path / "export.csv"
    data.write_bytes("x,y\n1,2\n".encode("utf-16"))
    line = refused(mlops(project, "new", "shop", "--data", str(data), "--label", "y"), project)
    assert line.startswith(f"error: cannot read {data} as a CSV table: the file is UTF-16 text")


def test_refuses_an_existing_package_without_force(project, tmp_path):
    package = project / "pipelines" / "shop"
    package.mkdir(parents=True)
    (package / "mine.py").write_text("# a person's work\n")
    proc = mlops(project, "new", "shop", "--data", str(shop_csv(tmp_path)), "--label", "bought")
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and lines == [
        "error: pipelines/shop exists already: pass --force to replace it, or choose another "
        "name"], proc.stderr[-3000:]
    assert [p.name for p in package.iterdir()] == ["mine.py"]


def test_force_replaces_an_existing_package(project, tmp_path):
    package = project / "pipelines" / "shop"
    package.mkdir(parents=True)
    (package / "mine.py").write_text("# replaced\n")
    proc = mlops(project, "new", "shop", "--data", str(shop_csv(tmp_path)), "--label", "bought",
                 "--force")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (package / "mine.py").exists() and (package / "features.py").is_file()


def test_refuses_a_table_without_a_usable_feature_and_says_why_of_each_column(project, tmp_path):
    data = write_csv(tmp_path / "t.csv", {"id": ["a", "b", "c", "d"], "k": [5, 5, 5, 5],
                                          "y": [0, 1, 0, 1]})
    line = refused(mlops(project, "new", "shop", "--data", str(data), "--label", "y"), project)
    assert line == (f"error: no usable feature in {data} besides the label 'y': id: a different "
                    f"value in every row: an identifier; k: the same value (5) in every row")


def test_refuses_a_name_that_is_not_a_python_package_name(project, tmp_path):
    line = refused(mlops(project, "new", "my-shop", "--data", str(shop_csv(tmp_path)),
                         "--label", "bought"), project, "my-shop")
    assert line.startswith("error: 'my-shop' cannot name a pipeline package")
