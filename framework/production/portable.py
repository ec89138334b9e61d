"""What breaks when Beam leaves one process: checks of the portable runners' settings.

PortableRunner, FlinkRunner and SparkRunner send the pipeline to a job service and run its
Python code in SDK workers elsewhere. Each rule here is one line that names the setting:
a missing or malformed endpoint, LOOPBACK workers with a job service on another machine,
local paths that the workers cannot read, a Flink version this Beam cannot talk to, and
a DOCKER environment whose image lacks Beam's boot entrypoint or the pipeline's code.
The arguments themselves also go through Beam's own option parser (dataflow.py).
"""

from __future__ import annotations

import re
from typing import Callable, Optional

ENDPOINT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "0.0.0.0")
BOOT = "/opt/apache/beam/boot"  # the entrypoint of Beam's SDK containers


def split_endpoint(value: str) -> Optional[tuple[str, int]]:
    """(host, port) of 'host:port', or None when it is not one."""
    match = ENDPOINT.match(value or "")
    if not match or not 0 < int(match.group(2)) < 65536:
        return None
    return match.group(1), int(match.group(2))


def is_local_endpoint(value: str) -> bool:
    parsed = split_endpoint(value)
    return bool(parsed) and parsed[0] in LOCAL_HOSTS


def _endpoint_problems(settings) -> list[str]:
    beam, portable = settings.beam, settings.beam.portable
    problems = []
    named = {"beam.portable.job_endpoint": portable.job_endpoint,
             "beam.portable.artifact_endpoint": portable.artifact_endpoint}
    if portable.environment_type == "EXTERNAL":
        named["beam.portable.environment_config"] = portable.environment_config
    for key, value in named.items():
        if value and split_endpoint(value) is None:
            problems.append(f"{key} is {value!r}: expected host:port")
    if beam.runner == "PortableRunner" and not portable.job_endpoint and \
            not portable.local_services:
        problems.append("beam.runner is PortableRunner but beam.portable.job_endpoint is not "
                        "set (the job service's host:port; or local_services: true to start "
                        "Beam's own here)")
    if portable.environment_type == "EXTERNAL" and not portable.environment_config and \
            not portable.local_services:
        problems.append("beam.portable.environment_type is EXTERNAL but environment_config "
                        "(the worker pool's host:port) is not set")
    return problems


def _cluster_problems(settings) -> list[str]:
    beam, portable = settings.beam, settings.beam.portable
    problems = []
    remote = (portable.job_endpoint and not is_local_endpoint(portable.job_endpoint)) or \
        (beam.runner == "FlinkRunner" and beam.flink.master not in (None, "[local]", "[auto]")
         and not is_local_endpoint(beam.flink.master)) or \
        (beam.runner == "SparkRunner" and beam.spark.master_url and
         not beam.spark.master_url.startswith("local"))
    if remote and portable.environment_type == "LOOPBACK":
        problems.append("beam.portable.environment_type is LOOPBACK, which runs the workers in "
                        "this process: a job service on another machine cannot reach them "
                        "(use DOCKER or EXTERNAL)")
    if remote:
        for key in ("pipeline_root", "data_root"):
            value = getattr(settings.pipeline, key)
            if value and "://" not in value:
                problems.append(f"pipeline.{key} is a local path ({value}), which the "
                                "cluster's workers cannot read: use gs:// (or a path every "
                                "worker mounts)")
    if beam.runner == "FlinkRunner" and beam.flink.version:
        from apache_beam.options.pipeline_options import FlinkRunnerOptions

        supported = FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
        if beam.flink.version not in supported:
            problems.append(f"beam.flink.version {beam.flink.version} is not one this Beam "
                            f"supports ({', '.join(supported)})")
    return problems


def check_portable(settings) -> list[str]:
    """Problems with a portable runner's settings (none for other runners), Beam's own last."""
    from framework.pipeline.pipeline_support import PORTABLE_RUNNERS, beam_args
    from framework.production.dataflow import check_beam_args

    if settings.beam.runner not in PORTABLE_RUNNERS:
        return []
    problems = _endpoint_problems(settings) + _cluster_problems(settings)
    return problems or check_beam_args(beam_args(settings))


def docker_environment_problems(settings, missing_in_image: Callable[[str, list], list]) -> list:
    """A DOCKER environment's image must hold Beam's boot entrypoint and the user code.

    `missing_in_image(image, paths)` answers which paths the image lacks (the engine's view).
    """
    from framework.pipeline.pipeline_support import PORTABLE_RUNNERS, portable_args

    portable = settings.beam.portable
    if settings.beam.runner not in PORTABLE_RUNNERS or portable.environment_type != "DOCKER":
        return []
    config = next((a.split("=", 1)[1] for a in portable_args(settings)
                   if a.startswith("--environment_config=")), None)
    if not config:
        return ["beam.portable.environment_type is DOCKER but no image is named "
                "(environment_config, or image.repository and a tag)"]
    workdir = settings.image.workdir.rstrip("/")
    wanted = [BOOT, f"{workdir}/pipelines/{settings.pipeline.name}"]
    lacks = missing_in_image(config, wanted)
    problems = []
    if BOOT in lacks:
        problems.append(f"the DOCKER environment's image {config} lacks {BOOT}, Beam's SDK "
                        "worker entrypoint: build it on Beam's SDK image "
                        "(apache/beam_python3.11_sdk) or use an EXTERNAL worker pool")
    if wanted[1] in lacks:
        problems.append(f"the DOCKER environment's image {config} lacks {wanted[1]}: the "
                        "workers could not import the pipeline's code")
    return problems
