"""`mlops rehearse`: the spec `deploy` would upload, executed in the pipeline image here.

1. Compile exactly as `deploy` does for the environment (same runner object, pre-flight,
   image reference and parameters), or take the `--package` deploy would upload.
2. Make it runnable on one machine (local_spec.py): every change is printed.
3. Check, before any container starts, that the engine answers, the image is there and
   holds the pipeline's code, and every path a task is given is reachable (checks.py).
4. Execute it with kfp.local's Docker runner (kfp_local_adapter.py), one container per
   task, then read the blessing and the pushed model from the task outputs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from framework.core.errors import RunFailedError, UserError
from framework.runners.base import ComponentResult, RunResult

LOG_TAIL = 15  # lines of a failed task's log shown in the terminal


@dataclass
class RehearsalResult:
    run: RunResult
    spec_file: Path
    image: str
    replacements: list = field(default_factory=list)
    stand_ins: list = field(default_factory=list)
    tasks: list = field(default_factory=list)  # kfp_local_adapter.TaskRecord

    def to_dict(self) -> dict:
        out = self.run.to_dict()
        out.update(spec_file=str(self.spec_file), image=self.image,
                   replacements=[str(r) for r in self.replacements],
                   stand_ins=[str(s) for s in self.stand_ins],
                   tasks={t.name: {"container": t.container, "exit_code": t.exit_code,
                                   "image": t.image, "seconds": round(t.seconds, 1),
                                   "log": str(t.log)} for t in self.tasks})
        return out


def default_root(settings) -> Path:
    from framework.pipeline.discovery import project_root

    return project_root() / ".mlops" / "rehearsal" / settings.pipeline.name / settings.env


def sample_data(settings, data: Optional[str]) -> Path:
    """The folder whose files become the data root: --data, else the `local` environment's."""
    from framework.settings import load_settings

    source = data or load_settings(settings.pipeline.name, "local").pipeline.data_root
    if "://" in source:
        raise UserError(f"sample data {source}: the rehearsal copies local files; pass --data "
                        "with a local folder")
    path = Path(source)
    if not path.is_dir():
        raise UserError(f"sample data {source}: no such folder (pass --data FOLDER)")
    return path


def _local_beam_args(settings) -> list[str]:
    from framework.pipeline.pipeline_support import beam_args

    beam = dataclasses.replace(settings.beam, runner="DirectRunner", extra_args=[])
    return beam_args(settings.replace(beam=beam))


def prepare_spec(compiled, settings, root: Path):
    """(LocalSpec, {what: local folder}) for a compiled pipeline and its target settings."""
    from framework.pipeline.pipeline_support import beam_args
    from framework.rehearsal.local_spec import localize

    pipeline = settings.pipeline
    folders = {"pipeline root": root, "data root": root / "data", "serving": root / "serving"}
    paths = {
        "pipeline root": (pipeline.pipeline_root, str(root)),
        "data root": (pipeline.data_root, str(folders["data root"])),
        "serving": (pipeline.serving_dir, str(folders["serving"])),
    }
    production_beam = beam_args(settings) if settings.beam.runner != "DirectRunner" else []
    local = localize(compiled.spec, paths=paths, production_beam=production_beam,
                     local_beam_args=_local_beam_args(settings))
    return local, folders


def ensure_image(client, wanted: str, source: Optional[str], say,
                 fallback: Optional[str] = None) -> None:
    """`wanted` (the spec's reference) on the engine.

    `source`, an image the user named, is tagged `wanted` even when `wanted` is there
    already: an older build under the same reference would otherwise run in its place.
    Without one, `wanted` is used as it is, else `fallback` (the local build) tagged so.
    """
    from framework.container.image import split_ref
    from framework.rehearsal.checks import RehearsalCheckError, image_present

    if source is None and image_present(client, wanted):
        return
    use = source or fallback
    if use is None or not image_present(client, use):
        if source:
            given = f"{source} (--local-image) is not"
        else:
            given = f"neither {wanted} nor {fallback} is" if fallback else f"{wanted} is not"
        raise RehearsalCheckError(
            f"{given} on the engine: build the pipeline image first "
            f"(mlops image build --env ENV) or name one with --local-image")
    image = client.images.get(use)
    if wanted in image.tags:
        return
    repository, tag = split_ref(wanted)
    image.tag(repository, tag)
    say(f"image: {use} tagged as {wanted} (the reference the spec names)")


