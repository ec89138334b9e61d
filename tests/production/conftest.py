"""Fixtures of the production-target tests: one compile per target per session, and a
local HTTP double of the Kubeflow Pipelines v2beta1 REST API.

The double answers the endpoints kfp.Client uses for deploy, builds every response with the
kfp-server-api models and parses every request body into them, rejecting fields the models
do not have: the client code is held to the real API contract without a cluster.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG = "3f2c1ab"


def clean_environ(**extra) -> dict:
    """Settings loaded from settings.yaml only (no MLOPS_* of the test runner's shell)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["MLOPS_PROJECT_ROOT"] = str(ROOT)
    env.update(extra)
    return env


def target_runner(target: str, env: str, tag: str = TAG, **options):
    from framework.production.release import resolve_release
    from framework.runners import get_runner
    from framework.settings import load_settings

    settings = load_settings("taxi", env, environ=clean_environ())
    return get_runner(target, settings, release=resolve_release(settings, tag=tag),
                      printer=lambda *_: None, **options)


@dataclass
class CompiledTarget:
    runner: object
    compiled: object  # framework.production.compile.Compiled


@pytest.fixture(scope="session")
def compiled_kubeflow(tmp_path_factory) -> CompiledTarget:
    """taxi compiled for Kubeflow (env dev), once per session (about 15-40 s). Nothing is
    --ignored: the pre-flight check finds no error in taxi's dev settings (test_preflight)."""
    runner = target_runner("kubeflow", "dev")
    return CompiledTarget(runner, runner.compile_checked(tmp_path_factory.mktemp("kfp")))


@pytest.fixture(scope="session")
def compiled_vertex(tmp_path_factory) -> CompiledTarget:
    """taxi compiled for Vertex AI (env staging) by `mlops compile`, once per session."""
    import contextlib
    import io
    import os
    from unittest import mock

    from framework.cli import main
    from framework.production.compile import load_compiled

    out = tmp_path_factory.mktemp("vertex")
    stdout = io.StringIO()
    with mock.patch.dict(os.environ, clean_environ(), clear=True), \
            contextlib.redirect_stdout(stdout):
        code = main(["compile", "--target", "vertex", "--env", "staging", "--tag", TAG,
                     "--out", str(out)])
    assert code == 0, stdout.getvalue()
    path = out / "taxi-vertex.json"
    assert f"compiled taxi for vertex: {path}" in stdout.getvalue()
    return CompiledTarget(target_runner("vertex", "staging"), load_compiled("vertex", path))


# --------------------------------------------------------------------------- KFP double

API = "/apis/v2beta1"


class ContractError(Exception):
    """A request the real API would not accept (unknown field, bad value)."""


@dataclass
class KfpState:
    experiments: dict = field(default_factory=dict)
    pipelines: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)  # pipeline_id -> [V2beta1PipelineVersion]
    runs: dict = field(default_factory=dict)
    run_bodies: list = field(default_factory=list)
    uploads: list = field(default_factory=list)  # (kind, name, spec dict)
    requests: list = field(default_factory=list)  # (method, path)
    authorization: list = field(default_factory=list)
    # What GET /runs/{id} answers, one state per call; the last one repeats. Only values of
    # the real v2beta1 RuntimeState enum are accepted (see __setattr__).
    run_states: list = field(default_factory=lambda: [
        runtime_state("PENDING"), runtime_state("RUNNING"), runtime_state("SUCCEEDED")])
    run_error: str | None = None
    polls: itertools.count = field(default_factory=itertools.count)

    def __setattr__(self, name, value):
        if name == "run_states":
            value = [runtime_state(v) for v in value]
        super().__setattr__(name, value)


def runtime_state(name: str) -> str:
    """`name` as a member of kfp-server-api's V2beta1RuntimeState; anything else is a bug."""
    import kfp_server_api

    enum = kfp_server_api.V2beta1RuntimeState
    if name not in enum.allowable_values:
        raise ValueError(f"{name!r} is not a v2beta1 RuntimeState ({enum.allowable_values})")
    return getattr(enum, name)


