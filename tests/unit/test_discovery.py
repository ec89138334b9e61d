"""Pipelines are found by folder; adding one touches nothing under framework/."""

import subprocess
import sys
from pathlib import Path

import pytest

from framework.core.errors import UserError
from framework.pipeline.discovery import find_pipeline, list_pipelines

ROOT = Path(__file__).resolve().parents[2]


def test_taxi_is_discovered_with_its_description():
    names = {p.name: p for p in list_pipelines()}
    assert "taxi" in names
    assert "taxi" in names["taxi"].description.lower()


def test_unknown_pipeline_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown pipeline 'nope'.*taxi"):
        find_pipeline("nope")


def test_a_new_pipeline_folder_is_listed_without_framework_changes(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "framework").mkdir(parents=True)
    new = project / "pipelines" / "churn"
    new.mkdir(parents=True)
    (new / "__init__.py").write_text('"""Customer churn."""\ndef create_pipeline(settings):\n    return settings\n')
    (new / "settings.yaml").write_text("base: {}\n")
    monkeypatch.setenv("MLOPS_PROJECT_ROOT", str(project))
    assert [p.name for p in list_pipelines()] == ["churn"]
    out = subprocess.run([sys.executable, "-m", "framework", "pipelines"], capture_output=True,
                         text=True, env={**__import__("os").environ, "MLOPS_PROJECT_ROOT": str(project)})
    assert out.returncode == 0
    assert "churn  Customer churn." in out.stdout
