"""Run the prediction service on waitress (a maintained, pure-Python threaded WSGI server)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

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

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        stop_server(self.server)
        self.thread.join(timeout=10)
        self.service.stop_watching()
        self.service.stats.stop_writer()


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
    return server


def stop_server(server) -> None:
    from waitress import wasyncore

    server.task_dispatcher.shutdown()  # lets requests in flight finish
    wasyncore.close_all(server._map)


def start_in_thread(service: PredictionService, host: str = "127.0.0.1", port: int = 0,
                    threads: int = 8) -> RunningServer:
    """Serve in a background thread (tests, benchmarks); port 0 picks a free port."""
    server = make_server(service, host, port, threads)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    return RunningServer(service, server, thread, host, server.effective_port)
