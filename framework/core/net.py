"""Whether something listens at host:port: told apart from what a client library says."""

from __future__ import annotations

import socket


def answers(host: str, port: int, timeout: float = 3.0) -> bool:
    """True when something accepts a TCP connection at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
