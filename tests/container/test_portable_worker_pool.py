"""The portable run with its SDK worker pool inside the pipeline image (podman, host network):
the setup a Flink or Spark cluster's workers have, the image holding the user code."""

from __future__ import annotations

import pytest

from tests.conftest import mlops
from tests.container.conftest import container_env

pytestmark = pytest.mark.container


def test_the_pipeline_runs_with_its_sdk_workers_in_the_pipeline_image(pipeline_image, docker_api,
                                                                    tmp_path):
    env = container_env(tmp_path, MLOPS_BEAM__RUNNER="PortableRunner",
                        MLOPS_BEAM__PORTABLE__LOCAL_SERVICES="true",
                        MLOPS_BEAM__PORTABLE__WORKER_POOL_IMAGE=pipeline_image.ref)
    run = mlops("run", "--pipeline", "taxi", env=env, json_out=tmp_path / "run.json",
                timeout=1500)
    assert run.returncode == 0, run.output[-3000:]
    assert f"in a container of {pipeline_image.ref}" in run.stdout
    assert run.result["blessed"] is True and run.result["pushed_model"]
    workers = (tmp_path / "pipeline_root" / "logs" / "beam-worker-pool.log").read_text()
    assert workers.count("Starting worker with command") >= 3, workers[-2000:]
    left = docker_api.containers.list(all=True,
                                      filters={"label": "portable-mlops.beam-worker-pool"})
    assert left == []  # the pool's container is gone after the run


def test_a_worker_pool_image_that_is_not_on_the_engine_is_one_line(docker_api, tmp_path):
    env = container_env(tmp_path, MLOPS_BEAM__RUNNER="PortableRunner",
                        MLOPS_BEAM__PORTABLE__LOCAL_SERVICES="true",
                        MLOPS_BEAM__PORTABLE__WORKER_POOL_IMAGE="localhost/never-built:x")
    run = mlops("run", "--pipeline", "taxi", env=env)
    assert run.returncode == 2, run.output[-2000:]
    [line] = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert line == ("error: beam.portable.worker_pool_image localhost/never-built:x is not on "
                    "the engine (build it: mlops image build)")
