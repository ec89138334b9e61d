"""Deploy to Kubeflow Pipelines 2.x through kfp.Client (the v2beta1 REST API).

First deploy: the experiment and the pipeline are created, then a pipeline version named
with the release's version tag. Later deploys add a version; the same tag twice uploads
nothing. With `run`, a run of that version starts with the parameters from settings; with
`wait`, its final state decides the exit code. The token (from the variable named by
`kubeflow.token_env`) goes to the client only: it is never printed or logged.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
from dataclasses import dataclass, field
from typing import Optional

from framework.core.errors import RunFailedError, UserError

FINAL_STATES = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "CANCELLED"}


class DeployTimeoutError(UserError):
    """--wait gave up before the run reached a final state (the run keeps going)."""

    exit_code = 5


@dataclass
class DeployOutcome:
    target: str
    pipeline_id: Optional[str] = None
    version_id: Optional[str] = None
    version: Optional[str] = None
    created: list[str] = field(default_factory=list)  # what this deploy created
    run_id: Optional[str] = None
    state: Optional[str] = None
    error: Optional[str] = None
    links: list[str] = field(default_factory=list)

    @property
    def state_ok(self) -> bool:
        return self.state in (None, "SUCCEEDED", "PIPELINE_STATE_SUCCEEDED")


def _eq_filter(value: str) -> str:
    return json.dumps({"predicates": [
        {"operation": "EQUALS", "key": "display_name", "stringValue": value}]})


@contextlib.contextmanager
def _api_errors(host: str, doing: str):
    """Turn client errors into one line; kfp's own prints (links) go to a buffer."""
    import kfp_server_api
    import urllib3

    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    except kfp_server_api.ApiException as exc:
        raise UserError(f"Kubeflow Pipelines at {host} refused to {doing}: "
                        f"{exc.status} {exc.reason}{_api_message(exc.body)}") from None
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"cannot reach Kubeflow Pipelines at {host} to {doing}: "
                        f"{type(reason).__name__}") from None


def _api_message(body) -> str:
    try:
        data = json.loads(body or "")
    except (TypeError, ValueError):
        return ""
    message = data.get("message") or data.get("error") if isinstance(data, dict) else None
    return f" ({str(message).splitlines()[0][:200]})" if message else ""


def kfp_client(settings, environ=None):
    """A kfp.Client for kubeflow.host, with the token from $<kubeflow.token_env> if set."""
    import warnings

    import kfp

    flow = settings.kubeflow
    if not flow.host:
        raise UserError("kubeflow.host is not set: no Kubeflow Pipelines endpoint")
    environ = os.environ if environ is None else environ
    token = environ.get(flow.token_env) if flow.token_env else None
    with warnings.catch_warnings(), _api_errors(flow.host, "answer its health check"):
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host=flow.host, existing_token=token or None,
                          namespace=flow.namespace or "kubeflow")


def deploy_to_kfp(settings, compiled, version: Optional[str], *, run=False, wait=False,
                  timeout=None, printer=print, poll_seconds=10.0, client=None,
                  environ=None) -> DeployOutcome:
    if not version:
        raise UserError("no version tag for the pipeline version: pass --tag or --manifest")
    flow = settings.kubeflow
    host = flow.host
    client = client or kfp_client(settings, environ)
    name = flow.pipeline_name or settings.pipeline.name
    package = str(compiled.path)
    outcome = DeployOutcome("kubeflow", version=version)

    experiment = _find_or_create_experiment(client, flow, outcome)
    outcome.pipeline_id = _find_or_upload_pipeline(client, settings, name, package, outcome)
    _find_or_upload_version(client, settings, name, package, outcome, printer)
    _print_deployed(name, host, outcome, printer)

    if not run:
        return outcome
    _start_run(client, flow, experiment, compiled, name, outcome, printer)
    if wait:
        _wait(client, outcome, timeout, poll_seconds, printer, host)
    return outcome


def _find_or_create_experiment(client, flow, outcome: DeployOutcome):
    """The experiment `kubeflow.experiment`, created (and noted in `outcome`) if missing."""
    namespace = flow.namespace or None
    with _api_errors(flow.host, f"find or create experiment '{flow.experiment}'"):
        try:
            return client.get_experiment(experiment_name=flow.experiment, namespace=namespace)
        except ValueError:  # kfp's "No experiment is found with name ..."
            experiment = client.create_experiment(flow.experiment, namespace=namespace)
            outcome.created.append(f"experiment {flow.experiment}")
            return experiment


