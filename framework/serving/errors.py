"""Errors a prediction request can end in, named by the gRPC status TensorFlow Serving uses.

Both APIs raise the same `ServingError`: the gRPC service answers with `code`, the REST API
with the HTTP status TensorFlow Serving's REST front end maps that code to, and both with
the same message.
"""

from __future__ import annotations

# TensorFlow Serving's REST front end (http_rest_api_handler / ToHTTPStatusCode).
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "NOT_FOUND": 404,
    "UNIMPLEMENTED": 501,
    "RESOURCE_EXHAUSTED": 413,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}


class ServingError(Exception):
    """A request the service refuses (the client's fault) or cannot answer (the server's)."""

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status or HTTP_STATUS.get(code, 500)


def not_found(message: str) -> ServingError:
    return ServingError("NOT_FOUND", message)


def invalid(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def unavailable(message: str) -> ServingError:
    return ServingError("UNAVAILABLE", message)
