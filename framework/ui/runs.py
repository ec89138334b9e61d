"""The Runs page: every run of a pipeline with its status, start, duration, trigger, and what
ran and what came from the cache; filtered by pipeline and status, a page at a time.

Queries: the pipeline's run contexts (one), the executions not complete or cached (one, for
the status of every run and the counts), then the executions of the runs on the page only.
"""

from __future__ import annotations

from typing import Optional

from framework.ui.source import (
    CANCELED,
    FAILED,
    NEW,
    RUNNING,
    STATE_NAMES,
    Problem,
    Source,
    duration,
    properties,
    stamp,
)

STATUSES = ("succeeded", "failed", "running", "canceled")
PER_PAGE = 25
TRIGGER_LABELS = {"new_data": "new data", "drift": "drift", "decay": "decay",
                  "schedule": "schedule"}


def status_of(states: list[int]) -> str:
    """A run's status from its executions' states: failed before running before canceled;
    a run with no execution yet has just started."""
    if not states:
        return "running"
    if FAILED in states:
        return "failed"
    if RUNNING in states or NEW in states:
        return "running"
    if CANCELED in states:
        return "canceled"
    return "succeeded"


def trigger_label(fired: list[str], command: str = "") -> str:
    """'drift + new data' from the fired triggers of a CT decision; 'forced' without any."""
    names = [TRIGGER_LABELS.get(name, name) for name in fired]
    if not names:
        return "manual (ct --force)" if command != "event" else "event"
    return " + ".join(dict.fromkeys(names))


def ct_triggers(records: list[dict], pipeline: str) -> dict[str, str]:
    """{run id: trigger} of the runs CT started, from its decision history."""
    out = {}
    for record in records:
        run = record.get("run") or {}
        if record.get("action") == "run" and run.get("run_id") and \
                record.get("pipeline", pipeline) == pipeline:
            out[run["run_id"]] = trigger_label(record.get("fired") or [], record.get("command", ""))
    return out


def trigger_of(run_properties: dict, run_id: str, ct_runs: dict[str, str]) -> str:
    """Why a run ran: a trigger recorded on the run's context (an orchestrator's label, a CI
    commit), else the CT decision that started it, else by hand."""
    recorded = run_properties.get("trigger")
    if recorded:
        return str(recorded)
    commit = run_properties.get("commit") or run_properties.get("ci_commit") or \
        run_properties.get("git_commit")
    if commit:
        return f"CI commit {str(commit)[:7]}"
    return ct_runs.get(run_id, "manual")


def summarize(source: Source, pipeline: str, run, executions: list,
              ct_runs: dict[str, str]) -> dict:
    """One row of the Runs page."""
    states = [e.last_known_state for e in executions]
    starts = [e.create_time_since_epoch for e in executions if e.create_time_since_epoch]
    ends = [e.last_update_time_since_epoch for e in executions if e.last_update_time_since_epoch]
    start = min(starts) if starts else run.create_time_since_epoch
    end = max(ends) if ends else None
    status = status_of(states)
    by_state: dict[str, list[str]] = {}
    for execution in executions:
        name = STATE_NAMES.get(execution.last_known_state, "unknown")
        by_state.setdefault(name, []).append(source.node_of(pipeline, execution))
    return {
        "run_id": run.name,
        "pipeline": pipeline,
        "status": status,
        "start": stamp(start),
        "end": stamp(end) if status != "running" else "",
        "seconds": round((end - start) / 1000, 1) if end and start else None,
        "duration": duration((end - start) / 1000) if end and start else "",
        "trigger": trigger_of(properties(run), run.name, ct_runs),
        "ran": by_state.get("complete", []),
        "cached": by_state.get("cached", []),
        "failed": by_state.get("failed", []),
        "running": by_state.get("running", []) + by_state.get("new", []),
        "canceled": by_state.get("canceled", []),
        "executions": len(executions),
    }


def run_statuses(source: Source, pipeline: str) -> dict[str, str]:
    """{run id: status} of every run that did not succeed (one query, then the run of each
    such execution, cached)."""
    worst: dict[str, list[int]] = {}
    for execution in source.executions_in_states(pipeline, (FAILED, RUNNING, NEW, CANCELED)):
        for run in source.runs_of_execution(execution.id):
            worst.setdefault(run, []).append(execution.last_known_state)
    return {run: status_of(states) for run, states in worst.items()}


def runs_page(source: Source, pipeline: Optional[str] = None, status: Optional[str] = None,
              page: int = 1, per_page: int = PER_PAGE, ct_records: Optional[list] = None) -> dict:
    """The Runs page's data: the rows of one page, the counts per status, the pipelines."""
    pipeline = pipeline or source.pipeline
    if status and status not in STATUSES:
        raise Problem(f"unknown status '{status}' (one of: {', '.join(STATUSES)})", status=400)
    pipelines = source.pipelines()
    source.require_pipeline(pipeline)
    runs = source.run_contexts(pipeline)
    statuses = run_statuses(source, pipeline)
    for run in runs:  # a run with no execution yet is not in `statuses`: it has just started
        statuses.setdefault(run.name, "succeeded")
    counts = {name: 0 for name in STATUSES}
    for run in runs:
        counts[statuses[run.name]] = counts.get(statuses[run.name], 0) + 1
    if status:
        runs = [r for r in runs if statuses[r.name] == status]
    pages = max(1, -(-len(runs) // per_page))
    page = min(max(1, page), pages)
    shown = runs[(page - 1) * per_page: page * per_page]
    ct_runs = ct_triggers(ct_records or [], pipeline)
    rows = [summarize(source, pipeline, run, source.executions_of_run(run), ct_runs)
            for run in shown]
    return {"pipeline": pipeline, "pipelines": pipelines, "status": status or "",
            "statuses": STATUSES, "counts": counts, "total": sum(counts.values()),
            "matching": len(runs), "page": page, "pages": pages, "per_page": per_page,
            "runs": rows}
