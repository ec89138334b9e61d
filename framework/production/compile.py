"""Compile a pipeline for Kubeflow Pipelines 2.x (IR YAML) or Vertex AI (PipelineJob JSON).

Both come from one TFX `KubeflowV2DagRunner` compile of the pipeline the package's factory
builds with the target's settings: the image runs every executor, user modules are read
from the image's workdir, Beam arguments and the pipeline root come from settings.
"""

from __future__ import annotations

import dataclasses
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from framework.core.errors import UserError

TARGETS = ("kubeflow", "vertex")
TARGET_FILES = {"kubeflow": "{name}-kubeflow.yaml", "vertex": "{name}-vertex.json"}
# Why not package user modules: TFX would build a wheel of each module file and copy it
# to the pipeline root at compile time; our modules are inside the image instead.
NO_PACKAGING = "UNSUPPORTED_DO_NOT_PACKAGE_USER_MODULES"


@dataclass
class Compiled:
    target: str
    path: Path
    job: dict  # the PipelineJob dict (displayName, labels, pipelineSpec, runtimeConfig)

    @property
    def spec(self) -> dict:
        return self.job["pipelineSpec"]

    @property
    def parameters(self) -> dict:
        return dict(self.job.get("runtimeConfig", {}).get("parameterValues", {}))


def default_out_dir(settings) -> str:
    """Where `mlops compile` writes when no --out is given: .mlops/compiled/<env>."""
    from framework.pipeline.discovery import project_root

    return str(project_root() / ".mlops" / "compiled" / settings.env)


def target_settings(settings, target: str, release):
    """Settings as the target sees them: its runner, and the release's image."""
    if target not in TARGETS:
        raise UserError(f"unknown target '{target}' (choose one of: {', '.join(TARGETS)})")
    image = dataclasses.replace(settings.image, repository=release.repository, tag=release.tag)
    return settings.replace(runner=target, image=image)


@contextmanager
def _modules_from_image():
    previous = os.environ.get(NO_PACKAGING)
    os.environ[NO_PACKAGING] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(NO_PACKAGING, None)
        else:
            os.environ[NO_PACKAGING] = previous


def build_pipeline(settings):
    """The TFX pipeline from the package's factory, for target settings."""
    from framework.pipeline.discovery import load_factory

    with _modules_from_image():
        return load_factory(settings.pipeline.name)(settings)


def target_parameters(settings, target: str) -> dict[str, str]:
    return dict(getattr(settings, target).parameters)


def _typed(name: str, value, declared: dict):
    kind = declared[name].get("parameterType", "STRING")
    try:
        if kind == "NUMBER_INTEGER":
            return int(value)
        if kind == "NUMBER_DOUBLE":
            return float(value)
        if kind == "BOOLEAN":
            return str(value).lower() in ("1", "true", "yes")
    except ValueError:
        raise UserError(f"runtime parameter '{name}': {value!r} is not a {kind}") from None
    return str(value)


def compile_pipeline(settings, target: str, out_dir: str | os.PathLike, pipeline=None) -> Compiled:
    """Compile for `target` with target settings (see `target_settings`); write the file."""
    import yaml
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2

    pipeline = pipeline if pipeline is not None else build_pipeline(settings)
    image = settings.image.repository and (
        f"{settings.image.repository}:{settings.image.tag}" if settings.image.tag
        else settings.image.repository)
    if not image:
        raise UserError("no image to run the executors: set image.repository and a tag")
    config = v2.KubeflowV2DagRunnerConfig(
        display_name=settings.pipeline.name, default_image=image, use_pipeline_spec_2_1=True)
    with _modules_from_image():
        job = v2.KubeflowV2DagRunner(config).run(pipeline, write_out=False)
    spec = job["pipelineSpec"]
    # KFP takes the root from the spec; Vertex from runtimeConfig (both are set).
    spec["defaultPipelineRoot"] = settings.pipeline.pipeline_root

    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    wanted = target_parameters(settings, target)
    unknown = sorted(set(wanted) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise UserError(
            f"{settings.source}: {target}.parameters names {', '.join(unknown)}, which the "
            f"pipeline does not declare as runtime parameters (declared: {known})")
    values = {name: _typed(name, value, declared) for name, value in wanted.items()}
    for name, value in values.items():
        declared[name]["defaultValue"] = value  # the environment's value is the default
    runtime = job.setdefault("runtimeConfig", {})
    runtime["gcsOutputDirectory"] = settings.pipeline.pipeline_root
    if values:
        runtime["parameterValues"] = values

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / TARGET_FILES[target].format(name=settings.pipeline.name)
    if target == "kubeflow":
        header = (f"# PIPELINE DEFINITION\n# Name: {spec['pipelineInfo']['name']}\n"
                  f"# Compiled by mlops for Kubeflow Pipelines 2.x, image {image}\n")
        path.write_text(header + yaml.safe_dump(spec, sort_keys=True), encoding="utf-8")
    else:
        path.write_text(json.dumps(job, indent=2, sort_keys=True), encoding="utf-8")
    return Compiled(target, path, job)


def load_compiled(target: str, path: str | os.PathLike) -> Compiled:
    """A file written by `mlops compile` (for deploy --package)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no compiled pipeline here (run `mlops compile` first)") from None
    try:
        data = yaml.safe_load(text) if target == "kubeflow" else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a compiled {target} pipeline ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a compiled {target} pipeline")
    if target == "kubeflow":
        if "pipelineInfo" not in data:
            raise UserError(f"{path}: not a pipeline spec (no pipelineInfo); compile with "
                            "--target kubeflow")
        defaults = {name: p["defaultValue"] for name, p in
                    data["root"].get("inputDefinitions", {}).get("parameters", {}).items()
                    if "defaultValue" in p}
        job = {"pipelineSpec": data, "runtimeConfig": {
            "gcsOutputDirectory": data.get("defaultPipelineRoot"), "parameterValues": defaults}}
        return Compiled(target, path, job)
    if "pipelineSpec" not in data:
        raise UserError(f"{path}: not a PipelineJob (no pipelineSpec); compile with "
                        "--target vertex")
    return Compiled(target, path, data)
