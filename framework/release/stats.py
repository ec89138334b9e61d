"""Per-version request counters and latency, kept by the server, read by `release status`.

The server records every prediction here and a background thread writes a snapshot to a
small JSON object beside the registry state (whole, at most twice a second), so
`mlops release status` can show requests, errors, p50 and p99 per version without talking
to the server.
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from typing import Optional

from framework.release.policy import percentile
from framework.storage import files

LATENCY_SAMPLES = 2048  # latencies kept per version for the percentiles (the most recent)


class VersionStats:
    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latencies_ms: collections.deque = collections.deque(maxlen=LATENCY_SAMPLES)

    def snapshot(self) -> dict:
        lat = list(self.latencies_ms)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(percentile(lat, 50), 2) if lat else None,
            "p99_ms": round(percentile(lat, 99), 2) if lat else None,
        }


class ServingStats:
    def __init__(self, path: Optional[str] = None, interval_s: float = 0.5) -> None:
        self.path = os.fspath(path) if path else None  # a local path or gs://
        self.interval_s = interval_s
        self.started = time.time()
        self._lock = threading.Lock()
        self._versions: dict[str, VersionStats] = {}
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def record(self, version: str, failed: bool, latency_ms: float) -> None:
        with self._lock:
            stats = self._versions.setdefault(version, VersionStats())
            stats.requests += 1
            stats.errors += int(failed)
            stats.latencies_ms.append(latency_ms)
        self._dirty.set()

    def snapshot(self) -> dict:
        with self._lock:
            versions = {v: s.snapshot() for v, s in self._versions.items()}
        return {"pid": os.getpid(), "started": self.started, "updated": time.time(),
                "versions": versions}

    # -- the file, for `mlops release status` -----------------------------------------------

    def start_writer(self) -> None:
        if self.path is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="stats-writer", daemon=True)
        self._thread.start()

    def stop_writer(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.write()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self._dirty.is_set():
                self._dirty.clear()
                self.write()

    def write(self) -> None:
        if self.path is None:
            return
        files.write_text(self.path, json.dumps(self.snapshot(), indent=2))


def read_stats(path: str) -> Optional[dict]:
    try:
        return json.loads(files.read_text(os.fspath(path)) or "null")
    except ValueError:
        return None
