"""The automatic rollback rule: judge the canary over its last N requests.

Each rule is one function that returns a `Check`: the figure it judged, its limit, and the
verdict line when the limit is crossed. Error rate and p99 latency are the canary's own
figures over its last `window` requests, judged once it has that many. CPU, memory and
prediction drift compare the canary with production and are judged once both have `window`
requests since the canary went out: CPU a request as the mean since then (of requests
measured alone), memory as the canary's load cost and the growth since it went out, drift
over the last `drift_examples` scores of each.

Prediction drift is the Jensen-Shannon distance (base 2, 0 = same, 1 = disjoint) between
histograms of the two versions' scores: 20 equal bins over [0, 1] when production's scores
all lie there (probabilities), otherwise over production's observed range; scores outside
the range go to a bin below and a bin above it, so a canary whose scores leave production's
range counts as different rather than being folded into the edge bins.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import NamedTuple, Optional, Sequence

SCORE_BINS = 20  # equal bins of a score histogram, plus one below and one above the range


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return float(ordered[int(rank) - 1])


# -- prediction scores and their distance ----------------------------------------------------

def prediction_scores(outputs: Optional[dict]) -> list[float]:
    """One score per example: the first value of each example's row in the first numeric
    output (outputs in name order, as the model returns them; a string output such as class
    names is skipped)."""
    for value in (outputs or {}).values():
        kind = getattr(getattr(value, "dtype", None), "kind", "")
        if kind and kind in "fiub" and getattr(value, "ndim", 0) >= 1 and value.size:
            return value.reshape(len(value), -1)[:, 0].astype(float).tolist()
    return []


def _array(scores):
    import numpy as np

    if isinstance(scores, np.ndarray):
        return scores.astype(float, copy=False)
    return np.fromiter(scores, dtype=float, count=len(scores))


def score_range(reference: Sequence[float]) -> tuple[float, float]:
    """The histogram's range: [0, 1] when every reference (production) score lies in it,
    otherwise the reference's observed range (widened by 0.5 either way if it is a point)."""
    import numpy as np

    values = _array(reference)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if low >= 0.0 and high <= 1.0:
        return 0.0, 1.0
    return (low - 0.5, high + 0.5) if low == high else (low, high)