def run_checks(local, settings, root: Path, image_source: Optional[str], say,
               fallback: Optional[str] = None):
    """Engine, image, reachable paths: a RehearsalCheckError before any container starts."""
    from framework.container.client import docker_client, docker_host
    from framework.rehearsal.checks import check_reachable, engine_environment, spec_images
    from framework.rehearsal.kfp_local_adapter import check_version
    from framework.rehearsal.local_spec import referenced_paths

    check_version()
    client = docker_client(settings, timeout=120)
    engine_environment(docker_host(settings))
    images = spec_images(local.spec)
    for image in images:
        ensure_image(client, image, image_source, say, fallback)
    referenced = referenced_paths(local.spec)
    for image in images:
        check_reachable(referenced, root=str(root), workdir=settings.image.workdir,
                        client=client, image=image)
    return images


def copy_data(source: Path, target: Path) -> int:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return sum(1 for p in target.rglob("*") if p.is_file())


def write_spec(spec: dict, path: Path) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=True), encoding="utf-8")
    return path


def execute(spec_file: Path, parameters: dict, root: Path, observed) -> None:
    """The spec through kfp.local's Docker runner, with the adapter's seams in place.

    kfp.local prints its own log to stdout: it goes to kfp.local.log beside the task logs.
    """
    import contextlib

    from kfp import components, local

    from framework.rehearsal.kfp_local_adapter import adapted

    pipeline = components.load_component_from_file(str(spec_file))
    local.init(runner=local.DockerRunner(), pipeline_root=str(root), raise_on_error=False)
    log_path = observed.log_dir / "kfp.local.log"
    try:
        with open(log_path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
                adapted(observed):
            pipeline(**parameters)
    except UserError:
        raise
    except Exception as exc:  # kfp.local refused the spec itself (not a task's failure)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunFailedError(f"kfp.local could not run {spec_file.name}: {first[:300]} "
                             f"(its log: {log_path})") from None


def outcome(tasks) -> tuple[dict, Optional[bool], Optional[str]]:
    """(metrics, blessed, pushed destination) from the Evaluator's and Pusher's outputs."""
    from framework.metadata.outcome import evaluation_metrics

    metrics, blessed, pushed = {}, None, None
    for task in tasks:
        outputs = task.outputs or {}
        if "evaluation" in outputs:
            metrics = evaluation_metrics(outputs["evaluation"].uri)
        if "blessing" in outputs:
            uri = outputs["blessing"].uri
            blessed = os.path.exists(os.path.join(uri, "BLESSED"))
        if "pushed_model" in outputs:
            meta = outputs["pushed_model"].metadata or {}
            if meta.get("pushed"):
                pushed = meta.get("pushed_destination")
    return metrics, blessed, pushed


def failure_message(task) -> str:
    where = f" (container {task.container[:12]}, exit code {task.exit_code})" if task.container else ""
    return f"task {task.name} failed{where}; its log: {task.log}"


def log_tail(task, lines: int = LOG_TAIL) -> list[str]:
    try:
        text = Path(task.log).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]


@dataclass
class Prepared:
    """Everything a rehearsal needs before its first container starts."""

    compiled: object  # framework.production.compile.Compiled
    local: object  # local_spec.LocalSpec
    spec_file: Path
    images: list


