"""The REST core's answers (`answer_async`, what `mlops serve` runs): a refused request gets
its status and one message; an unexpected failure is a 500 that names its type, logged,
never a traceback to the client."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from unittest import mock

import pytest

from framework.release.policy import RollbackPolicy
from framework.release.registry import Registry
from framework.release.stats import ServingStats
from framework.serving.app import PredictionService


@pytest.fixture
def service(tmp_path):
    """A service over an empty registry: nothing in production."""
    registry = Registry(tmp_path / "taxi.release.json", str(tmp_path / "serving"), "taxi")
    return PredictionService(registry, model_name="taxi", policy=RollbackPolicy(),
                             stats=ServingStats(), max_request_bytes=64)


def environ(method: str, path: str, body: bytes = b"") -> dict:
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body)}


def answer(service, method, path, body=b"") -> tuple[int, dict]:
    status, headers, payload = asyncio.run(service.answer_async(environ(method, path, body)))
    assert ("Content-Type", "application/json") in headers
    assert ("Content-Length", str(len(payload))) in headers
    return status, json.loads(payload)


@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/v1/models/other:predict", b"{}", 404, "model 'other' (this server serves 'taxi')"),
    ("GET", "/v1/models/taxi:predict", b"", 405, "use POST for :predict"),
    ("POST", "/v1/models/taxi:predict", b'{"instances": [{}]}', 503,
     "no production version is being served"),
    ("POST", "/v1/models/taxi:predict", b"{" * 65, 400, "larger than the limit of 64 bytes"),
    ("POST", "/v1/models/taxi:predict", b"{nope", 400, "malformed JSON"),
    ("POST", "/v1/models/taxi", b"", 405, "use GET for model status and metadata"),
    ("GET", "/elsewhere", b"", 404, "not found: use /v1/models/{name}"),
])
def test_a_refused_request_gets_its_status_and_message(service, method, path, body, status,
                                                        message):
    got, text = answer(service, method, path, body)
    assert got == status and message in text["error"]


def test_an_unexpected_failure_is_a_500_naming_its_type_and_is_logged(service, caplog):
    failing = mock.create_autospec(service.resolve, side_effect=RuntimeError("secret detail"))
    with mock.patch.object(service, "resolve", failing), caplog.at_level(logging.ERROR):
        status, body = answer(service, "POST", "/v1/models/taxi:predict", b"{}")
    assert (status, body) == (500, {"error": "internal error: RuntimeError"})
    assert "REST request failed" in caplog.text and "secret detail" in caplog.text
