"""How fast this machine is right now: a fixed CPU workload, timed; round trips between two
processes over loopback TCP; and the share of CPU time the hypervisor took away (steal)
between two points.

A virtual machine's speed moves with what else its host runs: the same empty REST server on
the same machine can answer a third as many requests per second from one hour to the next
(the floor rows of benchmarks/serving_bench.py). Benchmarks record the
probe before each measurement, so two figures are compared only when the machine was equally
fast for both, and a slow figure can be told apart from a slow machine. The two speeds are
separate because a contended host can slow one and not the other.
"""

from __future__ import annotations

import socket
import time
import zlib
from typing import Optional

REPEATS = 5
ROUND_TRIPS = 3000


def _workload() -> int:
    """About 0.2 s of Python and C work on a fast core: dict and string operations (what
    Beam's and the servers' Python does) and zlib (C code over a buffer)."""
    counts: dict[str, int] = {}
    for i in range(300_000):
        key = "k" + str(i % 997)
        counts[key] = counts.get(key, 0) + i
    blob = repr(sorted(counts.items())).encode() * 40
    return len(zlib.compress(blob, 6)) + len(counts)


def _echo(listener: socket.socket) -> None:
    connection, _ = listener.accept()
    with connection:
        while data := connection.recv(1):
            connection.sendall(data)


def round_trips_per_second(trips: int = ROUND_TRIPS) -> float:
    """One-byte round trips per second between this process and a child over loopback TCP:
    the wake-ups, system calls and scheduling that a server and its clients pay on every
    request, which a host under contention slows while plain computation keeps its speed."""
    import multiprocessing

    with socket.create_server(("127.0.0.1", 0)) as listener:
        child = multiprocessing.get_context("fork").Process(target=_echo, args=(listener,),
                                                            daemon=True)
        child.start()
        try:
            with socket.create_connection(listener.getsockname()) as connection:
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                started = time.perf_counter()
                for _ in range(trips):
                    connection.sendall(b"x")
                    connection.recv(1)
                seconds = time.perf_counter() - started
        finally:
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
    return round(trips / seconds, 1)


def probe(repeats: int = REPEATS) -> dict:
    """{"seconds": fastest run of the compute workload, "runs": each run's seconds,
    "round_trips_per_s": loopback round trips per second (`round_trips_per_second`)}."""
    runs = []
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        _workload()
        runs.append(round(time.perf_counter() - started, 4))
    # The fastest run: what the machine can do now, less the moments something else ran.
    return {"seconds": min(runs), "runs": runs,
            "round_trips_per_s": round_trips_per_second()}


def cpu_ticks() -> Optional[tuple[int, int]]:
    """(all CPU ticks, steal ticks) from /proc/stat's first line, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(x) for x in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields[:8]), steal


def steal_share(before: Optional[tuple[int, int]], after: Optional[tuple[int, int]]) -> Optional[float]:
    """The share of CPU time stolen by the hypervisor between two `cpu_ticks()` readings."""
    if not before or not after or after[0] <= before[0]:
        return None
    return round((after[1] - before[1]) / (after[0] - before[0]), 4)


if __name__ == "__main__":
    print(probe())
