"""How fast this machine is right now: a fixed CPU workload, timed, and the share of CPU time
the hypervisor took away (steal), between two points.

A virtual machine's speed moves with what else its host runs: the same prediction server on
the same machine answered 2,341 requests/s one hour and 689 the next. Benchmarks record the
probe before each measurement, so two figures are compared only when the machine was equally
fast for both, and a slow figure can be told apart from a slow machine.
"""

from __future__ import annotations

import statistics
import time
import zlib
from typing import Optional

REPEATS = 5


def _workload() -> int:
    """About 0.2 s of Python and C work on a fast core: dict and string operations (what
    Beam's and the servers' Python does) and zlib (C code over a buffer)."""
    counts: dict[str, int] = {}
    for i in range(300_000):
        key = "k" + str(i % 997)
        counts[key] = counts.get(key, 0) + i
    blob = repr(sorted(counts.items())).encode() * 40
    return len(zlib.compress(blob, 6)) + len(counts)


def probe(repeats: int = REPEATS) -> dict:
    """{"seconds": median seconds of the workload, "runs": each run's seconds}."""
    runs = []
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        _workload()
        runs.append(round(time.perf_counter() - started, 4))
    return {"seconds": round(statistics.median(runs), 4), "runs": runs}


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
