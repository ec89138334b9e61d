"""The seams the rehearsal uses inside `kfp.local`, each checked against the kfp it was written for.

1. The one behaviour change, a known `kfp.local` limitation: it hands an upstream output to
   the next task as a `dsl.Artifact` and rebuilds the input from `schema_title` alone
   (`executor_input_utils.dsl_artifact_to_artifact_list`), so TFX's container entrypoint,
   which finds the artifact class in the type's `instanceSchema`, fails with "Could not
   import system.Artifact". A real KFP backend passes the artifact's full type. Here each
   input artifact gets back the type the consuming component declares for it in the spec
   (TFX declares the same class on both ends of an edge).
2. Two observers, which change nothing kfp.local does: one around each task (its name,
   time, status, and its printed output sent to a log file of its own instead of the
   terminal), and one around each container (which container ran the task, its exit code;
   the stopped container is removed afterwards, as kfp.local leaves it behind).

Everything is patched only inside `adapted()`, and only on a kfp version listed in
SUPPORTED; on another one the rehearsal refuses with one line instead of guessing.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from framework.core.errors import UserError

# kfp versions whose kfp/local sources these seams were read from.
SUPPORTED = ("2.13.",)
TARGETS = (
    ("kfp.local.executor_input_utils", "construct_executor_input"),
    ("kfp.local.task_dispatcher", "run_single_task_implementation"),
    ("kfp.local.docker_task_handler", "run_docker_container"),
)


@dataclass
class TaskRecord:
    """One task as the rehearsal saw it."""

    name: str  # the component name in the spec (the TFX node id)
    seconds: float = 0.0
    succeeded: bool = False
    log: Optional[Path] = None
    container: Optional[str] = None  # the container id
    exit_code: Optional[int] = None
    image: Optional[str] = None
    outputs: dict = field(default_factory=dict)  # output key -> kfp dsl.Artifact


@dataclass
class Observed:
    """What `adapted()` records while kfp.local runs."""

    log_dir: Path
    on_start: Callable[[str], None] = lambda name: None
    on_end: Callable[[TaskRecord], None] = lambda record: None
    keep_containers: bool = False
    tasks: list[TaskRecord] = field(default_factory=list)


def check_version() -> str:
    """The installed kfp version, or a UserError when the seams were not written for it."""
    import importlib

    import kfp

    version = getattr(kfp, "__version__", "unknown")
    if not version.startswith(SUPPORTED):
        raise UserError(
            f"the rehearsal supports kfp {', '.join(v + 'x' for v in SUPPORTED)} (its kfp.local "
            f"adapter is written against that source); kfp {version} is installed")
    for module_name, attribute in TARGETS:
        if not hasattr(importlib.import_module(module_name), attribute):
            raise UserError(f"kfp {version}: {module_name}.{attribute} is missing; "
                            "the rehearsal's kfp.local adapter does not fit this kfp")
    return version


def restore_input_types(executor_input, component_spec):
    """Give every input artifact the type the consuming component declares (see 1. above)."""
    declared = component_spec.input_definitions.artifacts
    for name, artifact_list in executor_input.inputs.artifacts.items():
        if name not in declared:
            continue
        for artifact in artifact_list.artifacts:
            artifact.type.CopyFrom(declared[name].artifact_type)
    return executor_input


@contextlib.contextmanager
def adapted(observed: Observed):
    """kfp.local with the type fix and the observers in place; everything restored after."""
    from kfp.local import docker_task_handler, executor_input_utils, task_dispatcher

    check_version()
    construct, run_task = (executor_input_utils.construct_executor_input,
                           task_dispatcher.run_single_task_implementation)
    run_container = docker_task_handler.run_docker_container
    current: dict = {}

    def construct_executor_input(*, component_spec, **kwargs):
        made = construct(component_spec=component_spec, **kwargs)
        return restore_input_types(made, component_spec)

    def run_single_task_implementation(*, component_name, **kwargs):
        record = TaskRecord(name=component_name)
        record.log = observed.log_dir / f"{component_name}.log"
        current["record"] = record
        observed.on_start(component_name)
        started = time.monotonic()
        try:
            with open(record.log, "w", encoding="utf-8") as log, \
                    contextlib.redirect_stdout(log):
                outputs, status = run_task(component_name=component_name, **kwargs)
        finally:
            record.seconds = time.monotonic() - started
            current.pop("record", None)
        record.succeeded = status.name == "SUCCESS"
        record.outputs = dict(outputs or {})
        observed.tasks.append(record)
        observed.on_end(record)
        return outputs, status

    def run_docker_container(client, image, command, volumes):
        before = _container_ids(client, image)
        code = run_container(client=client, image=image, command=command, volumes=volumes)
        record = current.get("record")
        if record is not None:
            record.exit_code, record.image = code, image
            new = [c for c in _containers(client, image) if c.id not in before]
            if new:
                record.container = new[0].id
                if not observed.keep_containers:
                    with contextlib.suppress(Exception):
                        new[0].remove(force=True)
        return code

    executor_input_utils.construct_executor_input = construct_executor_input
    task_dispatcher.run_single_task_implementation = run_single_task_implementation
    docker_task_handler.run_docker_container = run_docker_container
    try:
        yield observed
    finally:
        executor_input_utils.construct_executor_input = construct
        task_dispatcher.run_single_task_implementation = run_task
        docker_task_handler.run_docker_container = run_container


def _containers(client, image: str):
    return client.containers.list(all=True, filters={"ancestor": image})


def _container_ids(client, image: str) -> set[str]:
    return {c.id for c in _containers(client, image)}
