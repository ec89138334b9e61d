"""The prediction service: the TensorFlow Serving REST API (`answer_async`, for the asyncio
HTTP server `mlops serve` runs: framework/serving/rest_api.py), over the core that the gRPC
API shares.

    GET  /v1/models/{name}                      status of the versions being served
    GET  /v1/models/{name}/metadata             signature of the production version
    GET  /v1/models/{name}/versions/{v}[/metadata]
    POST /v1/models/{name}:predict              routed by the registry's traffic split
    POST /v1/models/{name}/versions/{v}:predict one version
    POST /v1/models/{name}/labels/{production|canary}:predict

Routing comes from the registry state. A watcher thread notices when the state file changes,
loads any newly needed version *before* switching, then swaps one immutable `Routing` object:
requests in flight finish on the models they started with, so a switch drops nothing. The
production, canary and last-good versions stay loaded, so a rollback is instant.
"""

from __future__ import annotations

import collections
import gc
import json
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Optional, Sequence

from framework.release.policy import Memory, Outcome, RollbackPolicy, prediction_scores
from framework.release.registry import Registry, ReleaseState
from framework.release.routing import TrafficSplitter
from framework.release.stats import ServingStats, rss_mb
from framework.serving.batching import Arrival, Batcher, CallResult
from framework.serving.errors import ServingError, invalid, not_found, unavailable
from framework.serving.models import LoadedModel, LoadFailure, load_version
from framework.serving.signature import (
    RequestError,
    Signature,
    format_response,
    parse_predict_body,
    signature_def_json,
)

log = logging.getLogger("mlops.serve")

_PATH = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)"
    r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?P<tail>:predict|/metadata)?$"
)
SPARE_MODELS = 2  # loaded models kept after they leave the routing
AUTO_ROLLBACK_BY = "mlops serve (automatic rollback policy)"


@dataclass(frozen=True)
class Routing:
    """One consistent view of what is served; replaced whole, never changed in place."""

    revision: int = -1
    traffic: dict = field(default_factory=dict)
    production: Optional[str] = None
    canary: Optional[str] = None
    models: dict = field(default_factory=dict)


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable"}


def method_not_allowed(message: str) -> ServingError:
    return ServingError("UNIMPLEMENTED", message, http_status=405)