def _find_or_upload_pipeline(client, settings, name: str, package: str,
                             outcome: DeployOutcome) -> str:
    """The id of pipeline `name`, uploaded from `package` (and noted) if missing."""
    host = settings.kubeflow.host
    with _api_errors(host, f"look up pipeline '{name}'"):
        pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is not None:
        return pipeline_id
    with _api_errors(host, f"upload pipeline '{name}'"):
        pipeline = client.upload_pipeline(
            package, pipeline_name=name,
            description=f"{settings.pipeline.name} ({settings.env}), deployed by mlops")
    pipeline_id = pipeline.pipeline_id
    outcome.created.append(f"pipeline {name}")
    return pipeline_id


def _find_or_upload_version(client, settings, name: str, package: str,
                            outcome: DeployOutcome, printer) -> None:
    """Set outcome.version_id: the version named outcome.version, uploaded if missing."""
    host = settings.kubeflow.host
    version, pipeline_id = outcome.version, outcome.pipeline_id
    with _api_errors(host, f"list versions of pipeline '{name}'"):
        listed = client.list_pipeline_versions(pipeline_id, filter=_eq_filter(version))
    existing = [v for v in (listed.pipeline_versions or []) if v.display_name == version]
    if existing:
        outcome.version_id = existing[0].pipeline_version_id
        printer(f"pipeline {name}: version {version} is already deployed "
                f"({outcome.version_id}); nothing uploaded")
        return
    image = f"{settings.image.repository}:{settings.image.tag}"
    with _api_errors(host, f"upload version '{version}' of pipeline '{name}'"):
        created = client.upload_pipeline_version(
            package, version, pipeline_id=pipeline_id, description=f"image {image}")
    outcome.version_id = created.pipeline_version_id
    outcome.created.append(f"version {version}")
    printer(f"pipeline {name}: uploaded version {version} ({outcome.version_id}), "
            f"image {image}")


def _print_deployed(name: str, host: str, outcome: DeployOutcome, printer) -> None:
    """Whether the pipeline is new, and the link to the deployed version."""
    if "pipeline " + name in outcome.created:
        printer(f"pipeline {name}: created ({outcome.pipeline_id}) on {host}")
    printer(f"  {host.rstrip('/')}/#/pipelines/details/{outcome.pipeline_id}"
            f"/version/{outcome.version_id}")


def _start_run(client, flow, experiment, compiled, name: str, outcome: DeployOutcome,
               printer) -> None:
    """Start a run of the deployed version with the compiled parameters; set outcome.run_id."""
    host, version = flow.host, outcome.version
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    with _api_errors(host, f"start a run of {name} {version}"):
        started = client.run_pipeline(
            experiment_id=experiment.experiment_id, job_name=f"{name}-{version}-{stamp}",
            params=dict(compiled.parameters), pipeline_id=outcome.pipeline_id,
            version_id=outcome.version_id, service_account=flow.service_account)
    outcome.run_id = started.run_id
    printer(f"run {started.run_id} started in experiment {flow.experiment}")
    printer(f"  {host.rstrip('/')}/#/runs/details/{started.run_id}")


def _wait(client, outcome: DeployOutcome, timeout, poll_seconds, printer, host) -> None:
    from framework.production.polling import poll_until_final

    current = None

    def read_state() -> str:
        nonlocal current
        with _api_errors(host, f"report on run {outcome.run_id}"):
            current = client.get_run(outcome.run_id)
        outcome.state = (current.state or "PENDING").upper()
        return outcome.state

    state = poll_until_final(
        read_state, FINAL_STATES, timeout=timeout, poll_seconds=poll_seconds,
        on_change=lambda state: printer(f"run {outcome.run_id}: {state}"),
        on_timeout=lambda state: DeployTimeoutError(
            f"run {outcome.run_id} is still {state} after {timeout:g} s (--timeout); it "
            "keeps running on the cluster"))
    if state != "SUCCEEDED":
        error = current.error
        message = getattr(error, "message", None) if error is not None else None
        outcome.error = message or "no error message from the server"
        raise RunFailedError(f"run {outcome.run_id} ended {state}: {outcome.error}")
