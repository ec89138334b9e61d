"""The CT schedule in production: a KFP recurring run, or a Vertex AI PipelineJobSchedule.

`ct.schedule` is the same 5-field cron expression the local `schedule` trigger uses; KFP
wants six fields (seconds first), Vertex AI takes the five as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from framework.core.errors import UserError


def _cron(settings):
    from framework.ct.cron import parse

    if not settings.ct.schedule:
        raise UserError(f"{settings.source}: ct.schedule is not set (a cron expression, "
                        "e.g. '0 3 * * *')")
    return parse(settings.ct.schedule)


def schedule_name(settings) -> str:
    return f"{settings.pipeline.name}-ct-{settings.env}"


def kfp_recurring_run(settings, package_path: str | Path, *, client=None) -> dict:
    """Create the recurring run in kubeflow.experiment; at most one run at a time, no backfill."""
    cron = _cron(settings)
    if client is None:
        from framework.production.kfp_deploy import kfp_client

        client = kfp_client(settings)
    flow = settings.kubeflow
    experiment = client.create_experiment(name=flow.experiment, namespace=flow.namespace)
    job = client.create_recurring_run(
        experiment_id=experiment.experiment_id,
        job_name=schedule_name(settings),
        description=f"continuous training of {settings.pipeline.name}: cron {cron.expression}",
        cron_expression=cron.kfp(),
        max_concurrency=1,
        no_catchup=True,
        params=dict(flow.parameters) or None,
        pipeline_package_path=str(package_path),
        enable_caching=settings.enable_cache,
    )
    return {"target": "kubeflow", "id": job.recurring_run_id, "name": schedule_name(settings),
            "cron": cron.kfp(), "experiment_id": experiment.experiment_id}


def vertex_schedule(settings, template_path: str | Path, *, aiplatform=None) -> dict:
    """Create a PipelineJobSchedule from the compiled PipelineJob file."""
    cron = _cron(settings)
    if aiplatform is None:
        from google.cloud import aiplatform
    vertex = settings.vertex
    if not (vertex.project and vertex.region):
        raise UserError("vertex.project and vertex.region must be set to schedule on Vertex AI")
    from framework.production.vertex_submit import label_value

    labels = dict(vertex.labels)
    labels.setdefault("pipeline", label_value(settings.pipeline.name))
    labels["trigger"] = "schedule"
    aiplatform.init(project=vertex.project, location=vertex.region)
    job = aiplatform.PipelineJob(
        display_name=schedule_name(settings),
        template_path=str(template_path),
        pipeline_root=settings.pipeline.pipeline_root,
        parameter_values=dict(vertex.parameters),
        enable_caching=vertex.enable_caching,
        labels=labels,
        project=vertex.project,
        location=vertex.region,
    )
    created = job.create_schedule(
        cron=cron.expression,
        display_name=schedule_name(settings),
        max_concurrent_run_count=1,
        service_account=vertex.service_account,
    )
    return {"target": "vertex", "id": getattr(created, "resource_name", None),
            "name": schedule_name(settings), "cron": cron.expression}


def schedule(settings, *, target: Optional[str] = None, package_path=None,
             client=None, aiplatform=None) -> dict:
    """Compile (unless a package is given) and create the schedule on `target`."""
    target = target or settings.runner
    if target not in ("kubeflow", "vertex"):
        raise UserError(f"schedules are created on kubeflow or vertex, not '{target}' "
                        "(use --target, or `mlops ct watch` for a local loop)")
    _cron(settings)  # fail before compiling
    if package_path is None:
        from framework.production.compile import default_out_dir
        from framework.runners import get_runner

        package_path = get_runner(target, settings).compile(default_out_dir(settings))
    if target == "kubeflow":
        return kfp_recurring_run(settings, package_path, client=client)
    return vertex_schedule(settings, package_path, aiplatform=aiplatform)
