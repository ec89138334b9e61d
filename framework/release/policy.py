"""The automatic rollback rule: judge the canary over its last N requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return float(ordered[int(rank) - 1])


@dataclass(frozen=True)
class RollbackPolicy:
    window: int = 50
    max_error_rate: float = 0.05
    max_p99_ms: float = 1000.0
    enabled: bool = True

    @classmethod
    def from_settings(cls, section) -> "RollbackPolicy":
        return cls(window=max(1, section.window), max_error_rate=section.max_error_rate,
                   max_p99_ms=section.max_p99_ms, enabled=section.enabled)

    def verdict(self, outcomes: Sequence[tuple[bool, float]]) -> Optional[str]:
        """None while the canary is fine (or has fewer than `window` requests); else why it
        must go. `outcomes` are (failed, latency_ms) of the canary's requests, oldest first."""
        if not self.enabled or len(outcomes) < self.window:
            return None
        recent = list(outcomes)[-self.window:]
        errors = sum(1 for failed, _ in recent if failed)
        rate = errors / len(recent)
        if rate > self.max_error_rate:
            return (f"error rate {rate:.0%} ({errors} of the last {len(recent)} canary requests)"
                    f" is above {self.max_error_rate:.0%}")
        p99 = percentile([ms for _, ms in recent], 99)
        if p99 > self.max_p99_ms:
            return (f"p99 latency {p99:.0f} ms over the last {len(recent)} canary requests "
                    f"is above {self.max_p99_ms:.0f} ms")
        return None
