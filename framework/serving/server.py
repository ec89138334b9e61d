"""Run the prediction service: the REST API on waitress (a maintained, pure-Python threaded
WSGI server) and TensorFlow Serving's gRPC API on grpcio, over one PredictionService."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Optional

from framework.core.errors import UserError
from framework.serving.app import PredictionService

log = logging.getLogger("mlops.serve")


@dataclass
class RunningServer:
    service: PredictionService
    server: object
    thread: threading.Thread
    host: str
    port: int
    grpc_server: object = None  # None when gRPC is off
    grpc_port: Optional[int] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def grpc_address(self) -> Optional[str]:
        return grpc_address(self.host, self.grpc_port) if self.grpc_server else None

    def stop(self) -> None:
        if self.grpc_server is not None:
            stop_grpc_server(self.grpc_server)
        stop_server(self.server)
        self.thread.join(timeout=10)
        self.service.stop_watching()
        self.service.stats.stop_writer()
        if self.service.outcomes is not None:
            self.service.outcomes.stop_writer()


def make_server(service: PredictionService, host: str, port: int, threads: int):
    """Load the registry's versions, then bind. Raises UserError when nothing can be served."""
    from waitress.server import create_server

    routing = service.reload()
    if routing.production is None:
        raise UserError("no production version in the registry: promote one first "
                        "(`mlops release status` lists the versions; "
                        "`mlops release promote VERSION`)")
    failed = getattr(routing.models.get(routing.production), "error", None)
    if failed:
        raise UserError(f"production version {routing.production} failed to load: {failed}")
    # waitress refuses bodies past its own cap with 413; the app's 400 with a message covers
    # everything up to four times the limit, so waitress's cap is only the last fence.
    cap = service.max_request_bytes
    try:
        server = create_server(service, host=host, port=port, threads=threads,
                               max_request_body_size=max(4 * cap, cap + 65536),
                               ident="mlops-serve", clear_untrusted_proxy_headers=True)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    service.start_watching()
    service.stats.start_writer()
    if service.outcomes is not None:
        service.outcomes.start_writer()
    return server


def stop_server(server) -> None:
    from waitress import wasyncore

    server.task_dispatcher.shutdown()  # lets requests in flight finish
    wasyncore.close_all(server._map)


def start_in_thread(service: PredictionService, host: str = "127.0.0.1", port: int = 0,
                    threads: int = 8, grpc_port: Optional[int] = None,
                    grpc_max_message_bytes: int = 4194304) -> RunningServer:
    """Serve in a background thread (tests, benchmarks); port 0 picks a free port. gRPC
    only when grpc_port is given, and there too 0 picks a free port (unlike `mlops serve
    --grpc-port 0` and release.grpc_port 0, which turn gRPC off)."""
    server = make_server(service, host, port, threads)
    grpc_server = bound = None
    if grpc_port is not None:
        try:
            grpc_server, bound = make_grpc_server(service, host, grpc_port, threads,
                                                  grpc_max_message_bytes)
        except BaseException:  # undo make_server: its watcher and writers
            stop_server(server)
            service.stop_watching()
            service.stats.stop_writer()
            if service.outcomes is not None:
                service.outcomes.stop_writer()
            raise
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    return RunningServer(service, server, thread, host, server.effective_port, grpc_server,
                         bound)


def make_grpc_server(service: PredictionService, host: str, port: int, threads: int,
                     max_message_bytes: int):
    """TensorFlow Serving's gRPC API on host:port (0 picks a free port), started; returns
    (server, bound port). Call after make_server, which loads the registry's versions.
    Messages past max_message_bytes either way are refused by gRPC (RESOURCE_EXHAUSTED).
    `threads` is unused: the handlers run on one asyncio loop and never block it."""
    server = GrpcServer(service, grpc_address(host, port), max_message_bytes)
    return server, server.port


class GrpcServer:
    """grpc.aio's server with its event loop on a thread of its own."""

    def __init__(self, service: PredictionService, address: str, max_message_bytes: int):
        import asyncio

        self._asyncio = asyncio
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="grpc-loop",
                                       daemon=True)
        self.thread.start()
        self.server = None
        try:
            self.port = self._wait(self._start(service, address, max_message_bytes), 60)
        except BaseException:
            self._close_loop()
            raise

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

    def _wait(self, coroutine, timeout: float):
        return self._asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self, grace_s: float = 5.0) -> None:
        """Refuse new calls, let calls in flight finish (up to grace_s), then close."""
        try:
            if self.server is not None:
                self._wait(self.server.stop(grace_s), grace_s + 10)
        finally:
            self._close_loop()

    def _close_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


def grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def stop_grpc_server(server: GrpcServer, grace_s: float = 5.0) -> None:
    """Refuse new calls, let calls in flight finish (up to grace_s), then close."""
    server.stop(grace_s)
