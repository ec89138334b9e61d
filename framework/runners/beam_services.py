"""Beam's own portable job service and an SDK worker pool, started here for one run.

With `beam.portable.local_services: true`, a run on PortableRunner gets what a Flink or
Spark cluster would give it: a job service that takes the pipeline through Beam's Job API
(Beam's `local_job_service_main`, through `beam_job_service` here, which makes it spread
each job over `sdk_worker_parallelism` workers as a cluster's job server does) and a pool of SDK workers that
run its Python code over the Fn API (`apache_beam.runners.worker.worker_pool_main`,
environment EXTERNAL). Both come from the installed apache-beam; both are stopped when the
run ends, however it ends.

The workers import the pipeline's modules themselves, so the pool gets the project and the
pipeline's folder on its PYTHONPATH, and the Python of this environment first on its PATH
(the pool starts each worker as `python`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from framework.core.errors import UserError
from framework.core.net import answers

START_TIMEOUT_S = 90.0


class BeamServiceError(UserError):
    """Beam's job service or worker pool did not start or stopped answering."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def service_ports(settings) -> dict[str, int]:
    """Ports for the job service and the worker pool, the same run after run when free.

    The endpoints are part of the Beam arguments, which TFX counts in each component's cache
    key: ports that changed with every run would make every run a cache miss.
    """
    import hashlib

    key = f"{settings.pipeline.name}:{settings.pipeline.pipeline_root}".encode()
    base = 20000 + int(hashlib.sha256(key).hexdigest(), 16) % 20000 * 2
    ports = {"job service": base, "worker pool": base + 1}
    return {name: port if _port_is_free(port) else free_port() for name, port in ports.items()}


def _environment(settings) -> dict[str, str]:
    from framework.pipeline.discovery import find_pipeline, project_root

    env = dict(os.environ)
    paths = [str(project_root()), str(find_pipeline(settings.pipeline.name).folder)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


class ProcessService:
    """A service run as a local process (its own process group, so that it stops whole)."""

    def __init__(self, argv: list[str], log: Path, env: dict):
        handle = open(log, "w", encoding="utf-8")
        self.process = subprocess.Popen([sys.executable, "-m", *argv], stdout=handle,
                                        stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)

    def poll(self):
        return self.process.poll()

    @property
    def returncode(self):
        return self.process.returncode

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class ContainerService:
    """A service run in a container of an image, through the Docker API (host network)."""

    def __init__(self, settings, image: str, argv: list[str], log: Path):
        from framework.container.client import docker_client, host_user
        from framework.container.image import image_exists
        from framework.runners.container import container_mounts

        self.client, self.log = docker_client(settings), log
        if not image_exists(self.client, image):
            raise BeamServiceError(f"beam.portable.worker_pool_image {image} is not on the "
                                   "engine (build it: mlops image build)")
        workdir = settings.image.workdir.rstrip("/")
        self.container = self.client.containers.run(
            image, ["python", "-m", *argv], detach=True, network_mode="host",
            volumes=container_mounts(settings), user=host_user(self.client),
            environment={"PYTHONPATH": f"{workdir}:{workdir}/pipelines/{settings.pipeline.name}"},
            labels={"portable-mlops.beam-worker-pool": settings.pipeline.name})
        self.returncode = None

    def poll(self):
        self.container.reload()
        if self.container.status in ("exited", "dead"):
            self.returncode = self.container.attrs["State"]["ExitCode"]
        return self.returncode

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.container.stop(timeout=10)
        with contextlib.suppress(Exception):
            self.log.write_bytes(self.container.logs())
        with contextlib.suppress(Exception):
            self.container.remove(force=True)


def _wait_ready(services: dict, ports: dict, logs: dict) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = dict(ports)
    while pending:
        for name, port in list(pending.items()):
            if services[name].poll() is not None:
                raise BeamServiceError(f"Beam's {name} exited at start (exit code "
                                       f"{services[name].returncode}); its log: {logs[name]}")
            if answers("127.0.0.1", port):
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise BeamServiceError(f"Beam's {', '.join(pending)} did not answer within "
                                   f"{START_TIMEOUT_S:.0f} s; logs: "
                                   f"{', '.join(map(str, logs.values()))}")
        time.sleep(0.3)


def _stop(services: dict) -> None:
    for service in services.values():
        service.stop()


@contextmanager
def local_services(settings, log_dir: Path, say):
    """Start the job service and the worker pool; yield settings that point Beam at them."""
    log_dir.mkdir(parents=True, exist_ok=True)
    ports = service_ports(settings)
    logs = {name: log_dir / f"beam-{name.replace(' ', '-')}.log" for name in ports}
    env = _environment(settings)
    services = {}
    try:
        services["job service"] = ProcessService(
            ["framework.runners.beam_job_service", "--port",
             str(ports["job service"])], logs["job service"], env)
        pool = ["apache_beam.runners.worker.worker_pool_main", "--service_port",
                str(ports["worker pool"])]
        image = settings.beam.portable.worker_pool_image
        services["worker pool"] = ContainerService(settings, image, pool, logs["worker pool"]) \
            if image else ProcessService(pool, logs["worker pool"], env)
        _wait_ready(services, ports, logs)
        where = f" in a container of {image}" if image else ""
        say(f"beam: Beam's job service on localhost:{ports['job service']} and an SDK worker "
            f"pool on localhost:{ports['worker pool']}{where}; logs in {log_dir}")
        portable = dataclasses.replace(
            settings.beam.portable, job_endpoint=f"localhost:{ports['job service']}",
            environment_type="EXTERNAL", environment_config=f"localhost:{ports['worker pool']}")
        yield settings.replace(beam=dataclasses.replace(settings.beam, portable=portable)), \
            services
    finally:
        _stop(services)
