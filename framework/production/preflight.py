"""Pre-flight check: what would fail, or run differently, on Kubeflow or Vertex AI.

`mlops check --target T --env E` prints one line per finding; `mlops compile` and
`mlops deploy` run the same check and stop on errors (unless told to --ignore a rule).
Settings rules need nothing heavy; pipeline rules look at the TFX pipeline object the
package's factory builds for the target (no compile needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from framework.core.errors import UserError
from framework.settings.model import PORTABLE_RUNNERS

RULES = {
    "gcs-paths": "a local path where the target needs gs://",
    "user-modules": "a user module (preprocessing, model) that is not inside the image",
    "resolver": "a resolver node open-source Kubeflow Pipelines cannot execute",
    "importer-path": "an imported artifact at a local path",
    "target-settings": "missing project, region, endpoint or image",
    "image-tag": "an image tag that is `latest` or missing",
    "dataflow-args": "DataflowRunner arguments Beam rejects",
    "beam-direct": "Beam on DirectRunner inside the component's container",
    "beam-portable": "Flink, Spark or portable-runner settings a cluster would reject",
    "serving-image-tf": "a Vertex serving image of another TensorFlow than the training one",
    "kserve-storage": "a KServe storage URI a cluster cannot read (a local path)",
}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # "error": would fail on the target; "warning": runs, but differently
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: [{self.rule}] {self.message}"


def _is_remote(path: str | None) -> bool:
    return bool(path) and path.startswith("gs://")


def check_settings(settings, target: str) -> list[Finding]:
    """Rules on settings alone: paths, endpoints, image and tag, release targets, Beam."""
    found: list[Finding] = []
    env = settings.env
    where = f"the '{env}' block of {settings.source or 'settings.yaml'}"
    target_name = {"kubeflow": "Kubeflow Pipelines", "vertex": "Vertex AI"}[target]

    for key in ("pipeline_root", "data_root", "serving_dir"):
        value = getattr(settings.pipeline, key)
        if value and not value.startswith("package://") and not _is_remote(value):
            found.append(Finding("gcs-paths", "error",
                f"pipeline.{key} is a local path ({value}); {target_name} components run in "
                f"containers that cannot see it: set a gs:// location in {where}"))
        elif value and value.startswith("package://"):
            found.append(Finding("gcs-paths", "error",
                f"pipeline.{key} is {value}, a folder of an installed package on this machine; "
                f"set a gs:// location in {where}"))

    if target == "kubeflow" and not settings.kubeflow.host:
        found.append(Finding("target-settings", "error",
            f"kubeflow.host is not set: no Kubeflow Pipelines endpoint to deploy to ({where})"))
    if target == "vertex":
        for key in ("project", "region"):
            if not getattr(settings.vertex, key):
                found.append(Finding("target-settings", "error",
                    f"vertex.{key} is not set: Vertex AI needs a project and a region ({where})"))
    if not settings.image.repository:
        found.append(Finding("target-settings", "error",
            f"image.repository is not set: no image to run the executors ({where})"))
    tag = settings.image.tag
    if not tag:
        found.append(Finding("image-tag", "error",
            "no image tag: pass --tag (a commit SHA or release tag) or --manifest FILE from "
            "`mlops ci build`, or set image.tag"))
    elif tag == "latest":
        found.append(Finding("image-tag", "error",
            "image tag 'latest' moves with every build, so a deployed pipeline would silently "
            "run other code later: use the commit SHA or release tag"))

    found += _release_findings(settings, where)
    if settings.beam.runner == "DataflowRunner":
        found += _dataflow_findings(settings, where)
    elif settings.beam.runner in PORTABLE_RUNNERS:
        found += _portable_findings(settings)
    else:
        found.append(Finding("beam-direct", "warning",
            "beam.runner is DirectRunner: each component runs Beam inside its own container "
            "(fine for small data); set beam.runner: DataflowRunner to scale out"))
    return found


def _release_findings(settings, where: str) -> list[Finding]:
    """What the release targets would serve: a model the serving image cannot load, a
    manifest whose model KServe cannot download."""
    from framework.release.kserve import storage_problem
    from framework.release.vertex import serving_image_problem

    found = []
    problem = serving_image_problem(settings)
    if problem:
        found.append(Finding("serving-image-tf", "error", f"{problem} ({where})"))
    problem = storage_problem(settings) if settings.release.target == "kserve" else None
    if problem:
        found.append(Finding("kserve-storage", "error", f"{problem} ({where})"))
    return found


def _portable_findings(settings) -> list[Finding]:
    """A Flink, Spark or portable job service: its settings, and a DOCKER worker image."""
    from framework.container.client import DockerUnavailableError, docker_client
    from framework.container.image import paths_missing
    from framework.production.portable import check_portable, docker_environment_problems

    found = [Finding("beam-portable", "error", p) for p in check_portable(settings)]
    if settings.beam.portable.environment_type != "DOCKER":
        return found
    try:
        client = docker_client(settings, timeout=20)
    except DockerUnavailableError:
        return found + [Finding("beam-portable", "warning",
            "could not look into the DOCKER environment's image (no Docker API here): it "
            "needs Beam's /opt/apache/beam/boot and the pipeline's code")]

    def missing(image, paths):
        import docker

        try:
            return paths_missing(client, image, paths)
        except docker.errors.ImageNotFound:
            found.append(Finding("beam-portable", "warning",
                f"the DOCKER environment's image {image} is not on this engine: could not "
                "look into it"))
            return []

    return found + [Finding("beam-portable", "error", p)
                    for p in docker_environment_problems(settings, missing)]


def _dataflow_findings(settings, where: str) -> list[Finding]:
    from framework.production.dataflow import check_beam_args, dataflow_args

    found = []
    flow = settings.dataflow
    for key in ("project", "region"):
        if not getattr(flow, key):
            found.append(Finding("target-settings", "error",
                f"dataflow.{key} is not set but beam.runner is DataflowRunner ({where})"))
    for key in ("temp_location", "staging_location"):
        value = getattr(flow, key)
        if value and not _is_remote(value):
            found.append(Finding("gcs-paths", "error",
                f"dataflow.{key} is a local path ({value}); Dataflow needs gs:// ({where})"))
    for problem in check_beam_args(dataflow_args(settings)):
        found.append(Finding("dataflow-args", "error", problem))
    return found


def check_pipeline(pipeline, settings, target: str) -> list[Finding]:
    """Rules on the TFX pipeline built for the target: modules, resolvers, importers."""
    from tfx.dsl.components.common import importer, resolver

    found: list[Finding] = []
    workdir = PurePosixPath(settings.image.workdir)
    for node in pipeline.components:
        exec_properties = getattr(getattr(node, "spec", None), "exec_properties", {}) or {}
        module = exec_properties.get("module_file")
        if isinstance(module, str) and module:
            path = PurePosixPath(module)
            if not (path.is_relative_to(workdir)):
                found.append(Finding("user-modules", "error",
                    f"{node.id}: module file {module} is outside the project, so it is not "
                    f"inside the image (the image holds the project under {workdir}); move it "
                    "into the project tree"))
            elif not _in_checkout(path, workdir):
                found.append(Finding("user-modules", "error",
                    f"{node.id}: module file {module} has no counterpart in this checkout, so "
                    "the image built from it will not hold it"))
        if isinstance(node, resolver.Resolver) and target == "kubeflow":
            strategy = getattr(node, "_strategy_class", None)
            what = strategy.__name__ if strategy else "resolver"
            found.append(Finding("resolver", "error",
                f"{node.id}: a {what} resolver compiles to resolver tasks, which Vertex AI "
                "runs and open-source Kubeflow Pipelines does not (the run fails with "
                "'resolver executors not implemented'); deploy this pipeline with --target "
                "vertex, or set evaluation.compare_to_blessed: false for this environment "
                "(the Evaluator then judges by its value threshold alone)"))
        if isinstance(node, importer.Importer):
            uri = node.exec_properties.get(importer.SOURCE_URI_KEY)
            if isinstance(uri, str) and not _is_remote(uri):
                if target == "kubeflow":
                    found.append(Finding("importer-path", "error",
                        f"{node.id}: imports {uri}, a local path; the Kubeflow launcher "
                        "downloads input artifacts only from gs://, s3:// or minio:// "
                        "('unsupported storage scheme'); copy it to the bucket and import "
                        "the gs:// copy"))
                else:
                    found.append(Finding("importer-path", "warning",
                        f"{node.id}: imports {uri}, a path inside the image; components "
                        "read it there, but Vertex AI's lineage shows no copy of it: "
                        "import a gs:// copy to keep one"))
    return found


def _in_checkout(path: PurePosixPath, workdir: PurePosixPath) -> bool:
    from framework.pipeline.discovery import project_root

    return (project_root() / path.relative_to(workdir)).exists()


def run_preflight(settings, target: str, pipeline=None) -> list[Finding]:
    """Every finding for target settings (see production.compile.target_settings)."""
    found = check_settings(settings, target)
    if pipeline is None:
        from framework.production.compile import build_pipeline

        pipeline = build_pipeline(settings)
    return found + check_pipeline(pipeline, settings, target)


def blocking(findings: list[Finding], ignore: list[str] | tuple = ()) -> list[Finding]:
    return [f for f in findings if f.severity == "error" and f.rule not in ignore]


def raise_on_errors(findings: list[Finding], ignore=(), *, printer=print) -> None:
    """Print every finding; raise when an error is left that the user did not --ignore."""
    for finding in findings:
        suffix = " (ignored)" if finding.rule in ignore else ""
        printer(f"{finding}{suffix}")
    errors = blocking(findings, ignore)
    if errors:
        rules = sorted({f.rule for f in errors})
        raise UserError(
            f"pre-flight check found {len(errors)} problem(s) for this target (see above); "
            f"fix them, or pass --ignore {','.join(rules)} to go ahead anyway")


def parse_ignore(values: list[str] | None) -> list[str]:
    rules = [r.strip() for v in values or [] for r in v.split(",") if r.strip()]
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise UserError(f"--ignore: unknown rule {', '.join(unknown)} "
                        f"(rules: {', '.join(RULES)})")
    return rules