def histogram(scores: Sequence[float], low: float, high: float,
              bins: int = SCORE_BINS) -> list[int]:
    """Counts of [below low, `bins` equal bins over [low, high], above high]; a NaN score
    counts above."""
    import numpy as np

    values = _array(scores)
    below = values < low
    inside = (values >= low) & (values <= high)
    index = np.minimum(((values[inside] - low) * (bins / (high - low))).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    n_below, n_inside = int(below.sum()), int(inside.sum())
    return [n_below, *counts.tolist(), len(values) - n_below - n_inside]


def js_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon distance, base 2, between two histograms over the same bins: the
    square root of the divergence, 0 for the same shape, 1 for no overlap at all."""
    total_p, total_q = float(sum(p)), float(sum(q))
    if total_p <= 0 or total_q <= 0:
        return 0.0
    divergence = 0.0
    for a, b in zip(p, q):
        a, b = a / total_p, b / total_q
        m = (a + b) / 2
        if a > 0:
            divergence += 0.5 * a * math.log2(a / m)
        if b > 0:
            divergence += 0.5 * b * math.log2(b / m)
    return min(1.0, math.sqrt(max(0.0, divergence)))


def drift(production: Sequence[float], canary: Sequence[float]) -> float:
    """The JS distance between the canary's and production's score histograms, binned over
    production's range (`score_range`)."""
    production, canary = _array(production), _array(canary)
    low, high = score_range(production)
    return js_distance(histogram(production, low, high), histogram(canary, low, high))


# -- what the policy judges ------------------------------------------------------------------

class Outcome(NamedTuple):
    """One answered request of a version."""

    failed: bool
    latency_ms: float
    # The CPU of the model call that answered it alone (framework/serving/batching.py);
    # None when it shared a batched call or none was made.
    cpu_ms: Optional[float] = None


class Memory(NamedTuple):
    """The canary's memory figures, in MB of the process's resident memory (RSS)."""

    load_cost_mb: Optional[float]  # RSS growth across the canary's load, measured then
    growth_mb: Optional[float]  # RSS growth since the canary began taking traffic
    rss_mb: Optional[float] = None  # the process's RSS now


class Window:
    """The requests a canary is judged on, all since it went out: the last `size` requests
    of the canary and of production, the last `scores` prediction scores of each, and the
    CPU of each one's requests so far (sum and count of those with a CPU figure)."""

    def __init__(self, size: int, scores: int = 500, rss_mb: Optional[float] = None) -> None:
        self.size = max(1, size)
        self.canary: collections.deque = collections.deque(maxlen=self.size)
        self.production: collections.deque = collections.deque(maxlen=self.size)
        self.canary_scores: collections.deque = collections.deque(maxlen=max(1, scores))
        self.production_scores: collections.deque = collections.deque(maxlen=max(1, scores))
        self.cpu = {True: [0.0, 0], False: [0.0, 0]}  # canary or not: [ms, requests]
        self.rss_start_mb = rss_mb  # the process's RSS when the canary began taking traffic
        self.scores_added = 0
        self.drift_at: Optional[tuple] = None  # (scores_added, distance, range) last time

    @classmethod
    def of(cls, canary: Sequence, production: Sequence = (), size: Optional[int] = None,
           canary_scores: Sequence[float] = (), production_scores: Sequence[float] = (),
           scores: int = 500) -> "Window":
        """A window holding these outcomes, (failed, latency_ms[, cpu_ms]) oldest first."""
        window = cls(size or max(len(canary), len(production), 1), scores)
        for is_canary, outcomes in ((True, canary), (False, production)):
            for outcome in outcomes:
                window.add(is_canary, Outcome(*outcome))
        window.canary_scores.extend(canary_scores)
        window.production_scores.extend(production_scores)
        window.scores_added += len(canary_scores) + len(production_scores)
        return window

    def add(self, canary: bool, outcome: Outcome, scores: Sequence[float] = ()) -> None:
        (self.canary if canary else self.production).append(outcome)
        (self.canary_scores if canary else self.production_scores).extend(scores)
        self.scores_added += len(scores)
        if outcome.cpu_ms is not None:
            self.cpu[canary][0] += outcome.cpu_ms
            self.cpu[canary][1] += 1

    def mean_cpu(self, canary: bool) -> tuple[Optional[float], int]:
        """(mean CPU ms a request, requests measured) since the canary went out."""
        total, count = self.cpu[canary]
        return (total / count if count else None), count

    def both_full(self) -> bool:
        return len(self.canary) >= self.size and len(self.production) >= self.size

    def drift(self) -> tuple[float, tuple[float, float]]:
        """(`drift`, its histogram range) of the scores held, computed again only once a
        fiftieth of them are new (0.05 ms each time for 500 and 500: not every request)."""
        step = max(1, self.canary_scores.maxlen // 50)
        if self.drift_at is None or self.scores_added - self.drift_at[0] >= step:
            production = _array(self.production_scores)
            self.drift_at = (self.scores_added, drift(production, self.canary_scores),
                             score_range(production))
        return self.drift_at[1], self.drift_at[2]


@dataclass(frozen=True)
class Check:
    """One rule's figures: `value` is what is held against `limit` (None: not judged yet;
    limit None: the rule is off); `figures` are the numbers behind it, for `release status`."""

    rule: str
    value: Optional[float]
    limit: Optional[float]
    figures: dict = field(default_factory=dict)
    reason: Optional[str] = None  # the verdict line when the limit is crossed

    @property
    def crossed(self) -> bool:
        return self.reason is not None

    def to_dict(self) -> dict:
        return {"rule": self.rule, "value": self.value, "limit": self.limit,
                "crossed": self.crossed, "reason": self.reason, **self.figures}


def _off(limit: Optional[float]) -> bool:
    return not limit or limit <= 0


@dataclass(frozen=True)
class RollbackPolicy:
    window: int = 50
    max_error_rate: float = 0.05
    max_p99_ms: float = 1000.0
    max_cpu_ratio: Optional[float] = 2.0
    max_memory_growth_mb: Optional[float] = 1024.0
    max_prediction_drift: Optional[float] = 0.3
    drift_examples: int = 500
    enabled: bool = True

    @classmethod
    def from_settings(cls, section) -> "RollbackPolicy":
        return cls(window=max(1, section.window), max_error_rate=section.max_error_rate,
                   max_p99_ms=section.max_p99_ms, max_cpu_ratio=section.max_cpu_ratio,
                   max_memory_growth_mb=section.max_memory_growth_mb,
                   max_prediction_drift=section.max_prediction_drift,
                   drift_examples=max(1, section.drift_examples), enabled=section.enabled)

    def new_window(self, rss_mb: Optional[float] = None) -> Window:
        return Window(self.window, self.drift_examples, rss_mb)

    def limits(self) -> dict:
        return {"window": self.window, "max_error_rate": self.max_error_rate,
                "max_p99_ms": self.max_p99_ms, "max_cpu_ratio": self.max_cpu_ratio,
                "max_memory_growth_mb": self.max_memory_growth_mb,
                "max_prediction_drift": self.max_prediction_drift,
                "drift_examples": self.drift_examples, "enabled": self.enabled}

    def verdict(self, window, memory: Optional[Memory] = None) -> Optional[str]:
        """None while the canary is fine (or not yet judged); else why it must go. `window`
        is a `Window`, or the canary's outcomes (failed, latency_ms[, cpu_ms]), oldest
        first."""
        if not self.enabled:
            return None
        return next((c.reason for c in self.checks(window, memory) if c.crossed), None)

    def checks(self, window, memory: Optional[Memory] = None) -> list[Check]:
        """Every rule's figures, in the order they are judged."""
        if not isinstance(window, Window):
            window = Window.of(window, size=self.window)
        return [self._error_rate(window), self._p99(window), self._cpu(window),
                self._memory(window, memory), self._drift(window)]

    # -- the rules ---------------------------------------------------------------------------

    def _recent(self, outcomes) -> list[Outcome]:
        return list(outcomes)[-self.window:] if len(outcomes) >= self.window else []

    def _error_rate(self, window: Window) -> Check:
        recent = self._recent(window.canary)
        if not recent:
            return Check("error_rate", None, self.max_error_rate)
        errors = sum(1 for o in recent if o.failed)
        rate = errors / len(recent)
        figures = {"canary_errors": errors, "canary_requests": len(recent),
                   "production_errors": sum(1 for o in window.production if o.failed),
                   "production_requests": len(window.production)}
        reason = None
        if rate > self.max_error_rate:
            reason = (f"error rate {rate:.0%} ({errors} of the last {len(recent)} canary "
                      f"requests) is above {self.max_error_rate:.0%}")
        return Check("error_rate", rate, self.max_error_rate, figures, reason)

    def _p99(self, window: Window) -> Check:
        recent = self._recent(window.canary)
        if not recent:
            return Check("p99_ms", None, self.max_p99_ms)
        p99 = percentile([o.latency_ms for o in recent], 99)
        figures = {"production_ms": percentile([o.latency_ms for o in window.production], 99)
                   if window.production else None}
        reason = None
        if p99 > self.max_p99_ms:
            reason = (f"p99 latency {p99:.0f} ms over the last {len(recent)} canary requests "
                      f"is above {self.max_p99_ms:.0f} ms")
        return Check("p99_ms", p99, self.max_p99_ms, figures, reason)

    def _cpu(self, window: Window) -> Check:
        """Mean CPU a request since the canary went out (model cost does not drift, and a
        mean over everything so far is steadier than one over the last `window`), of the
        requests measured alone: a request that shared a batched call was charged a share
        that depends on how many others joined it, which depends on the version's share of
        the traffic, not on its model. Needs `window` requests of each, half of them
        measured."""
        limit = None if _off(self.max_cpu_ratio) else self.max_cpu_ratio
        (canary, canary_n), (production, production_n) = (window.mean_cpu(True),
                                                          window.mean_cpu(False))
        figures = {"canary_ms": canary, "production_ms": production,
                   "canary_measured": canary_n, "production_measured": production_n}
        enough = max(1, self.window // 2)
        if not window.both_full() or min(canary_n, production_n) < enough or not production:
            return Check("cpu_ratio", None, limit, figures)
        ratio = canary / production
        reason = None
        if limit is not None and ratio > limit:
            reason = (f"CPU {canary:.2f} ms per request (mean of {canary_n} canary requests) "
                      f"is {ratio:.1f}x production's {production:.2f} ms, above {limit:g}x")
        return Check("cpu_ratio", ratio, limit, figures, reason)

    def _memory(self, window: Window, memory: Optional[Memory]) -> Check:
        limit = None if _off(self.max_memory_growth_mb) else self.max_memory_growth_mb
        known = [m for m in (memory or Memory(None, None))[:2] if m is not None]
        if not window.both_full() or not known:
            return Check("memory_mb", None, limit)
        load, growth = memory.load_cost_mb, memory.growth_mb
        figures = {"load_cost_mb": load, "growth_mb": growth, "rss_mb": memory.rss_mb}
        reason = None
        if limit is not None and load is not None and load > limit:
            reason = f"canary load cost {load:.0f} MB of resident memory is above {limit:g} MB"
        elif limit is not None and growth is not None and growth > limit:
            reason = (f"resident memory grew {growth:.0f} MB since the canary began taking "
                      f"traffic, above {limit:g} MB")
        return Check("memory_mb", max(known), limit, figures, reason)

    def _drift(self, window: Window) -> Check:
        limit = None if _off(self.max_prediction_drift) else self.max_prediction_drift
        canary, production = window.canary_scores, window.production_scores
        if (not window.both_full() or len(canary) < self.drift_examples
                or len(production) < self.drift_examples):
            return Check("drift", None, limit)
        distance, (low, high) = window.drift()
        figures = {"canary_scores": len(canary), "production_scores": len(production),
                   "range": [low, high]}
        reason = None
        if limit is not None and distance > limit:
            reason = (f"prediction drift {distance:.2f} (Jensen-Shannon distance of the last "
                      f"{len(canary)} canary scores from production's) is above {limit:g}")
        return Check("drift", distance, limit, figures, reason)
