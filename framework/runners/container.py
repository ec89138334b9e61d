"""The container runner: the local runner, inside the pipeline image that production runs.

It builds the image from docker/ (or takes the one named with --image), then runs
`mlops run --runner local` in a container through the Docker API (Docker or podman). The
data, pipeline root, serving folder and SQLite ML-Metadata folder are bind-mounted at the
same paths they have on the host, so artifact URIs written inside stay valid outside, and
the RunResult is read back from the host's ML-Metadata like the local runner's.

`package://` data roots (data shipped in an installed package) are resolved on the host and
that folder is mounted read-only at the same path: the container reads exactly the files a
local run reads, and ML-Metadata records the same input path for both runners.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections import deque

from framework.core.errors import UserError
from framework.runners.base import ComponentResult, Runner, RunResult

LOCAL_IMAGE_TAG = "local"
DEFAULT_REPOSITORY = "localhost/portable-mlops"
# Inner `mlops run` lines that are progress (forwarded); the rest is kept for error reports.
PROGRESS_LINE = re.compile(
    r"^(pipeline \S+: run |\[\s*\d+/\d+\] |waiting: |the other run finished)")
HEADER_LINE = re.compile(r"^pipeline (\S+): run (\S+) on (.*), (\d+) components$")
SUMMARY_LINE = re.compile(r"^(run id|status|ran|cached|metrics|blessed|pushed):\s")
# Settings keys the container gets from the host's resolved settings, as MLOPS_* variables.
PATH_VARIABLES = {
    "MLOPS_PIPELINE__DATA_ROOT": ("pipeline", "data_root"),
    "MLOPS_PIPELINE__PIPELINE_ROOT": ("pipeline", "pipeline_root"),
    "MLOPS_PIPELINE__SERVING_DIR": ("pipeline", "serving_dir"),
    "MLOPS_METADATA__SQLITE_PATH": ("metadata", "sqlite_path"),
}


def _is_local(path: str | None) -> bool:
    return bool(path) and "://" not in path


def container_mounts(settings, extra_rw: tuple[str, ...] = ()) -> dict[str, dict]:
    """Host folders to bind at the same path: data read-only, outputs and MLMD read-write."""
    pipeline = settings.pipeline
    rw = [pipeline.pipeline_root, pipeline.serving_dir, *extra_rw]
    if settings.metadata.mysql is None and settings.metadata.sqlite_path:
        rw.append(os.path.dirname(settings.metadata.sqlite_path))
    for path in (pipeline.pipeline_root, pipeline.serving_dir):
        if not _is_local(path):
            raise UserError(
                f"the container runner needs local folders; {path} is remote "
                "(run the kubeflow or vertex runner for cloud storage)")
    folders: list[str] = []
    for path in sorted({os.path.abspath(p) for p in rw if p}, key=len):
        # A folder inside one already mounted read-write needs no mount of its own.
        if not any(path == f or path.startswith(f + os.sep) for f in folders):
            folders.append(path)
    mounts = {}
    for folder in folders:
        os.makedirs(folder, exist_ok=True)
        mounts[folder] = {"bind": folder, "mode": "rw"}
    data = pipeline.data_root
    if _is_local(data):
        data = os.path.abspath(data)
        if not os.path.isdir(data):
            raise UserError(f"data_root {data}: no such folder")
        if not any(data == f or data.startswith(f + os.sep) for f in folders):
            mounts[data] = {"bind": data, "mode": "ro"}
    return mounts


def container_environment(settings) -> dict[str, str]:
    """MLOPS_* for the inner run: the host's overrides, then its resolved paths."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("MLOPS_") and k not in ("MLOPS_PROJECT_ROOT", "MLOPS_ENV")}
    env["MLOPS_ENV"] = settings.env
    for name, (section, key) in PATH_VARIABLES.items():
        value = getattr(getattr(settings, section), key)
        if value is not None:
            env[name] = os.path.abspath(value) if _is_local(value) else value
    env["MLOPS_ENABLE_CACHE"] = "true" if settings.enable_cache else "false"
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        env["TF_CPP_MIN_LOG_LEVEL"] = os.environ["TF_CPP_MIN_LOG_LEVEL"]
    return env


