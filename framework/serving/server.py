"""Run the prediction service: TensorFlow Serving's REST API on tornado's HTTP server and its
gRPC API on grpc.aio, both on one asyncio event loop over one PredictionService.

The loop thread reads, checks and answers every request of either API; the model calls run
on the batcher's threads (framework/serving/batching.py). Every request in the server thus
reaches its batch queue at once, instead of waiting for one of a fixed number of worker
threads: requests that arrive together share a model call.
"""

from __future__ import annotations

import logging
import threading
from typing import Optional

from framework.core.errors import UserError
from framework.serving.app import PredictionService

log = logging.getLogger("mlops.serve")
START_TIMEOUT_S = 60.0


class ServingLoop:
    """An asyncio event loop on a thread of its own."""

    def __init__(self) -> None:
        import asyncio

        self._asyncio = asyncio
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="serving-loop",
                                       daemon=True)
        self.thread.start()

    def wait(self, coroutine, timeout: float):
        """Run a coroutine on the loop and wait (from another thread) for its result."""
        return self._asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


class RestServer:
    """The REST API (framework/serving/rest_api.py) on tornado's HTTPServer, on the loop."""

    def __init__(self, service: PredictionService, loop: ServingLoop, host: str,
                 port: int) -> None:
        from framework.serving.rest_api import InFlight

        self.loop = loop
        self.in_flight = InFlight()
        self.http = None
        self.port = loop.wait(self._start(service, host, port), START_TIMEOUT_S)

    async def _start(self, service: PredictionService, host: str, port: int) -> int:
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets

        from framework.serving.rest_api import application

        try:  # no SO_REUSEPORT: a port in use is refused, not shared
            sockets = bind_sockets(port, host, reuse_port=False)
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        # The app answers bodies past release.max_request_bytes with a 400 and a message, up
        # to four times the limit; the HTTP server's own cap (it drops the connection) is
        # only the last fence.
        cap = service.max_request_bytes
        self.http = HTTPServer(application(service, self.in_flight),
                               max_body_size=max(4 * cap, cap + 65536))
        self.http.add_sockets(sockets)
        return sockets[0].getsockname()[1]

    def stop(self, grace_s: float = 5.0) -> None:
        """Refuse new connections, let requests in flight finish (up to grace_s), close."""
        if self.http is not None:
            self.loop.wait(self._stop(grace_s), grace_s + 10)

    async def _stop(self, grace_s: float) -> None:
        self.http.stop()
        await self.in_flight.drained(grace_s)
        await self.http.close_all_connections()


class GrpcServer:
    """grpc.aio's server (framework/serving/grpc_api.py), on the loop."""

    def __init__(self, service: PredictionService, loop: ServingLoop, address: str,
                 max_message_bytes: int) -> None:
        self.loop = loop
        self.server = None
        self.port = loop.wait(self._start(service, address, max_message_bytes),
                              START_TIMEOUT_S)

    async def _start(self, service: PredictionService, address: str,
                     max_message_bytes: int) -> int:
        import grpc

        from framework.serving.grpc_api import add_to_server

        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # grpc sets SO_REUSEPORT by default: a second server on a busy port would bind
            # without error and steal half the connections. Refuse the port instead.
            ("grpc.so_reuseport", 0),
        ]
        self.server = grpc.aio.server(options=options)
        add_to_server(service, self.server)
        try:
            bound = self.server.add_insecure_port(address)
        except RuntimeError as exc:  # grpcio >= 1.50 raises where it used to return 0
            log.debug("gRPC bind failed: %s", exc)
            bound = 0
        if not bound:
            raise UserError(f"cannot listen on {address} for gRPC (is the port in use? "
                            "--grpc-port picks another, 0 turns gRPC off)")
        await self.server.start()
        return bound

    def stop(self, grace_s: float = 5.0) -> None:
        """Refuse new calls, let calls in flight finish (up to grace_s), then close."""
        if self.server is not None:
            self.loop.wait(self.server.stop(grace_s), grace_s + 10)


class RunningServer:
    """Both APIs of one PredictionService, serving until stop()."""

    def __init__(self, service: PredictionService, host: str, port: int,
                 grpc_port: Optional[int], grpc_max_message_bytes: int) -> None:
        self.service, self.host = service, host
        self.loop = ServingLoop()
        self.rest = self.grpc = None
        try:
            self.rest = RestServer(service, self.loop, host, port)
            if grpc_port is not None:
                self.grpc = GrpcServer(service, self.loop, grpc_address(host, grpc_port),
                                       grpc_max_message_bytes)
        except BaseException:  # the REST server may be listening already
            if self.rest is not None:
                self.rest.stop(grace_s=0)
            self.loop.close()
            raise

    @property
    def port(self) -> int:
        return self.rest.port

    @property
    def grpc_port(self) -> Optional[int]:
        return self.grpc.port if self.grpc else None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def grpc_address(self) -> Optional[str]:
        return grpc_address(self.host, self.grpc.port) if self.grpc else None

    def stop(self) -> None:
        """Let requests in flight finish, close both APIs, then the service's threads."""
        try:
            for server in (self.grpc, self.rest):
                if server is not None:
                    server.stop()
        finally:
            self.loop.close()
            self.service.stop_watching()
            self.service.stats.stop_writer()
            if self.service.outcomes is not None:
                self.service.outcomes.stop_writer()


def serve(service: PredictionService, host: str = "127.0.0.1", port: int = 0,
          grpc_port: Optional[int] = None,
          grpc_max_message_bytes: int = 4194304) -> RunningServer:
    """Load the registry's versions, then serve REST on host:port and, when grpc_port is not
    None, gRPC on host:grpc_port; port 0 picks a free port (for either API). Returns once
    both listen; the loop serves in the background. Raises UserError when nothing can be
    served or a port cannot be bound."""
    check_servable(service)
    running = RunningServer(service, host, port, grpc_port, grpc_max_message_bytes)
    service.start_watching()
    service.stats.start_writer()
    if service.outcomes is not None:
        service.outcomes.start_writer()
    return running


def check_servable(service: PredictionService) -> None:
    """Load the registry's versions; UserError unless production loaded."""
    routing = service.reload()
    if routing.production is None:
        raise UserError("no production version in the registry: promote one first "
                        "(`mlops release status` lists the versions; "
                        "`mlops release promote VERSION`)")
    failed = getattr(routing.models.get(routing.production), "error", None)
    if failed:
        raise UserError(f"production version {routing.production} failed to load: {failed}")


def grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
