"""Submit the compiled PipelineJob to Vertex AI Pipelines with google-cloud-aiplatform.

Vertex has no upload-then-version step like Kubeflow: deploying is building the job
(project, region, service account, pipeline root, labels, caching, parameters) and, with
`run`, submitting it. Credentials are Google's Application Default Credentials.
"""

from __future__ import annotations

import datetime
import re
from typing import Optional

from framework.core.errors import RunFailedError, UserError
from framework.production.kfp_deploy import DeployOutcome, DeployTimeoutError

SUCCEEDED = "PIPELINE_STATE_SUCCEEDED"
NO_CREDENTIALS = ("no Google Cloud credentials: run `gcloud auth application-default login`, "
                  "or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file")
FINAL_STATES = {SUCCEEDED, "PIPELINE_STATE_FAILED", "PIPELINE_STATE_CANCELLED"}


def label_value(text: str) -> str:
    """Vertex label values: lower-case letters, digits, '-' and '_', at most 63."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def job_fields(settings, compiled, version: Optional[str]) -> dict:
    """The keyword arguments of aiplatform.PipelineJob for these settings."""
    vertex = settings.vertex
    name = settings.pipeline.name
    labels = dict(vertex.labels)
    labels.setdefault("pipeline", label_value(name))
    if version:
        labels["version"] = label_value(version)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
    job_id = label_value(f"{name}-{version or 'untagged'}-{stamp}").replace("_", "-")
    return {
        "display_name": f"{name}-{version}" if version else name,
        "template_path": str(compiled.path),
        "job_id": job_id,
        "pipeline_root": settings.pipeline.pipeline_root,
        "parameter_values": dict(compiled.parameters),
        "enable_caching": vertex.enable_caching,
        "labels": labels,
        "project": vertex.project,
        "location": vertex.region,
    }


def submit_to_vertex(settings, compiled, version: Optional[str], *, run=False, wait=False,
                     timeout=None, printer=print, poll_seconds=10.0) -> DeployOutcome:
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import aiplatform

    vertex = settings.vertex
    if not (vertex.project and vertex.region):
        raise UserError("vertex.project and vertex.region must be set to submit to Vertex AI")
    fields = job_fields(settings, compiled, version)
    aiplatform.init(project=vertex.project, location=vertex.region)
    try:
        job = aiplatform.PipelineJob(**fields)
    except ValueError as exc:  # e.g. a parameter the template does not declare
        raise UserError(f"Vertex AI rejects the job: {str(exc).splitlines()[0]}") from None
    except DefaultCredentialsError:
        raise UserError(NO_CREDENTIALS) from None
    outcome = DeployOutcome("vertex", version=version)
    if not run:
        printer(f"PipelineJob {fields['job_id']} is ready for {vertex.project}/{vertex.region} "
                "(nothing submitted: Vertex runs a job, it keeps no pipeline versions; pass "
                "--run to submit)")
        return outcome
    try:
        job.submit(service_account=vertex.service_account)
    except DefaultCredentialsError:
        raise UserError(NO_CREDENTIALS) from None
    except Exception as exc:  # google.api_core errors: one line, never the credentials
        raise UserError(f"Vertex AI refused the PipelineJob: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:300]}") from None
    outcome.run_id = fields["job_id"]
    outcome.created.append(f"pipeline job {fields['job_id']}")
    printer(f"PipelineJob {fields['job_id']} submitted to {vertex.project}/{vertex.region}")
    if wait:
        _wait(job, outcome, timeout, poll_seconds, printer)
    return outcome


def _state_name(state) -> str:
    return getattr(state, "name", None) or str(state or "PIPELINE_STATE_PENDING")


def _wait(job, outcome, timeout, poll_seconds, printer) -> None:
    from framework.production.polling import poll_until_final

    def read_state() -> str:
        outcome.state = _state_name(job.state)
        return outcome.state

    state = poll_until_final(
        read_state, FINAL_STATES, timeout=timeout, poll_seconds=poll_seconds,
        on_change=lambda state: printer(f"job {outcome.run_id}: {state}"),
        on_timeout=lambda state: DeployTimeoutError(
            f"PipelineJob {outcome.run_id} is still {state} after {timeout:g} s "
            "(--timeout); it keeps running on Vertex AI"))
    if state != SUCCEEDED:
        error = getattr(getattr(job, "_gca_resource", None), "error", None)
        outcome.error = getattr(error, "message", None) or "no error message from Vertex AI"
        raise RunFailedError(f"PipelineJob {outcome.run_id} ended {state}: {outcome.error}")
