"""`mlops rehearse`: the compiled Kubeflow spec of taxi, run for real in the pipeline image.

One rehearsal per module (about two minutes: nine containers, 20 training steps), through
the CLI as a user runs it, on the image CI builds once (tests/container/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, mlops

pytestmark = pytest.mark.container

TAG = "pytest-rehearsal"
TASKS = ["CsvExampleGen", "Evaluator", "ExampleValidator", "Pusher", "StatisticsGen",
         "Trainer", "Transform", "ValidationGate", "schema_importer"]


def rehearsal_env(**extra: str) -> dict[str, str]:
    """The runner's environment without its MLOPS_* settings, and a short training."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(MLOPS_PROJECT_ROOT=str(ROOT), MLOPS_TRAINING__TRAIN_STEPS="20",
               MLOPS_TRAINING__EVAL_STEPS="5", **extra)
    return env


def rehearse(root: Path, *args: str, env: dict | None = None):
    return mlops("rehearse", "--env", "dev", "--target", "kubeflow", "--root", str(root),
                 *args, env=env or rehearsal_env(), json_out=root / "result.json",
                 timeout=1800)


@pytest.fixture(scope="module")
def rehearsal(pipeline_image, tmp_path_factory):
    root = tmp_path_factory.mktemp("rehearsal")
    return root, rehearse(root, "--tag", TAG, "--local-image", pipeline_image.ref)


def test_every_task_of_the_spec_ran_in_its_own_container_of_the_image(rehearsal, docker_api):
    root, run = rehearsal
    assert run.returncode == 0, run.output[-4000:]
    tasks = run.result["tasks"]
    assert sorted(tasks) == TASKS
    spec_image = f"europe-west4-docker.pkg.dev/portable-mlops-dev/mlops/taxi:{TAG}"
    for name, task in tasks.items():
        assert re.fullmatch(r"[0-9a-f]{64}", task["container"] or ""), (name, task)
        assert task["exit_code"] == 0 and task["image"] == spec_image, (name, task)
    assert len({t["container"] for t in tasks.values()}) == len(TASKS)
    # The stopped containers were removed afterwards.
    left = {c.id for c in docker_api.containers.list(all=True)}
    assert not left & {t["container"] for t in tasks.values()}


def test_the_model_was_blessed_and_pushed_to_the_local_serving_folder(rehearsal):
    root, run = rehearsal
    assert run.returncode == 0, run.output[-4000:]
    assert run.result["blessed"] is True
    pushed = Path(run.result["pushed_model"])
    assert pushed.parent == root / "serving"
    assert (pushed / "saved_model.pb").is_file()
    assert run.result["metrics"]["example_count"] > 0


def test_the_pushed_model_answers_a_prediction_request(rehearsal):
    from framework.serving.models import LoadedModel
    from framework.serving.signature import parse_predict_body
    from pipelines.taxi.features import EXAMPLE_INSTANCE

    _root, run = rehearsal
    assert run.returncode == 0, run.output[-4000:]
    model = LoadedModel("1", run.result["pushed_model"])
    arrays, _form = parse_predict_body({"instances": [EXAMPLE_INSTANCE]},
                                       model.signature("serving_default"))
    [scores] = model.predict("serving_default", arrays).values()
    assert scores.shape[0] == 1 and 0.0 <= float(scores.ravel()[0]) <= 1.0


def test_the_spec_rehearsed_is_the_one_compile_writes_for_deploy(rehearsal, tmp_path):
    root, run = rehearsal
    assert run.returncode == 0, run.output[-4000:]
    compiled = mlops("compile", "--env", "dev", "--target", "kubeflow", "--tag", TAG,
                     "--out", str(tmp_path), env=rehearsal_env())
    assert compiled.returncode == 0, compiled.output[-2000:]
    deployed = (tmp_path / "taxi-kubeflow.yaml").read_text()
    assert (root / "compiled" / "taxi-kubeflow.yaml").read_text() == deployed


