"""TensorFlow Serving's gRPC API over the prediction service core (app.PredictionService).

    tensorflow.serving.PredictionService  Predict, Classify, Regress, GetModelMetadata
    tensorflow.serving.ModelService       GetModelStatus (HandleReloadConfigRequest: the
                                          registry decides what is served, so UNIMPLEMENTED)

The servicers implement the official generated ones from tensorflow-serving-api as asyncio
handlers on grpc.aio: one event loop reads, checks and answers every call, and the model
calls are made on the batcher's runner threads (framework/serving/batching.py), so the
requests that come in while the model is busy share its next call. Routing, counting, the
canary's judgement and the error texts are the core's, shared with the REST API. A
request names the model in `model_spec.name` and picks a version by `version`, by
`version_label` (production / canary) or, with neither, through the traffic split (sticky by
the metadata key named like release.sticky_header). Each answer's initial metadata carries
`x-request-id` and `x-model-version`, as the REST answer's headers do.
"""

from __future__ import annotations

import functools
import logging
from typing import Optional

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from framework.serving import tensors
from framework.serving.app import PredictionService, request_id_from
from framework.serving.errors import ServingError, invalid
from framework.serving.models import LoadedModel
from framework.serving.signature import RequestError, signature_def_json

log = logging.getLogger("mlops.serve")

REQUEST_ID_KEY = "x-request-id"
VERSION_KEY = "x-model-version"
SIGNATURE_DEF = "signature_def"  # the one metadata field TF Serving knows


def add_to_server(service: PredictionService, server, sticky_key: Optional[str] = None) -> None:
    """Register both servicers on a grpc.Server."""
    key = sticky_key if sticky_key is not None else sticky_metadata_key(service)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(service, key), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(service), server)


def sticky_metadata_key(service: PredictionService) -> Optional[str]:
    """release.sticky_header as a gRPC metadata key (lowercase), from the WSGI key the core
    keeps: HTTP_X_SESSION_ID -> x-session-id."""
    key = service.sticky_key
    return key[len("HTTP_"):].lower().replace("_", "-") if key else None


def status_code(code: str) -> grpc.StatusCode:
    """ServingError.code (a gRPC status name) as grpc.StatusCode."""
    return getattr(grpc.StatusCode, code, grpc.StatusCode.UNKNOWN)