class ContainerRunner(Runner):
    name = "container"

    def __init__(self, settings, *, image: str | None = None, verbose: bool = False, **options):
        super().__init__(settings, **options)
        self.image = image
        self.verbose = verbose

    # -- the image -------------------------------------------------------------------------

    def local_ref(self) -> str:
        repository = self.settings.image.repository or DEFAULT_REPOSITORY
        return f"{repository}:{LOCAL_IMAGE_TAG}"

    def ensure_image(self, client, progress) -> str:
        """The image to run: the one named with --image, else a build of docker/."""
        from framework.container.client import build_ca_bundle
        from framework.container.image import BuildProgress, build_image, image_exists
        from framework.pipeline.discovery import project_root

        if self.image:
            if not image_exists(client, self.image):
                raise UserError(f"image {self.image} not found on the engine "
                                "(build it: mlops run --runner container without --image)")
            return self.image
        ref = self.local_ref()
        progress.message(f"image: building {ref} from docker/ "
                         f"(base {self.settings.image.base_image})")
        built = build_image(
            client, project_root(), [ref], base_image=self.settings.image.base_image,
            ca_bundle=build_ca_bundle(self.settings),
            on_line=BuildProgress(progress.message, self.verbose),
        )
        note = "all steps cached" if built.fully_cached else \
            f"{built.cached_steps}/{built.steps} steps cached"
        progress.message(f"image: {ref} ready in {built.seconds:.1f}s ({note})")
        return ref

    # -- the run ---------------------------------------------------------------------------

    def command(self, result_file: str) -> list[str]:
        cmd = ["mlops", "run", "--pipeline", self.settings.pipeline.name,
               "--env", self.settings.env, "--runner", "local", "--json", result_file]
        return cmd + (["--verbose"] if self.verbose else [])

    def run(self, progress=None) -> RunResult:
        from framework.container.client import docker_client
        from framework.core.progress import ConsoleProgress

        progress = progress or ConsoleProgress()
        started = time.monotonic()
        client = docker_client(self.settings)
        image = self.ensure_image(client, progress)
        with tempfile.TemporaryDirectory(prefix="mlops-container-") as result_dir:
            result_file = os.path.join(result_dir, "result.json")
            mounts = container_mounts(self.settings, extra_rw=(result_dir,))
            status, tail, header = self._run_container(
                client, image, self.command(result_file), mounts, progress)
            inner = None
            if os.path.exists(result_file):
                with open(result_file, encoding="utf-8") as handle:
                    inner = json.load(handle)
        result = self._result(image, status, tail, header, inner)
        result.seconds = time.monotonic() - started
        return result

    def _user(self, client) -> str | None:
        from framework.container.client import host_user

        return host_user(client)

    def _run_container(self, client, image, command, mounts, progress):
        """Run the container, forward its progress lines; (exit status, last lines, header)."""
        tail: deque[str] = deque(maxlen=40)
        header = None
        container = client.containers.create(
            image, command=command, environment=container_environment(self.settings),
            volumes=mounts, working_dir=self.settings.image.workdir, network_mode="host",
            user=self._user(client),
            labels={"portable-mlops.pipeline": self.settings.pipeline.name},
        )
        try:
            container.start()
            pending = b""
            for chunk in container.logs(stream=True, follow=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    header = self._forward(raw.decode("utf-8", "replace").rstrip(), image,
                                           progress, tail) or header
            if pending.strip():
                header = self._forward(pending.decode("utf-8", "replace").rstrip(), image,
                                       progress, tail) or header
            status = container.wait().get("StatusCode", -1)
        except KeyboardInterrupt:
            progress.message("interrupted: stopping the container")
            container.stop(timeout=5)
            raise
        finally:
            try:
                container.remove(force=True)
            except Exception:  # already gone: nothing to clean
                pass
        return status, list(tail), header

    def _forward(self, line: str, image: str, progress, tail) -> tuple | None:
        if not line.strip():
            return None
        tail.append(line)
        match = HEADER_LINE.match(line)
        if match:
            name, run_id, where, count = match.groups()
            progress.message(f"pipeline {name}: run {run_id} on container {image} "
                             f"[{where}], {count} components")
            return name, run_id
        if PROGRESS_LINE.match(line) or (self.verbose and not SUMMARY_LINE.match(line)):
            progress.message(line)
        return None

    # -- the result --------------------------------------------------------------------------

    def _result(self, image, status, tail, header, inner) -> RunResult:
        run_id = (inner or {}).get("run_id") or (header[1] if header else "")
        result = RunResult(self.settings.pipeline.name, run_id, self.name, succeeded=False)
        if inner:
            result.components = [
                ComponentResult(c["name"], c["state"], c.get("seconds", 0.0), c.get("error"))
                for c in inner.get("components", [])
            ]
        if run_id:
            self._states_from_metadata(result)
        errors = [line[len("error: "):] for line in tail if line.startswith("error: ")]
        if status == 0 and inner and inner.get("succeeded"):
            result.succeeded = True
            self._read_outcome(result)
            return result
        if inner and inner.get("error"):
            result.error = inner["error"]
        elif errors:
            result.error = errors[-1]
        else:
            last = tail[-1] if tail else "no output"
            killed = " (killed: out of memory?)" if status == 137 else ""
            result.error = (f"the container ({image}) exited with status {status}{killed}; "
                            f"last line: {last[:300]}")
        return result

    def _read_outcome(self, result: RunResult) -> None:
        """Metrics, blessing and push from the host's store; TFMA's log noise to a file."""
        from pathlib import Path

        from framework.core.progress import SilentProgress
        from framework.metadata.outcome import read_outcome
        from framework.runners.log_capture import quiet_logs

        log_file = None
        if not self.verbose:
            name = f"{result.run_id.replace(':', '-')}.host.log"
            log_file = Path(self.settings.pipeline.pipeline_root) / "logs" / name
        with quiet_logs(log_file, SilentProgress()):
            result.metrics, result.blessed, result.pushed_model = read_outcome(
                self.settings, result.run_id)

    def _states_from_metadata(self, result: RunResult) -> None:
        """Component states as the host's ML-Metadata holds them (the store of record)."""
        from framework.metadata.store import open_store, run_executions

        try:
            with open_store(self.settings) as store:
                records = run_executions(store, self.settings.pipeline.name, result.run_id)
        except Exception:  # no store yet (the container died before the first component)
            return
        states = {r.node: r.state for r in records}
        known = {c.name for c in result.components}
        for component in result.components:
            if component.name in states and component.state != "skipped":
                component.state = states[component.name]
        for record in records:
            if record.node not in known:
                result.components.append(ComponentResult(record.node, record.state))
