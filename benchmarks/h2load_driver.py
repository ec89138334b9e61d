"""nghttp2's h2load as serving_bench.py's load generator, for REST (HTTP/1.1) and gRPC
(HTTP/2).

h2load is a load generator written in C: one thread, keep-alive connections, each sending
its next request when the last is answered (`-m 1`), the request body read once from a
file. It takes a few hundredths of a millisecond of CPU per request, against 0.1 to 0.2 ms
for the bench's lean Python REST client and 0.4 to 0.9 ms for the official Python gRPC
stubs, and its clients do not queue behind one Python interpreter lock: what it measures
is the server.

A gRPC call is an HTTP/2 POST whose body is the serialized message behind a five-byte
prefix (a compression flag and the length). h2load judges answers by their HTTP status
alone, and a gRPC error still has status 200 (the error is in the trailers), so for the
prediction service the bench counts failures from the server's own counters instead
(`answered`): a request that did not reach the model or that failed in it is missing from
the versions' answered requests.

Per-request latencies come from h2load's `--log-file`: one tab-separated line per request,
its start (microseconds since the epoch), its HTTP status and its duration in microseconds.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
from pathlib import Path
from typing import Optional

INSTALL_HINT = "install it (Debian: apt-get install nghttp2-client) or pass --load-generator python"


def find() -> Optional[str]:
    return shutil.which("h2load")


def grpc_frame(message: bytes) -> bytes:
    """A gRPC message on the wire: uncompressed (0), its length (4 bytes, big-endian), itself."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def command(protocol: str, port: int, path: str, clients: int, total: int, body: Path,
            log: Path) -> list[str]:
    """The h2load command of one level: `clients` connections, one request at a time each."""
    args = [find() or "h2load", "-n", str(total), "-c", str(clients), "-m", "1", "-t", "1",
            "-d", str(body), f"--log-file={log}"]
    if protocol == "rest":
        args += ["--h1", "-H", "content-type: application/json"]
    else:
        args += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
    return args + [f"http://127.0.0.1:{port}{path}"]


def run(args: list[str], log: Path, timeout_s: float) -> tuple[str, str, float]:
    """(h2load's output, its log, its CPU seconds). h2load appends to its log: it is emptied."""
    log.write_text("")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"h2load failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout, log.read_text(), cpu


def summarize(output: str, log: str, total: int) -> dict:
    """requests (answered with a 2xx), http_failed (asked for but not answered with a 2xx),
    p50_ms, p99_ms and max_ms (the slowest) of every answered request, rps (h2load's own
    figure)."""
    durations, bad = [], 0
    for line in log.splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        if fields[1].startswith("2"):
            durations.append(int(fields[2]) / 1000.0)
        else:
            bad += 1
    durations.sort()
    rps = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", output)

    def pct(q):
        if not durations:
            return None
        return round(durations[max(0, int(len(durations) * q / 100 + 0.999999) - 1)], 2)

    return {"requests": len(durations), "http_failed": total - len(durations),
            "p50_ms": pct(50), "p99_ms": pct(99), "max_ms": pct(100),
            "rps": float(rps.group(1)) if rps else None, "non_2xx": bad}


def answered(stats_path: Path) -> Optional[tuple[int, int, float]]:
    """(requests, errors, when written) the server has counted over every version, from one
    reading of the stats file `mlops serve` writes (framework/release/stats.py); None before
    its first write."""
    try:
        snapshot = json.loads(stats_path.read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(snapshot, dict):
        return None
    versions = snapshot.get("versions", {}).values()
    return (sum(v.get("requests", 0) for v in versions),
            sum(v.get("errors", 0) for v in versions), float(snapshot.get("updated", 0)))
