"""TensorFlow Serving's REST API as a tornado application over the prediction service core
(app.PredictionService, whose `answer_async` routes and answers a WSGI-style environ).

One handler takes every path and method: the core decides what a path means and words its
errors. Predict requests await their model call, so the event loop goes on reading requests
while the model is busy.
"""

from __future__ import annotations

import asyncio
import logging

from framework.serving.app import PredictionService

log = logging.getLogger("mlops.serve")


class InFlight:
    """Requests being answered, so that a stop can let them finish."""

    def __init__(self) -> None:
        self.count = 0

    async def drained(self, timeout_s: float) -> bool:
        """Wait (on the loop) until no request is in flight, at most timeout_s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.count and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return not self.count


def application(service: PredictionService, in_flight: InFlight):
    """A tornado Application answering every request through `service`."""
    from tornado.web import Application, RequestHandler
    from tornado.wsgi import WSGIContainer

    # tornado's request as a WSGI-style environ; the container's app is never called
    to_environ = WSGIContainer(None).environ

    class Handler(RequestHandler):
        SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

        async def _answer(self, *_) -> None:
            in_flight.count += 1
            try:
                status, headers, payload = await service.answer_async(to_environ(self.request))
            finally:
                in_flight.count -= 1
            self.set_status(status, reason(status))
            for name, value in headers:
                self.set_header(name, value)
            self.finish(payload)

        get = head = post = delete = patch = put = options = _answer

        def compute_etag(self):  # TF Serving sends no ETag; no 304 for a repeated GET
            return None

    # No access log line per request (tornado logs each at INFO): mlops serve logs at INFO.
    return Application([(r".*", Handler)], log_function=lambda handler: None)


def reason(status: int) -> str:
    from framework.serving.app import REASONS

    return REASONS.get(status, "Unknown")
