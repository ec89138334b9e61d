"""Beam beyond one process, on paper: the portable runners' arguments and pre-flight rules.

No job service is needed here; tests/integration/test_portable_runner.py runs one for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.settings.loader import settings_from_dict


def settings(beam: dict, pipeline: dict | None = None, image: dict | None = None):
    data = {"base": {
        "pipeline": {"name": "taxi", "data_root": "data", "pipeline_root": "root",
                     "serving_dir": "serving", **(pipeline or {})},
        "beam": beam, "image": {"repository": "registry.example/mlops/taxi", "tag": "abc123",
                                **(image or {})}}}
    return settings_from_dict(data, "local", root=Path("/project"), environ={})


def problems(beam: dict, **kwargs) -> list[str]:
    from framework.production.portable import check_portable

    return check_portable(settings(beam, **kwargs))


GS = {"pipeline_root": "gs://team/root", "data_root": "gs://team/data"}


def test_each_runner_gets_the_arguments_beam_expects():
    from framework.pipeline.pipeline_support import beam_args

    portable = beam_args(settings({"runner": "PortableRunner", "portable": {
        "job_endpoint": "flink-jobserver:8099", "environment_type": "EXTERNAL",
        "environment_config": "workers:50000", "sdk_worker_parallelism": 2}}))
    assert portable == ["--runner=PortableRunner", "--job_endpoint=flink-jobserver:8099",
                        "--environment_type=EXTERNAL", "--environment_config=workers:50000",
                        "--sdk_worker_parallelism=2", "--job_server_timeout=86400"]
    flink = beam_args(settings({"runner": "FlinkRunner", "flink": {
        "master": "flink:8081", "version": "1.18", "parallelism": 4}}))
    assert flink == ["--runner=FlinkRunner", "--flink_master=flink:8081", "--flink_version=1.18",
                     "--parallelism=4", "--environment_type=DOCKER",
                     "--environment_config=registry.example/mlops/taxi:abc123",
                     "--job_server_timeout=86400"]
    spark = beam_args(settings({"runner": "SparkRunner",
                                "spark": {"master_url": "spark://spark:7077"}}))
    assert spark[:2] == ["--runner=SparkRunner", "--spark_master_url=spark://spark:7077"]


def test_good_cluster_settings_pass_beams_own_parser():
    assert problems({"runner": "FlinkRunner", "flink": {"master": "flink:8081",
                                                        "version": "1.18"}}, pipeline=GS) == []
    assert problems({"runner": "PortableRunner", "portable": {
        "job_endpoint": "jobserver:8099"}}, pipeline=GS) == []


@pytest.mark.parametrize("beam, pipeline, expected", [
    ({"runner": "PortableRunner"}, GS,
     "beam.runner is PortableRunner but beam.portable.job_endpoint is not set"),
    ({"runner": "PortableRunner", "portable": {"job_endpoint": "jobserver"}}, GS,
     "beam.portable.job_endpoint is 'jobserver': expected host:port"),
    ({"runner": "PortableRunner", "portable": {"job_endpoint": "jobserver:99999"}}, GS,
     "beam.portable.job_endpoint is 'jobserver:99999': expected host:port"),
    ({"runner": "PortableRunner", "portable": {"job_endpoint": "jobserver:8099",
                                               "environment_type": "LOOPBACK"}}, GS,
     "beam.portable.environment_type is LOOPBACK, which runs the workers in this process"),
    ({"runner": "PortableRunner", "portable": {"job_endpoint": "jobserver:8099"}}, {},
     "pipeline.pipeline_root is a local path (/project/root), which the cluster's workers "
     "cannot read"),
    ({"runner": "FlinkRunner", "flink": {"master": "flink:8081", "version": "1.12"}}, GS,
     "beam.flink.version 1.12 is not one this Beam supports (1.15, 1.16, 1.17, 1.18)"),
    ({"runner": "PortableRunner", "portable": {"job_endpoint": "jobserver:8099",
                                               "environment_type": "EXTERNAL"}}, GS,
     "environment_type is EXTERNAL but environment_config (the worker pool's host:port)"),
])
def test_what_breaks_on_a_cluster_is_one_line_each(beam, pipeline, expected):
    found = problems(beam, pipeline=pipeline)
    assert any(expected in p for p in found), found


def test_loopback_with_a_job_service_on_this_machine_is_fine():
    assert problems({"runner": "PortableRunner", "portable": {
        "job_endpoint": "localhost:8099", "environment_type": "LOOPBACK"}}) == []


def test_an_option_beam_does_not_know_is_reported_by_beams_parser():
    found = problems({"runner": "PortableRunner", "portable": {"job_endpoint": "localhost:8099"},
                      "extra_args": ["--flink_paralelism=3"]})
    assert found == ["Beam does not know the option --flink_paralelism"]


def test_an_unknown_runner_is_a_settings_error():
    from framework.core.errors import SettingsError

    with pytest.raises(SettingsError, match="beam.runner"):
        settings({"runner": "SamzaRunner"})


def test_a_docker_environment_image_needs_beams_boot_entrypoint_and_the_user_code():
    from framework.production.portable import BOOT, docker_environment_problems

    s = settings({"runner": "FlinkRunner", "flink": {"master": "flink:8081"}}, pipeline=GS)
    asked = []

    def lacks_everything(image, paths):
        asked.append(image)
        return list(paths)

    found = docker_environment_problems(s, lacks_everything)
    assert asked == ["registry.example/mlops/taxi:abc123"]
    assert f"lacks {BOOT}, Beam's SDK worker entrypoint" in found[0]
    assert "lacks /app/pipelines/taxi" in found[1]
    assert docker_environment_problems(s, lambda image, paths: []) == []


def test_local_services_keep_their_ports_from_run_to_run_so_the_cache_holds():
    from framework.runners.beam_services import service_ports

    s = settings({"runner": "PortableRunner", "portable": {"local_services": True}})
    first, second = service_ports(s), service_ports(s)
    assert first == second and len(set(first.values())) == 2
    other = settings({"runner": "PortableRunner"}, pipeline={"pipeline_root": "elsewhere"})
    assert service_ports(other) != first


def test_a_beam_job_longer_than_beams_default_job_server_timeout_is_not_cut_off():
    # Beam puts --job_server_timeout on the job's state and message streams too: with its
    # default of 60 s, a component whose Beam job runs longer fails with DEADLINE_EXCEEDED.
    from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

    from framework.pipeline.pipeline_support import beam_args

    args = beam_args(settings({"runner": "PortableRunner",
                               "portable": {"job_endpoint": "jobserver:8099"}}))
    assert PipelineOptions(args).view_as(PortableOptions).job_server_timeout >= 3600