def _answering(method):
    """An asyncio handler (grpc.aio): ServingError -> the call ends with its code and
    message (the REST answer's text); anything else -> INTERNAL, logged. The server stays
    up either way."""

    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except ServingError as exc:
            await context.abort(status_code(exc.code), str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad call must not look like a crash
            log.exception("gRPC %s failed", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL,
                                f"internal error: {type(exc).__name__}: {exc}"[:500])

    return wrapper


def _version_choice(spec) -> tuple[Optional[str], Optional[str]]:
    """(version, label) from a ModelSpec; both None: the traffic split decides."""
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return str(spec.version.value), None
    if choice == "version_label":
        return None, spec.version_label or None
    return None, None


def _metadata(context) -> dict[str, str]:
    return {m.key: m.value for m in context.invocation_metadata() or ()
            if isinstance(m.value, str)}


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, service: PredictionService, sticky_key: Optional[str]) -> None:
        self.service = service
        self.sticky_key = sticky_key

    async def _route(self, request, context):
        """(routing, version, model, request id) of a request, announced to the caller."""
        if not request.HasField("model_spec"):
            raise invalid("Missing ModelSpec")
        spec = request.model_spec
        self.service.check_model_name(spec.name)
        version, label = _version_choice(spec)
        metadata = _metadata(context)
        sticky = metadata.get(self.sticky_key) if self.sticky_key else None
        routing, version, model = self.service.resolve(version, label, sticky)
        request_id = request_id_from(metadata.get(REQUEST_ID_KEY))
        await context.send_initial_metadata(((REQUEST_ID_KEY, request_id),
                                             (VERSION_KEY, version)))
        return routing, version, model, request_id

    async def _answer(self, request, context, prepare):
        """Route, check the request against the chosen signature (`prepare(model)` ->
        (signature, arrays, plan); a RequestError there never reaches the model nor the
        counters), run the model through the core. Returns (version, signature name, plan,
        outputs)."""
        with self.service.batcher.arriving() as arrival:  # a batch waits briefly for it
            routing, version, model, request_id = await self._route(request, context)
            signature, arrays, plan = None, {}, None
            if isinstance(model, LoadedModel):  # a load failure is answered by run_async
                signature, arrays, plan = prepare(model)
            outputs = await self.service.run_async(routing, version, model, signature, arrays,
                                                   request_id, arrival)
        return version, signature.name, plan, outputs

    def _spec(self, response_spec, version: str, signature_name: str) -> None:
        response_spec.name = self.service.model_name
        response_spec.version.value = int(version)
        response_spec.signature_name = signature_name

    @_answering
    async def Predict(self, request, context):
        def prepare(model):
            signature = model.signature(request.model_spec.signature_name or None)
            wanted = _output_filter(request.output_filter, signature)
            return signature, tensors.arrays_from_tensors(request.inputs, signature), wanted

        version, signature_name, wanted, outputs = await self._answer(request, context, prepare)
        response = predict_pb2.PredictResponse()
        self._spec(response.model_spec, version, signature_name)
        for name in wanted:
            response.outputs[name].CopyFrom(tensors.tensor_proto(outputs[name]))
        return response

    async def _answer_examples(self, request, context, plan_of):
        """Classify and Regress: route, read the request's tf.Examples into the chosen
        signature's inputs (`plan_of(signature)` checks the signature suits the call), run.
        Returns (version, signature name, plan, outputs, number of examples)."""
        examples = []

        def prepare(model):
            signature = model.signature(request.model_spec.signature_name or None)
            plan = plan_of(signature)
            examples.extend(tensors.examples_of(request.input))
            return signature, tensors.arrays_from_examples(examples, signature), plan

        answer = await self._answer(request, context, prepare)
        return (*answer, len(examples))

    @_answering
    async def Classify(self, request, context):
        version, signature_name, plan, outputs, count = await self._answer_examples(
            request, context, tensors.classify_plan)
        response = classification_pb2.ClassificationResponse()
        self._spec(response.model_spec, version, signature_name)
        for row in tensors.classifications(plan, outputs, count):
            response.result.classifications.add().classes.extend(
                classification_pb2.Class(label=label, score=score) for label, score in row)
        return response

    @_answering
    async def Regress(self, request, context):
        version, signature_name, output, outputs, count = await self._answer_examples(
            request, context, tensors.regress_output)
        response = regression_pb2.RegressionResponse()
        self._spec(response.model_spec, version, signature_name)
        response.result.regressions.extend(
            regression_pb2.Regression(value=v) for v in tensors.regressions(output, outputs, count))
        return response

    @_answering
    async def GetModelMetadata(self, request, context):
        fields = list(request.metadata_field)
        if not fields:
            raise invalid("GetModelMetadataRequest must name at least one metadata_field "
                          f"('{SIGNATURE_DEF}')")
        unsupported = [f for f in fields if f != SIGNATURE_DEF]
        if unsupported:
            raise invalid(f"metadata field(s) {', '.join(unsupported)} not supported (only "
                          f"'{SIGNATURE_DEF}')")
        routing, version = _routing_and_version(self.service, request)
        version = version or routing.production
        model = self.service.loaded(routing, version)
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for name, (_, signature) in model.signatures.items():
            # The same signature_def as the REST metadata answer, as the proto it is JSON of.
            json_format.ParseDict(signature_def_json(signature),
                                  signature_defs.signature_def[name])
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.service.model_name
        response.model_spec.version.value = int(version)
        response.metadata[SIGNATURE_DEF].Pack(signature_defs)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: PredictionService) -> None:
        self.service = service

    @_answering
    async def GetModelStatus(self, request, context):
        routing, version = _routing_and_version(self.service, request)
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in self.service.status(routing, version):
            response.model_version_status.add(
                version=int(status["version"]),
                state="AVAILABLE" if status["available"] else "END",
                status={"error_code": "OK" if status["available"] else "UNKNOWN",
                        "error_message": status["error"]})
        return response

    @_answering
    async def HandleReloadConfigRequest(self, request, context):
        raise ServingError("UNIMPLEMENTED", "mlops serve follows the model registry: change "
                                            "what it serves with `mlops release`")


def _routing_and_version(service: PredictionService, request):
    """(routing, version or None) of a status or metadata request: a label is resolved to
    its version; no version means every served version (status) or production (metadata)."""
    if not request.HasField("model_spec"):
        raise invalid("Missing ModelSpec")
    service.check_model_name(request.model_spec.name)
    version, label = _version_choice(request.model_spec)
    if label:
        routing, version, _ = service.resolve(label=label)
        return routing, version
    return service.routing, version


def _output_filter(names, signature) -> list[str]:
    """The outputs to answer with: all, or those named in output_filter (each once)."""
    if not names:
        return list(signature.outputs)
    unknown = sorted(set(names) - set(signature.outputs))
    if unknown:
        raise RequestError(f"output_filter: unknown output(s) {', '.join(unknown)} (signature "
                           f"'{signature.name}' has: {', '.join(sorted(signature.outputs))})")
    if len(set(names)) != len(names):
        raise RequestError("output_filter: an output is named more than once")
    return list(names)
