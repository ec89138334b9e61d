"""Per-version serving figures, kept by the server, read by `release status`.

The server records every prediction here and a background thread writes a snapshot to a
small JSON object beside the registry state (whole, at most twice a second), so
`mlops release status` can show per version the requests, errors, latency, CPU, memory and
prediction scores, and the rollback policy's latest judgement of the canary, without talking
to the server.

What each figure measures:

- `p50_ms` / `p99_ms`: request latency in the server (parsing, the model call, the answer),
  over the version's latest 2,048 requests.
- `cpu_ms_mean` / `cpu_ms_p99`: CPU time of the model call per request, over the latest
  2,048 requests: the process's CPU while the call ran, which includes TensorFlow's own op
  threads and whatever else the process did meanwhile (framework/serving/batching.py
  `_timed`); a batched call's CPU is split by examples.
- `rss_mb`: the process's resident memory, sampled with each snapshot in which the version
  answered requests. It is one figure for the whole process: every loaded version, and the
  server itself, share it.
- `load_cost_mb`: how much the process's resident memory grew while the version loaded.
- `scores`: a histogram of the version's latest 4,096 prediction scores (the first numeric
  output, one score per example), over 20 equal bins of [0, 1] when production's scores all
  lie there, otherwise of production's observed range, plus a bin below and one above; the
  same bins for every version, so `drift` (Jensen-Shannon distance from production's
  histogram, framework/release/policy.py) compares like with like.
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from typing import Optional, Sequence

from framework.release.policy import (
    SCORE_BINS,
    histogram,
    js_distance,
    percentile,
    score_range,
)
from framework.storage import files

LATENCY_SAMPLES = 2048  # latencies and CPU times kept per version (the most recent)
SCORE_SAMPLES = 4096  # prediction scores kept per version, one per example (the most recent)
MB = float(1 << 20)

_process = None


def rss_mb() -> Optional[float]:
    """The process's resident memory (RSS) in MB, or None where it cannot be read."""
    global _process
    try:
        if _process is None:
            import psutil

            _process = psutil.Process()
        return _process.memory_info().rss / MB
    except Exception:  # noqa: BLE001 - a figure we cannot read is shown as '-'
        return None


def _round(value: Optional[float], digits: int = 2) -> Optional[float]:
    return None if value is None else round(value, digits)


class VersionStats:
    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.latencies_ms: collections.deque = collections.deque(maxlen=LATENCY_SAMPLES)
        self.cpu_ms: collections.deque = collections.deque(maxlen=LATENCY_SAMPLES)
        self.scores: collections.deque = collections.deque(maxlen=SCORE_SAMPLES)
        self.load: dict = {}  # load_cost_mb, rss_after_load_mb, loaded_at
        self.rss_mb: Optional[float] = None
        self.served = False  # answered requests since the last snapshot

    def copy(self) -> dict:
        """Its figures, copied under the stats lock (the snapshot's numbers come after)."""
        return {"requests": self.requests, "errors": self.errors,
                "latencies": list(self.latencies_ms), "cpu": list(self.cpu_ms),
                "scores": list(self.scores), "load": dict(self.load), "rss_mb": self.rss_mb}


def _figures(raw: dict, low: float, high: float, reference: Optional[list]) -> dict:
    lat, cpu, scores = raw["latencies"], raw["cpu"], raw["scores"]
    counts = histogram(scores, low, high) if scores else None
    drift = None
    if counts and reference is not None and reference is not scores:
        drift = round(js_distance(histogram(reference, low, high), counts), 3)
    return {
        "requests": raw["requests"],
        "errors": raw["errors"],
        "error_rate": round(raw["errors"] / raw["requests"], 4) if raw["requests"] else None,
        "p50_ms": round(percentile(lat, 50), 2) if lat else None,
        "p99_ms": round(percentile(lat, 99), 2) if lat else None,
        "cpu_ms_mean": round(sum(cpu) / len(cpu), 3) if cpu else None,
        "cpu_ms_p99": round(percentile(cpu, 99), 3) if cpu else None,
        "rss_mb": _round(raw["rss_mb"], 1),
        "load_cost_mb": _round(raw["load"].get("load_cost_mb"), 1),
        "rss_after_load_mb": _round(raw["load"].get("rss_after_load_mb"), 1),
        "loaded_at": raw["load"].get("loaded_at"),
        "scores": None if counts is None else {
            "count": len(scores), "range": [low, high], "bins": SCORE_BINS,
            "below": counts[0], "counts": counts[1:-1], "above": counts[-1]},
        "drift": drift,
    }


class ServingStats:
    def __init__(self, path: Optional[str] = None, interval_s: float = 0.5) -> None:
        self.path = os.fspath(path) if path else None  # a local path or gs://
        self.interval_s = interval_s
        self.started = time.time()
        self._lock = threading.Lock()
        self._versions: dict[str, VersionStats] = {}
        self._production: Optional[str] = None
        self._judgement: Optional[dict] = None
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def record(self, version: str, failed: bool, latency_ms: float,
               cpu_ms: Optional[float] = None, scores: Sequence[float] = (),
               production: Optional[str] = None) -> None:
        """One answered request: `cpu_ms` its share of the model call's CPU, `scores` its
        predictions (policy.prediction_scores of what the model returned); `production` the
        production version it was served beside."""
        with self._lock:
            stats = self._versions.setdefault(version, VersionStats())
            stats.requests += 1
            stats.errors += int(failed)
            stats.latencies_ms.append(latency_ms)
            if cpu_ms is not None:
                stats.cpu_ms.append(cpu_ms)
            stats.scores.extend(scores)
            stats.served = True
            if production:
                self._production = production
        self._dirty.set()

    def loaded(self, version: str, rss_before_mb: Optional[float],
               rss_after_mb: Optional[float]) -> None:
        """A version was loaded: the process's RSS before and after, in MB."""
        cost = (rss_after_mb - rss_before_mb
                if rss_before_mb is not None and rss_after_mb is not None else None)
        with self._lock:
            self._versions.setdefault(version, VersionStats()).load = {
                "load_cost_mb": cost, "rss_after_load_mb": rss_after_mb,
                "loaded_at": time.time()}
        self._dirty.set()

    def load_cost_mb(self, version: str) -> Optional[float]:
        with self._lock:
            stats = self._versions.get(version)
            return stats.load.get("load_cost_mb") if stats else None

    def judged(self, judgement: dict) -> None:
        """The rollback policy's latest judgement of the canary (its checks and limits)."""
        with self._lock:
            self._judgement = judgement
        self._dirty.set()

    def snapshot(self) -> dict:
        rss = rss_mb()
        with self._lock:
            for stats in self._versions.values():
                if stats.served:
                    stats.rss_mb, stats.served = rss, False
            raw = {v: s.copy() for v, s in self._versions.items()}
            production, judgement = self._production, self._judgement
        reference = raw[production]["scores"] if production in raw else None
        low, high = score_range(reference or [])
        versions = {v: _figures(r, low, high, reference if reference else None)
                    for v, r in raw.items()}
        return {"pid": os.getpid(), "started": self.started, "updated": time.time(),
                "rss_mb": _round(rss, 1), "production": production, "versions": versions,
                "policy": judgement}

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