def prepare(runner, root: Path, *, data, image, package, say, fallback_image=None) -> Prepared:
    """Compile (or load `package`), localize, print each change, check, copy the data."""
    settings = runner.target_settings
    compiled = runner.package_or_compile(package, root / "compiled")
    say(f"spec: {compiled.path} ({compiled.target}, as `mlops deploy` uploads it)")
    local, folders = prepare_spec(compiled, settings, root)
    for change in [*local.replacements, *local.stand_ins]:
        say(str(change))
    images = run_checks(local, settings, root, image, say, fallback_image)
    source = sample_data(settings, data)
    files = copy_data(source, folders["data root"])
    say(f"data: {files} file(s) from {source} in {folders['data root']}")
    folders["serving"].mkdir(parents=True, exist_ok=True)
    spec_file = write_spec(local.spec, root / "compiled" / f"{compiled.path.stem}.rehearsal.yaml")
    return Prepared(compiled, local, spec_file, images)


def observer(progress, log_dir: Path, keep_containers: bool):
    """An Observed whose task events print as `mlops run` prints its components."""
    from framework.rehearsal.kfp_local_adapter import Observed

    order: list[str] = []

    def on_start(name):
        order.append(name)
        progress.component_started(len(order), name)

    def on_end(record):
        state = "complete" if record.succeeded else "failed"
        progress.component_finished(order.index(record.name) + 1, record.name, state,
                                    record.seconds)

    return Observed(log_dir, on_start=on_start, on_end=on_end, keep_containers=keep_containers)


def rehearse(runner, *, root: Path, data: Optional[str] = None, image: Optional[str] = None,
             package: Optional[str] = None, keep_containers: bool = False,
             say: Callable[[str], None] = print, progress=None,
             fallback_image: Optional[str] = None) -> RehearsalResult:
    """Prepare, then execute; a failed task is in the result (see `raise_for_failure`).

    `image` runs under the spec's reference whatever is there; `fallback_image` only when
    nothing is (`ensure_image`)."""
    from framework.core.progress import ConsoleProgress

    started = time.monotonic()
    settings = runner.target_settings
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    ready = prepare(runner, root, data=data, image=image, package=package, say=say,
                    fallback_image=fallback_image)
    progress = progress or ConsoleProgress()
    log_dir = root / "logs" / time.strftime("%Y%m%d-%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    observed = observer(progress, log_dir, keep_containers)
    progress.pipeline_started(settings.pipeline.name, log_dir.name, ready.local.tasks,
                              f"kfp.local in {', '.join(ready.images)}")
    execute(ready.spec_file, ready.compiled.parameters, root, observed)
    return _result(settings, runner, observed, ready.local, ready.spec_file, ready.images,
                   started)


def _result(settings, runner, observed, local, spec_file, images, started) -> RehearsalResult:
    tasks = observed.tasks
    ran = {t.name for t in tasks}
    components = [ComponentResult(t.name, "complete" if t.succeeded else "failed", t.seconds)
                  for t in tasks]
    components += [ComponentResult(name, "skipped") for name in local.tasks if name not in ran]
    failed = [t for t in tasks if not t.succeeded]
    metrics, blessed, pushed = outcome(tasks)
    run = RunResult(
        pipeline=settings.pipeline.name, run_id=observed.log_dir.name,
        runner=f"rehearsal of {runner.name}", succeeded=not failed and len(ran) == len(local.tasks),
        components=components, metrics=metrics, blessed=blessed, pushed_model=pushed,
        seconds=time.monotonic() - started,
        error=failure_message(failed[0]) if failed else None)
    return RehearsalResult(run, spec_file, ", ".join(images), local.replacements,
                           local.stand_ins, tasks)


def raise_for_failure(result: RehearsalResult, say: Callable[[str], None] = print) -> None:
    """A failed rehearsal: the failing task's last log lines, then one error line."""
    failed = [t for t in result.tasks if not t.succeeded]
    if failed:
        say(f"last lines of {failed[0].name}'s log:")
        for line in log_tail(failed[0]):
            say(f"  {line}")
        raise RunFailedError(failure_message(failed[0]))
    if not result.run.succeeded:
        skipped = [c.name for c in result.run.components if c.state == "skipped"]
        raise RunFailedError(f"the rehearsal stopped before {', '.join(skipped)} ran "
                             f"(logs: {result.run.run_id})")
