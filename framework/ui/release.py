"""The Release page: versions, stages and the traffic split (the registry, read and never
synced: the dashboard writes nothing), the canary's counters from the server's statistics
file against the rollback policy's limits, and promotions and rollbacks over time."""

from __future__ import annotations

import time
from typing import Optional

from framework.ui import charts
from framework.ui.source import Problem, Source

HISTORY_SHOWN = 100
KNOWN_STATS = ("requests", "errors", "error_rate", "p50_ms", "p99_ms")


def _extra_figures(stats: dict) -> dict:
    """Figures a server wrote beyond the known ones (newer servers add some): scalars only."""
    return {k: v for k, v in sorted(stats.items())
            if k not in KNOWN_STATS and isinstance(v, (int, float, str, bool)) and v is not None}


def version_rows(state, per_version: dict, discovered: dict[str, str]) -> list[dict]:
    from framework.release.registry import sort_versions

    traffic = state.traffic()
    rows = []
    for version in reversed(sort_versions(set(state.versions) | set(discovered))):
        info = state.versions.get(version)
        stats = per_version.get(version) or {}
        requests, errors = stats.get("requests"), stats.get("errors")
        rows.append({
            "version": version,
            "stage": info.get("stage", "?") if info else "candidate",
            "registered": info is not None,
            "traffic": traffic.get(version),
            "requests": requests, "errors": errors,
            "error_rate": errors / requests if isinstance(requests, (int, float)) and requests
            and isinstance(errors, (int, float)) else None,
            "p50_ms": stats.get("p50_ms"), "p99_ms": stats.get("p99_ms"),
            "extra": _extra_figures(stats),
            "missing": bool(info and info.get("missing")),
            "rolled_back": (info or {}).get("rolled_back"),
            "discovered": (info or {}).get("discovered"),
            "path": (info or {}).get("path") or discovered.get(version),
        })
    return rows


def canary_view(state, per_version: dict, policy) -> Optional[dict]:
    """The canary's counters against the automatic rollback's limits."""
    if not state.canary:
        return None
    stats = per_version.get(state.canary) or {}
    requests, errors, p99 = stats.get("requests"), stats.get("errors"), stats.get("p99_ms")
    rate = errors / requests if requests and errors is not None else None
    return {
        "version": state.canary, "percent": state.canary_percent, "production": state.production,
        "requests": requests, "errors": errors, "error_rate": rate, "p99_ms": p99,
        "window": policy.window, "enabled": policy.enabled,
        "max_error_rate": policy.max_error_rate, "max_p99_ms": policy.max_p99_ms,
        "error_rate_over": rate is not None and rate > policy.max_error_rate,
        "p99_over": p99 is not None and p99 > policy.max_p99_ms,
        "judged": bool(requests) and requests >= policy.window,
    }


def release_page(source: Source, now: Optional[float] = None) -> dict:
    from framework.core.errors import UserError
    from framework.release.policy import RollbackPolicy
    from framework.release.registry import Registry, discover_versions, stats_path_for
    from framework.release.stats import read_stats

    settings = source.settings
    registry = Registry.from_settings(settings)
    problems = []
    try:
        state = registry.read()
    except UserError as exc:
        raise Problem(str(exc)) from None
    try:
        discovered = discover_versions(settings.pipeline.serving_dir)
    except UserError as exc:
        discovered = {}
        problems.append(f"the serving folder cannot be listed: {exc}")
    stats_path = stats_path_for(registry.state_path)
    try:
        stats = read_stats(stats_path)
    except UserError as exc:
        stats = None
        problems.append(f"the serving statistics cannot be read: {exc}")
    stats = stats if isinstance(stats, dict) else None
    per_version = (stats or {}).get("versions") or {}
    policy = RollbackPolicy.from_settings(settings.release.rollback)
    now = time.time() if now is None else now
    history = list(state.history)
    return {
        "model": state.model_name or registry.model_name,
        "state_path": registry.state_path, "serving_dir": settings.pipeline.serving_dir,
        "revision": state.revision, "production": state.production, "canary": state.canary,
        "canary_percent": state.canary_percent, "last_good": state.last_good,
        "traffic": state.traffic(), "registered": bool(state.versions),
        "versions": version_rows(state, per_version, discovered),
        "unregistered": sorted(set(discovered) - set(state.versions), key=lambda v: (len(v), v)),
        "canary_view": canary_view(state, per_version, policy),
        "policy": {"window": policy.window, "max_error_rate": policy.max_error_rate,
                   "max_p99_ms": policy.max_p99_ms, "enabled": policy.enabled},
        "stats": {"path": stats_path, "pid": stats.get("pid"),
                  "updated_ago_s": round(now - stats["updated"], 1)
                  if isinstance(stats.get("updated"), (int, float)) else None,
                  "started": stats.get("started"),
                  "extra": _extra_figures({k: v for k, v in stats.items()
                                           if k not in ("pid", "started", "updated")})}
        if stats else {"path": stats_path},
        "history": [dict(h, traffic_text=" / ".join(f"{v}: {p}%" for v, p in
                                                    (h.get("traffic") or {}).items()) or "-")
                    for h in reversed(history[-HISTORY_SHOWN:])],
        "history_total": len(history),
        "chart": charts.traffic(history),
        "problems": problems,
    }
