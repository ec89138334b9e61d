"""The taxi pipeline inside the pipeline image: same results, same ML-Metadata, clear errors."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import mlops, taxi_csv
from tests.container.conftest import container_env

pytestmark = pytest.mark.container


def mlmd_types(sqlite_path: Path) -> tuple[set[str], set[str]]:
    """(execution type names, artifact type names) the store holds instances of."""
    with sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True) as db:
        executions = {r[0] for r in db.execute(
            "SELECT DISTINCT t.name FROM Execution e JOIN Type t ON e.type_id = t.id")}
        artifacts = {r[0] for r in db.execute(
            "SELECT DISTINCT t.name FROM Artifact a JOIN Type t ON a.type_id = t.id")}
    return executions, artifacts


@pytest.fixture(scope="module")
def container_run(pipeline_image, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("container-run")
    env = container_env(workdir)
    run = mlops("run", "--pipeline", "taxi", "--runner", "container", "--image",
                pipeline_image.ref, env=env, json_out=workdir / "result.json", timeout=1500)
    return workdir, run


def test_container_run_pushes_a_model_to_the_host_serving_folder(container_run):
    workdir, run = container_run
    assert run.returncode == 0, run.output[-3000:]
    assert run.result["runner"] == "container"
    pushed = run.result["pushed_model"]
    assert pushed and Path(pushed).is_relative_to(workdir / "serving"), pushed
    assert (Path(pushed) / "saved_model.pb").is_file()
    assert "Pusher" in run.result["ran"]


def test_container_run_shows_component_progress_and_the_image(container_run, pipeline_image):
    _, run = container_run
    assert f"on container {pipeline_image.ref}" in run.stdout
    assert "CsvExampleGen" in run.stdout and "Pusher" in run.stdout
    assert "pushed:" in run.stdout


def test_container_mlmd_holds_the_same_components_and_types_as_a_local_run(
        container_run, taxi_run):
    workdir, run = container_run
    assert run.returncode == 0, run.output[-3000:]
    local = mlmd_types(taxi_run.workdir / "metadata.sqlite")
    inside = mlmd_types(workdir / "metadata.sqlite")
    assert inside == local
    local_components = [c["name"] for c in taxi_run.first.result["components"]]
    assert [c["name"] for c in run.result["components"]] == local_components


def test_error_inside_the_container_reaches_the_user_as_one_line(pipeline_image, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    env = container_env(tmp_path, MLOPS_PIPELINE__DATA_ROOT=str(empty))
    run = mlops("run", "--pipeline", "taxi", "--runner", "container", "--image",
                pipeline_image.ref, env=env, timeout=900)
    assert run.returncode == 4, run.output[-3000:]
    error_lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert error_lines == [f"error: no data files match '*' under {empty}"], run.stderr[-2000:]
    assert "Traceback" not in run.output


def test_component_failure_in_container_names_the_component_and_message(
        pipeline_image, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    # The taxi sample with a column the schema lacks: readable, so the pre-run check lets it
    # through, ExampleValidator finds the anomaly, and the ValidationGate fails the run.
    rows = taxi_csv().read_text().splitlines()[:200]
    (data / "data.csv").write_text("\n".join([rows[0] + ",driver_rating"]
                                             + [r + ",5" for r in rows[1:]]) + "\n")
    env = container_env(tmp_path / "ws", MLOPS_PIPELINE__DATA_ROOT=str(data))
    run = mlops("run", "--pipeline", "taxi", "--runner", "container", "--image",
                pipeline_image.ref, env=env, json_out=tmp_path / "result.json", timeout=900)
    assert run.returncode == 3, run.output[-3000:]
    error_lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, run.stderr[-2000:]
    assert "data validation failed: column 'driver_rating': New column" in error_lines[0]
    assert "Traceback" not in run.output
    failed = [c for c in run.result["components"] if c["state"] == "failed"]
    assert [c["name"] for c in failed] == ["ValidationGate"]
    assert failed[0]["error"].startswith("data validation failed")
    assert re.search(r"\[\s*\d+/\d+\] ValidationGate\s+FAILED", run.stdout), run.stdout
    assert run.result["pushed_model"] is None
