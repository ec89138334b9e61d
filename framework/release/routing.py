"""Which version answers a request: a weighted split, optionally sticky by a header value.

Without a sticky key the split is deterministic error diffusion: of the first n requests
under a split, the canary gets exactly floor(n * percent / 100), so the share is right at any
sample size, not only on average. With a sticky key (e.g. a session id) the key's hash picks a
bucket, so one caller always lands on the same version while the split stays the same.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Optional


class TrafficSplitter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._split: tuple = ()
        self._count = 0

    def choose(self, traffic: dict[str, int], sticky_key: Optional[str] = None) -> str:
        """The version for one request; `traffic` maps version to percent (sums to 100)."""
        if not traffic:
            raise LookupError("no version is serving")
        # Largest share first; the others are "minor" versions (in practice: one canary).
        ordered = sorted(traffic, key=lambda v: (-traffic[v], v))
        if len(ordered) == 1:
            return ordered[0]
        if sticky_key is not None:
            digest = hashlib.sha256(sticky_key.encode("utf-8", "replace")).digest()
            point = int.from_bytes(digest[:8], "big") % 10000  # in hundredths of a percent
        else:
            split = tuple(sorted(traffic.items()))
            with self._lock:
                if split != self._split:  # a new split starts counting afresh
                    self._split, self._count = split, 0
                n = self._count
                self._count += 1
            for version in ordered[1:]:
                p = traffic[version]
                # Request n goes to this version when its running share crosses an integer.
                if (n + 1) * p // 100 > n * p // 100:
                    return version
            return ordered[0]
        cumulative = 0
        for version in reversed(ordered):
            cumulative += traffic[version] * 100
            if point < cumulative:
                return version
        return ordered[0]