def test_output_names_each_replacement_and_one_line_per_task_with_its_time(rehearsal):
    root, run = rehearsal
    assert run.returncode == 0, run.output[-4000:]
    out = run.stdout
    assert f"replaced data root: gs://portable-mlops-dev/data/taxi -> {root}/data" in out
    assert f"replaced serving: gs://portable-mlops-dev/serving/taxi -> {root}/serving" in out
    assert "replaced beam: DataflowRunner (10 arguments) -> DirectRunner" in out
    assert "not run: CsvExampleGen preCacheCheck" in out
    for name in TASKS:
        assert re.search(rf"\] {name}\s+complete\s+\d+\.\ds", out), name
    assert "blessed:     yes" in out and "status:      succeeded" in out
    assert "kfp.local" not in out.split("pipeline taxi:")[1].split("run id:")[0].replace(
        "on kfp.local", ""), "kfp.local's own log belongs in its log file"
    assert json.loads((root / "result.json").read_text())["succeeded"] is True


def test_the_vertex_spec_rehearses_without_its_resolvers_as_a_first_run(pipeline_image,
                                                                        tmp_path):
    run = mlops("rehearse", "--env", "staging", "--target", "vertex", "--root", str(tmp_path),
                "--tag", TAG, "--local-image", pipeline_image.ref, env=rehearsal_env(),
                json_out=tmp_path / "result.json", timeout=1800)
    assert run.returncode == 0, run.output[-4000:]
    assert sorted(run.result["tasks"]) == TASKS
    assert run.result["stand_ins"][:2] == [
        "not run: latest_blessed_model_resolver-model-blessing-resolver (a resolver node, which "
        "kfp.local cannot execute); read only by latest_blessed_model_resolver-model-resolver, "
        "which is not run either",
        "not run: latest_blessed_model_resolver-model-resolver (a resolver node, which "
        "kfp.local cannot execute); rehearsed as a first run, where it finds nothing: no input "
        "for Evaluator.baseline_model"]
    assert run.result["blessed"] is True and run.result["pushed_model"]
    assert (tmp_path / "compiled" / "taxi-vertex.json").is_file()


# ------------------------------------------------------------------ rehearsals that must fail


def _no_task_started(run) -> bool:
    return "started" not in run.stdout


def test_an_image_without_the_pipeline_code_is_refused_before_any_task(pipeline_image,
                                                                       tmp_path):
    from tests.container.conftest import base_image

    # The bare base image: Python, but no /app with the pipeline package.
    run = rehearse(tmp_path, "--tag", "pytest-no-code", "--local-image", base_image())
    assert run.returncode == 2, run.output[-2000:]
    [line] = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert "lacks /app/pipelines/taxi/" in line and "does not hold this pipeline's code" in line
    assert _no_task_started(run)


def test_a_spec_with_a_path_that_is_not_mounted_is_refused_before_any_task(
        rehearsal, pipeline_image, tmp_path):
    import yaml

    root, first = rehearsal
    assert first.returncode == 0, first.output[-2000:]
    spec = yaml.safe_load((root / "compiled" / "taxi-kubeflow.yaml").read_text())
    params = spec["root"]["dag"]["tasks"]["CsvExampleGen"]["inputs"]["parameters"]
    params["input_base"]["runtimeValue"]["constant"] = "/srv/elsewhere/taxi"
    package = tmp_path / "other.yaml"
    package.write_text(yaml.safe_dump(spec))
    run = rehearse(tmp_path / "root", "--tag", TAG, "--package", str(package),
                   "--local-image", pipeline_image.ref)
    assert run.returncode == 2, run.output[-2000:]
    assert ("error: the spec gives CsvExampleGen /srv/elsewhere/taxi, which is neither under "
            "the rehearsal root") in run.stderr
    assert _no_task_started(run)


def test_an_image_reference_that_is_not_on_the_engine_is_refused(docker_api, tmp_path):
    run = rehearse(tmp_path, "--tag", "pytest-never-built", "--local-image",
                   "localhost/portable-mlops:never-built")
    assert run.returncode == 2, run.output[-2000:]
    # The image named with --local-image is the one that must be there.
    assert ("error: localhost/portable-mlops:never-built (--local-image) is not on the "
            "engine: build the pipeline image first") in run.stderr
    assert _no_task_started(run)