def parse_pipeline_spec(spec: dict):
    """The uploaded spec as KFP's own PipelineSpec message; unknown fields or wrong types fail."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    try:
        return json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as exc:
        raise ContractError(f"uploadfile is not a valid PipelineSpec: {exc}") from None


def _api_client():
    import kfp_server_api

    return kfp_server_api.ApiClient()


def to_json(model) -> bytes:
    return json.dumps(_api_client().sanitize_for_serialization(model)).encode()


def parse_model(data: dict, model_name: str):
    """The request body as a kfp-server-api model; unknown fields are a contract error."""
    import kfp_server_api

    klass = getattr(kfp_server_api, model_name)
    unknown = set(data) - set(klass.attribute_map.values())
    if unknown:
        raise ContractError(f"{model_name} has no field(s) {sorted(unknown)}")
    try:
        return _api_client()._ApiClient__deserialize(data, model_name)
    except (ValueError, TypeError) as exc:
        raise ContractError(f"{model_name}: {exc}") from None


def _filter_value(query: dict) -> str | None:
    raw = query.get("filter", [None])[0]
    if not raw:
        return None
    predicates = json.loads(raw)["predicates"]
    # protojson takes an enum by name or number (kfp.Client sends 1 for EQUALS).
    if predicates[0]["operation"] not in ("EQUALS", 1) or predicates[0]["key"] != "display_name":
        raise ContractError(f"unsupported filter {raw}")
    return predicates[0]["stringValue"]


def _uploaded_spec(handler) -> dict:
    length = int(handler.headers["Content-Length"])
    body = handler.rfile.read(length)
    head = f"Content-Type: {handler.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            import yaml

            spec = yaml.safe_load(part.get_payload(decode=True))
            if not isinstance(spec, dict) or "pipelineInfo" not in spec:
                raise ContractError("uploadfile is not a pipeline spec")
            parse_pipeline_spec(spec)
            return spec
    raise ContractError("multipart body without 'uploadfile'")


def make_handler(state: KfpState):
    import kfp_server_api as k

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _json_body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _dispatch(self, method: str) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            state.requests.append((method, url.path))
            state.authorization.append(self.headers.get("Authorization"))
            try:
                status, model = self._route(method, url.path, query)
            except ContractError as exc:
                self._send(400, json.dumps({"error": str(exc), "code": 3,
                                            "message": str(exc)}).encode())
                return
            except Exception as exc:  # a bug in the double: answer, do not hang the client
                self._send(500, json.dumps({"code": 13, "message": repr(exc)}).encode())
                return
            self._send(status, to_json(model))

        def do_GET(self):  # noqa: N802 (http.server API)
            self._dispatch("GET")

        def do_POST(self):  # noqa: N802
            self._dispatch("POST")

        def _route(self, method, path, query):
            parts = path[len(API):].strip("/").split("/") if path.startswith(API) else []
            if method == "GET" and parts == ["healthz"]:
                return 200, k.V2beta1GetHealthzResponse(multi_user=False)
            if method == "GET" and parts == ["experiments"]:
                name = _filter_value(query)
                found = [e for e in state.experiments.values()
                         if name is None or e.display_name == name]
                return 200, k.V2beta1ListExperimentsResponse(
                    experiments=found or None, total_size=len(found))
            if method == "POST" and parts == ["experiments"]:
                body = parse_model(self._json_body(), "V2beta1Experiment")
                if not body.display_name:
                    raise ContractError("experiment without display_name")
                body.experiment_id = str(uuid.uuid4())
                state.experiments[body.experiment_id] = body
                return 200, body
            if method == "GET" and parts == ["pipelines"]:
                name = _filter_value(query)
                found = [p for p in state.pipelines.values()
                         if name is None or p.display_name == name]
                return 200, k.V2beta1ListPipelinesResponse(
                    pipelines=found or None, total_size=len(found))
            if method == "POST" and parts == ["pipelines", "upload"]:
                spec = _uploaded_spec(self)
                name = query["name"][0]
                pipeline = k.V2beta1Pipeline(pipeline_id=str(uuid.uuid4()), display_name=name,
                                             description=query.get("description", [None])[0])
                state.pipelines[pipeline.pipeline_id] = pipeline
                # As the real server: the first version is named after the pipeline.
                state.versions[pipeline.pipeline_id] = [k.V2beta1PipelineVersion(
                    pipeline_id=pipeline.pipeline_id, pipeline_version_id=str(uuid.uuid4()),
                    display_name=name, pipeline_spec=spec)]
                state.uploads.append(("pipeline", name, spec))
                return 200, pipeline
            if method == "POST" and parts == ["pipelines", "upload_version"]:
                spec = _uploaded_spec(self)
                pipeline_id = query["pipelineid"][0]
                if pipeline_id not in state.pipelines:
                    return 404, k.GooglerpcStatus(code=5, message="pipeline not found")
                name = query["name"][0]
                if any(v.display_name == name for v in state.versions[pipeline_id]):
                    raise ContractError(f"version {name} exists already")
                version = k.V2beta1PipelineVersion(
                    pipeline_id=pipeline_id, pipeline_version_id=str(uuid.uuid4()),
                    display_name=name, description=query.get("description", [None])[0],
                    pipeline_spec=spec)
                state.versions[pipeline_id].append(version)
                state.uploads.append(("version", name, spec))
                return 200, version
            if method == "GET" and len(parts) == 3 and parts[0] == "pipelines" \
                    and parts[2] == "versions":
                name = _filter_value(query)
                found = [v for v in state.versions.get(parts[1], [])
                         if name is None or v.display_name == name]
                return 200, k.V2beta1ListPipelineVersionsResponse(
                    pipeline_versions=found or None, total_size=len(found))
            if method == "POST" and parts == ["runs"]:
                raw = self._json_body()
                body = parse_model(raw, "V2beta1Run")
                if body.experiment_id not in state.experiments:
                    raise ContractError(f"unknown experiment {body.experiment_id}")
                ref = parse_model(raw.get("pipeline_version_reference") or {},
                                  "V2beta1PipelineVersionReference")
                versions = state.versions.get(ref.pipeline_id, [])
                if ref.pipeline_version_id not in [v.pipeline_version_id for v in versions]:
                    raise ContractError("run of an unknown pipeline version")
                parse_model(raw.get("runtime_config") or {}, "V2beta1RuntimeConfig")
                body.run_id = str(uuid.uuid4())
                body.state = "PENDING"
                state.runs[body.run_id] = body
                state.run_bodies.append(raw)
                return 200, body
            if method == "GET" and len(parts) == 2 and parts[0] == "runs":
                run = state.runs.get(parts[1])
                if run is None:
                    return 404, k.GooglerpcStatus(code=5, message="run not found")
                n = next(state.polls)
                run.state = state.run_states[min(n, len(state.run_states) - 1)]
                if run.state == "FAILED" and state.run_error:
                    run.error = k.GooglerpcStatus(code=2, message=state.run_error)
                return 200, run
            return 404, k.GooglerpcStatus(code=5, message=f"no route {method} {path}")

    return Handler


@dataclass
class KfpDouble:
    url: str
    state: KfpState


@pytest.fixture
def kfp_server():
    """A fresh KFP v2beta1 API double on 127.0.0.1, served by a thread of this process."""
    state = KfpState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield KfpDouble(f"http://127.0.0.1:{server.server_address[1]}", state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