class PredictionService:
    def __init__(self, registry: Registry, *, model_name: str, policy: RollbackPolicy,
                 stats: ServingStats, max_request_bytes: int = 1 << 20,
                 sticky_header: Optional[str] = None, poll_interval_s: float = 0.2,
                 outcomes=None, batcher: Optional[Batcher] = None) -> None:
        self.registry = registry
        self.model_name = model_name
        self.policy = policy
        self.stats = stats
        self.outcomes = outcomes  # framework/release/outcomes.py: predictions kept for feedback
        self.batcher = batcher or Batcher(enabled=False)
        self.max_request_bytes = max_request_bytes
        self.sticky_key = ("HTTP_" + sticky_header.upper().replace("-", "_")
                           if sticky_header else None)
        self.poll_interval_s = poll_interval_s
        self.routing = Routing()
        self.splitter = TrafficSplitter()
        self._reload_lock = threading.Lock()
        self._trip_lock = threading.Lock()
        self._canary_window: collections.deque = collections.deque()
        self._window_for: Optional[str] = None
        self._tripped: set[str] = set()
        self._stop = threading.Event()
        self._watcher: Optional[threading.Thread] = None
        self._seen_file: Optional[tuple] = None
        self._spare: dict[str, LoadedModel] = {}

    # -- following the registry -------------------------------------------------------------

    def reload(self) -> Routing:
        """Read the registry state; load what it needs; then switch in one assignment."""
        with self._reload_lock:
            self._seen_file = self._file_signature()
            state = self.registry.read()
            current = self.routing
            held_before = self._held(current)
            models, loaded = self._models_for(state, current)
            # Keep a couple of models that just left the routing: a canary sent out again
            # after a rollback then switches without a reload.
            for version, model in current.models.items():
                if version not in models and isinstance(model, LoadedModel):
                    self._spare[version] = model
            while len(self._spare) > SPARE_MODELS:
                self._spare.pop(next(iter(self._spare)))
            routing = Routing(state.revision, state.traffic(), state.production,
                              state.canary if state.canary_percent else None, models)
            if routing.canary != current.canary:
                with self._trip_lock:  # a new canary is judged afresh
                    self._window_for = None
                    self._tripped.discard(routing.canary)
            self.routing = routing  # the switch: one reference assignment
            if routing.traffic != current.traffic:
                log.info("traffic now %s (registry revision %s)",
                         _format_traffic(routing.traffic), state.revision)
            dropped = bool(held_before - self._held(routing))
            if loaded or dropped:
                freeze_heap(collect=dropped)
            return routing

    def _models_for(self, state: ReleaseState, current: Routing) -> tuple[dict, bool]:
        """The models the state routes to ({version: LoadedModel or LoadFailure}): those
        already loaded are reused, the others loaded now. And whether any was loaded."""
        wanted = [v for v in (state.production, state.canary if state.canary_percent else
                              None, state.last_good) if v]
        models, loaded = {}, False
        for version in dict.fromkeys(wanted):
            path = state.versions.get(version, {}).get("path") or os.path.join(
                self.registry.serving_dir, version)
            existing = current.models.get(version) or self._spare.pop(version, None)
            if isinstance(existing, LoadedModel) and existing.path == path:
                models[version] = existing
                continue
            started, loaded = time.monotonic(), True
            models[version] = self._load_measured(version, path)
            if isinstance(models[version], LoadFailure):
                log.error("version %s failed to load: %s", version, models[version].error)
                continue
            cost = self.stats.load_cost_mb(version)
            log.info("loaded version %s in %.1f s (%s)", version, time.monotonic() - started,
                     "load cost unknown" if cost is None else f"resident memory {cost:+.0f} MB")
        return models, loaded

    def _held(self, routing: Routing) -> set[int]:
        """The loaded models this service keeps (routed or spare), by identity."""
        return {id(m) for m in (*routing.models.values(), *self._spare.values())
                if isinstance(m, LoadedModel)}

    def _load_measured(self, version: str, path: str) -> "LoadedModel | LoadFailure":
        """Load a version and record its load cost: the RSS after minus before. It can only
        be measured here, as the version loads: later the process's RSS is every version's
        and the server's at once. It is approximate: requests served meanwhile allocate too,
        the first load also pays for TensorFlow's own start-up, and memory an earlier model
        freed may be reused without growing the RSS."""
        # Models that left the routing are freed by the cyclic collector (a loaded
        # SavedModel holds reference cycles). Collected during the load, their memory
        # would be subtracted from this version's cost; collected first, it is not. They
        # were frozen with the rest of the heap (freeze_heap), which collect_all reaches.
        collect_all()
        rss_before = rss_mb()
        model = load_version(version, path)
        if not isinstance(model, LoadFailure):
            self.stats.loaded(version, rss_before, rss_mb())
        return model

    def _file_signature(self) -> Optional[tuple]:
        from framework.storage import files

        return files.signature(self.registry.state_path)

    def start_watching(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="registry-watcher",
                                             daemon=True)
            self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
            self._watcher = None

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            if self._file_signature() != self._seen_file:
                try:
                    self.reload()
                except Exception:  # noqa: BLE001 - keep serving the last good routing
                    log.exception("could not apply the new registry state; still serving %s",
                                  _format_traffic(self.routing.traffic))

    # -- the automatic rollback policy ------------------------------------------------------

    def _observe(self, routing: Routing, version: str, failed: bool, ms: float,
                 call: Optional[CallResult] = None, scores: Sequence[float] = ()) -> None:
        canary = routing.canary
        if canary is None or version not in (canary, routing.production) \
                or not self.policy.enabled:
            return
        # CPU is compared only for requests that had a model call of their own (see the CPU
        # rule in framework/release/policy.py).
        alone = call is not None and call.batch_requests == 1
        outcome = Outcome(failed, ms, call.cpu_ms if alone else None)
        with self._trip_lock:
            # The policy's Window: the canary's and production's requests since the canary
            # went out (CPU, memory and drift compare the two); a new canary starts afresh.
            if self._window_for != canary:
                self._window_for = canary
                self._canary_window = self.policy.new_window(rss_mb())
            window = self._canary_window
            window.add(version == canary, outcome, scores)
            if version != canary:
                return
            memory = None
            if window.both_full():
                now, start = rss_mb(), window.rss_start_mb
                memory = Memory(self.stats.load_cost_mb(canary),
                                None if now is None or start is None else now - start, now)
            checks = self.policy.checks(window, memory)
            verdict = next((c.reason for c in checks if c.crossed), None)
            self.stats.judged({
                "canary": canary, "production": routing.production, "at": time.time(),
                "canary_requests": len(window.canary),
                "production_requests": len(window.production),
                "limits": self.policy.limits(), "checks": [c.to_dict() for c in checks],
                "verdict": verdict})
            if verdict is None or version in self._tripped:
                return
            self._tripped.add(version)
        log.warning("canary %s: %s: rolling back", version, verdict)
        # Stop routing to the canary now; the registry write follows in the background.
        production = routing.production
        self.routing = replace(self.routing, canary=None,
                               traffic={production: 100} if production else {})
        threading.Thread(target=self._roll_back, args=(version, verdict), daemon=True).start()

    def _roll_back(self, version: str, verdict: str) -> None:
        try:
            self.registry.rollback(by=AUTO_ROLLBACK_BY, reason=verdict, only_canary=version)
        except Exception:  # noqa: BLE001
            log.exception("automatic rollback of %s could not be written to the registry",
                          version)
        self.reload()

    # -- answering a prediction (both APIs) --------------------------------------------------

    def resolve(self, version: Optional[str] = None, label: Optional[str] = None,
                sticky: Optional[str] = None) -> tuple[Routing, str, "LoadedModel | LoadFailure"]:
        """The routing, version and model that answer a request: an explicit version, a
        label (production / canary), or else the traffic split (sticky by a caller's key)."""
        routing = self.routing
        if label:
            version = {"production": routing.production, "canary": routing.canary}.get(label)
            if version is None:
                raise not_found(f"no version has label '{label}' "
                                "(labels: production, canary while one is out)")
        if version is None:
            if not routing.traffic:
                raise unavailable("no production version is being served")
            version = self.splitter.choose(routing.traffic, sticky)
        return routing, version, self._model(routing, version)

    def check_model_name(self, name: str) -> None:
        if name != self.model_name:
            raise not_found(f"Servable not found for request: model '{name}' "
                            f"(this server serves '{self.model_name}')")

    async def run_async(self, routing: Routing, version: str, model, signature: Signature,
                        arrays: dict, request_id: Optional[str] = None,
                        arrival: Optional[Arrival] = None) -> dict:
        """One model call, timed and counted for the version (and judged if it is the
        canary); with a request id, its predictions are kept for outcome feedback. The call
        is made on the batcher's threads while the event loop goes on with other requests.
        Raises ServingError: UNAVAILABLE for a version that failed to load, INTERNAL when
        the model fails."""
        import asyncio

        started = self._start(routing, version, model, arrival)
        try:
            call = await asyncio.wrap_future(
                self.batcher.submit(*self._model_call(model, signature), arrays, arrival))
        except Exception as exc:  # noqa: BLE001 - a model failure is the server's, not the client's
            raise self._failed(routing, version, started, exc) from None
        return self._answered(routing, version, started, call, request_id)

    def _start(self, routing: Routing, version: str, model,
               arrival: Optional[Arrival]) -> float:
        started = time.perf_counter()
        if isinstance(model, LoadFailure):
            if arrival is not None:
                arrival.close()
            self._record(routing, version, True, started)
            raise unavailable(f"version {version} failed to load: {model.error}")
        return started

    @staticmethod
    def _model_call(model: LoadedModel, signature: Signature) -> tuple:
        """(batch key, call) of a model's signature: requests batch per model and signature."""
        return (id(model), signature.name), partial(model.predict, signature.name)

    def _failed(self, routing: Routing, version: str, started: float,
                exc: BaseException) -> ServingError:
        self._record(routing, version, True, started)
        message = short_error(exc)
        log.warning("version %s failed a prediction: %s", version, message)
        return ServingError("INTERNAL", f"version {version} failed: {type(exc).__name__}: "
                            f"{message[:300]}")

    def _answered(self, routing: Routing, version: str, started: float, call: CallResult,
                  request_id: Optional[str]) -> dict:
        self._record(routing, version, False, started, call)
        if request_id and self.outcomes is not None:
            self.outcomes.record_prediction(request_id, version, call.outputs)
        return call.outputs

    def _record(self, routing: Routing, version: str, failed: bool, started: float,
                call: Optional[CallResult] = None) -> None:
        ms = (time.perf_counter() - started) * 1000.0
        scores = prediction_scores(call.outputs) if call else ()  # once, for both below
        self.stats.record(version, failed, ms, cpu_ms=call.cpu_ms if call else None,
                          scores=scores, production=routing.production)
        self._observe(routing, version, failed, ms, call, scores)

    def _model(self, routing: Routing, version: str):
        model = routing.models.get(version)
        if model is None:
            raise not_found(f"version {version} of '{self.model_name}' is not being served "
                            f"(serving: {', '.join(sorted(routing.models)) or 'nothing'})")
        return model

    def status(self, routing: Routing, version: Optional[str]) -> list[dict]:
        """[{version, state, error}] of one version or of every version being served."""
        versions = [version] if version else sorted(routing.models, key=lambda v: (len(v), v),
                                                    reverse=True)
        result = []
        for v in versions:
            model = self._model(routing, v)
            result.append({"version": v, "available": isinstance(model, LoadedModel),
                           "error": getattr(model, "error", "")})
        return result

    def loaded(self, routing: Routing, version: Optional[str]) -> LoadedModel:
        """The loaded model of a version (production when None), for its metadata."""
        if version is None:
            raise unavailable("no production version is being served")
        model = self._model(routing, version)
        if isinstance(model, LoadFailure):
            raise unavailable(f"version {version} failed to load: {model.error}")
        return model

    # -- REST ----------------------------------------------------------------------------------

    async def answer_async(self, environ) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) of one REST request given as a WSGI-style environ: a
        refused request gets its status and {"error": message}, an unexpected failure 500
        (logged; one bad request must not stop the server)."""
        headers: list[tuple[str, str]] = []
        try:
            status, body = await self._dispatch(environ, headers)
        except ServingError as exc:
            status, body = exc.http_status, {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - answered, and the server goes on
            log.exception("REST request failed")
            status, body = 500, {"error": f"internal error: {type(exc).__name__}"}
        payload = json.dumps(body).encode("utf-8")
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        return status, headers, payload

    async def _dispatch(self, environ, headers) -> tuple[int, dict]:
        route = self._predict_route(environ)
        if route is not None:
            return await self._predict(environ, *route, headers)
        return self._other(environ)

    def _predict_route(self, environ) -> Optional[tuple]:
        """(version, label) of a predict request (both may be None); None for other paths."""
        match = _PATH.match(environ.get("PATH_INFO", ""))
        if not match or match["tail"] != ":predict":
            return None
        self.check_model_name(match["name"])
        if environ.get("REQUEST_METHOD", "GET") != "POST":
            raise method_not_allowed("use POST for :predict")
        return match["version"], match["label"]

    def _other(self, environ) -> tuple[int, dict]:
        """Model status, metadata and feedback: quick answers, no model call."""
        method = environ.get("REQUEST_METHOD", "GET")
        if environ.get("PATH_INFO", "").endswith("/feedback"):
            return self._feedback(environ, method)
        match = _PATH.match(environ.get("PATH_INFO", ""))
        if not match:
            raise not_found("not found: use /v1/models/{name}[/versions/{v}]"
                            "[:predict|/metadata]")
        self.check_model_name(match["name"])
        if method != "GET":
            raise method_not_allowed("use GET for model status and metadata")
        routing = self.routing
        version = match["version"]
        if match["label"]:
            version = self.resolve(label=match["label"])[1]
        if match["tail"] == "/metadata":
            return 200, self._metadata(routing, version or routing.production)
        return 200, self._status(routing, version)

    def _status(self, routing: Routing, version: Optional[str]) -> dict:
        return {"model_version_status": [
            {"version": s["version"], "state": "AVAILABLE" if s["available"] else "END",
             "status": {"error_code": "OK" if s["available"] else "UNKNOWN",
                        "error_message": s["error"]}}
            for s in self.status(routing, version)]}

    def _metadata(self, routing: Routing, version: Optional[str]) -> dict:
        model = self.loaded(routing, version)
        defs = {name: signature_def_json(sig) for name, (_, sig) in model.signatures.items()}
        return {"model_spec": {"name": self.model_name, "signature_name": "",
                               "version": version},
                "metadata": {"signature_def": {"signature_def": defs}}}

    def _read_body(self, environ) -> bytes:
        limit = self.max_request_bytes
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise invalid("invalid Content-Length header") from None
        if length > limit:
            raise invalid(f"request body of {length} bytes is larger than the limit of "
                          f"{limit} bytes (release.max_request_bytes)")
        stream = environ["wsgi.input"]
        body = stream.read(length) if length else stream.read(limit + 1)
        if len(body) > limit:
            raise invalid(f"request body is larger than the limit of {limit} bytes "
                          "(release.max_request_bytes)")
        return body

    def _read_json(self, environ):
        raw = self._read_body(environ)
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise invalid("malformed request: the body is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise invalid(f"malformed JSON: {exc.msg} at line {exc.lineno}, "
                          f"column {exc.colno}") from None

    async def _predict(self, environ, version: Optional[str], label: Optional[str],
                             headers) -> tuple:
        with self.batcher.arriving() as arrival:
            request = self._predict_request(environ, version, label, headers)
            outputs = await self.run_async(*request.call, arrival=arrival)
        return 200, format_response(outputs, request.form)

    def _predict_request(self, environ, version: Optional[str], label: Optional[str],
                         headers) -> "_PredictRequest":
        """Read, route and check a predict request; adds the answer's version and request
        id headers. Raises ServingError for a request that cannot be answered."""
        body = self._read_json(environ)
        sticky = environ.get(self.sticky_key) if self.sticky_key else None
        routing, version, model = self.resolve(version, label, sticky)
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        headers += [("X-Model-Version", version), ("X-Request-Id", request_id)]
        signature, arrays, form = None, {}, None
        if isinstance(model, LoadedModel):
            signature_name = body.get("signature_name") if isinstance(body, dict) else None
            if signature_name is not None and not isinstance(signature_name, str):
                raise RequestError("'signature_name' must be a string")
            signature = model.signature(signature_name)
            arrays, form = parse_predict_body(body, signature)
        return _PredictRequest((routing, version, model, signature, arrays, request_id), form)

    def _feedback(self, environ, method: str) -> tuple[int, dict]:
        """POST /v1/models/{name}/feedback: the true label(s) of answered requests, by the
        request id of their X-Request-Id: {"request_id": "...", "label": 1} or
        {"feedback": [{"request_id": "...", "label": 1}, ...]}, a list of labels (one per
        example) for a request of several examples. Answers {"accepted", "unknown"} (a batch
        also names up to 20 unknown ids); 404 for the one request id of a single item that
        the server does not keep; 400, with nothing applied, for a label that does not fit.
        framework/release/outcomes.py keeps them."""
        from framework.release.outcomes import FeedbackError, parse_feedback

        match = re.fullmatch(r"/v1/models/([^/:]+)/feedback", environ.get("PATH_INFO", ""))
        if not match:
            raise not_found("not found: feedback goes to /v1/models/{name}/feedback")
        self.check_model_name(match[1])
        if method != "POST":
            raise method_not_allowed("use POST for /feedback")
        if self.outcomes is None:
            raise ServingError("UNIMPLEMENTED", "this server keeps no predictions for outcome "
                               "feedback (release.ab_test.enabled is false)")
        body = self._read_json(environ)
        try:
            items, single = parse_feedback(body)
            result = self.outcomes.record_feedback(items, single=single)
        except FeedbackError as exc:
            raise invalid(str(exc)) from None
        if single:
            if result["unknown"]:
                raise not_found(
                    f"unknown request id '{items[0][0]}': this server keeps no prediction "
                    f"answered under it (it keeps the newest {self.outcomes.max_predictions} "
                    "answered requests per version, since it started)")
            del result["unknown_ids"]
        return 200, result


@dataclass(frozen=True)
class _PredictRequest:
    call: tuple  # PredictionService.run's arguments
    form: object  # the body's form (row or columnar), for the answer


def freeze_heap(collect: bool) -> None:
    """Leave every object the collector tracks now out of later collections (`gc.freeze`),
    collecting first when `collect` (models were let go, and their cycles hold memory).

    A serving process holds some 365,000 long-lived objects (TensorFlow's modules and the
    loaded models). Each full collection walked them all: 0.2 to 0.4 s in which no request
    was answered, every ten to fifty seconds at 8 gRPC clients. Frozen, they are skipped;
    what requests allocate is collected as before. A load or a let-go model unfreezes them
    first, so a model that left is still freed.
    """
    if collect:
        collect_all()
    gc.freeze()


def collect_all() -> None:
    """A full collection that also reaches what an earlier freeze_heap left out of them."""
    gc.unfreeze()
    gc.collect()


def request_id_from(given: Optional[str]) -> str:
    """The caller's request id (X-Request-Id header or gRPC metadata) when it is a sensible
    token, else a new one: outcome feedback refers to requests by it."""
    if given and len(given) <= 128 and given.isprintable() and not given.isspace():
        return given.strip()
    return uuid.uuid4().hex


def short_error(exc: BaseException) -> str:
    """The telling line of an error: TensorFlow's start with 'Graph execution error:' and a
    stack of node names; the cause is the line with the op's own message."""
    text = str(getattr(exc, "message", None) or exc)
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith((" ", "\t"))]
    skip = ("Graph execution error", "Detected at node", "File ", "[[", "<stack traces")
    useful = [line for line in lines if not line.startswith(skip)]
    return (useful or lines or [type(exc).__name__])[0][:300]


def _format_traffic(traffic: dict) -> str:
    return ", ".join(f"{v}: {p}%" for v, p in traffic.items()) or "nothing"


def service_from_settings(settings, threads: Optional[int] = None) -> PredictionService:
    """The service `mlops serve` runs; `threads` overrides release.threads."""
    from framework.release.outcomes import store_from_settings
    from framework.release.registry import stats_path_for

    registry = Registry.from_settings(settings)
    release = settings.release
    return PredictionService(
        registry,
        model_name=registry.model_name,
        policy=RollbackPolicy.from_settings(release.rollback),
        stats=ServingStats(stats_path_for(registry.state_path)),
        max_request_bytes=release.max_request_bytes,
        sticky_header=release.sticky_header,
        outcomes=store_from_settings(release.ab_test, registry.state_path),
        batcher=Batcher.from_settings(release.batching, threads or release.threads),
    )


def describe_state(state: ReleaseState) -> str:
    return _format_traffic(state.traffic())
