"""The dashboard on waitress: bind (refusing a port in use in one line), run, stop."""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass

from framework.core.errors import UserError

THREADS = 4


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 or ::1: an address only this machine reaches."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_server(app, host: str = "127.0.0.1", port: int = 0, threads: int = THREADS):
    from waitress.server import create_server

    try:
        return create_server(app, host=host, port=port, threads=threads, ident="mlops-ui",
                             clear_untrusted_proxy_headers=True)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                        "(--port picks another)") from None


def stop_server(server) -> None:
    from waitress import wasyncore

    server.task_dispatcher.shutdown()
    wasyncore.close_all(server._map)


@dataclass
class RunningDashboard:
    server: object
    thread: threading.Thread
    host: str
    port: int
    stopping: threading.Event

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.stopping.set()
        stop_server(self.server)
        self.thread.join(timeout=10)


def start_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> RunningDashboard:
    """Serve `app` in a background thread (tests, the benchmark); port 0 picks a free one."""
    server = make_server(app, host, port)
    stopping = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except OSError:  # the loop's sockets closed under it by stop()
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=serve, name="mlops-ui", daemon=True)
    thread.start()
    return RunningDashboard(server, thread, host, server.effective_port, stopping)
