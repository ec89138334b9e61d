"""The Continuous training page: every decision CT recorded, fired or not, with the evidence
of each trigger and the run it started (framework/ct/history.py is the store)."""

from __future__ import annotations

import time
from typing import Optional

from framework.ui.runs import trigger_label
from framework.ui.source import Source

PER_PAGE = 20
REMOTE_TTL_S = 10.0  # a gs:// history is listed again after this long


def decisions(source: Source) -> list[dict]:
    """Every recorded decision, oldest first; read again when the history changed."""
    from framework.ct import history
    from framework.storage import files

    settings = source.settings
    if files.is_remote(history.state_dir(settings)):
        signature: object = int(time.monotonic() // REMOTE_TTL_S)
    else:
        signature = files.signature(history.history_file(settings))
    key = ("ct-history", history.state_dir(settings))
    cached = source.memo.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1]
    records = history.read(settings)
    source.memo.put(key, (signature, records))
    return records


def _evidence_table(evidence: list) -> dict:
    """{columns, rows} of a trigger's evidence dicts (file lists left out)."""
    rows = [e for e in evidence if isinstance(e, dict)]
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and k != "files"]
    first = ("feature", "statistic", "value", "threshold", "metric", "span")
    columns.sort(key=lambda c: (first.index(c) if c in first else len(first), c))
    return {"columns": columns, "rows": [[_cell(row.get(c)) for c in columns] for row in rows]}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def decision_view(record: dict) -> dict:
    triggers = []
    for t in record.get("triggers") or []:
        triggers.append({"name": t.get("name", "?"), "fired": bool(t.get("fired")),
                         "reason": t.get("reason", ""), "error": t.get("error"),
                         "evidence": _evidence_table(t.get("evidence") or [])})
    fired = record.get("fired") or [t["name"] for t in triggers if t["fired"]]
    run = record.get("run") or None
    return {"time": record.get("time", ""), "command": record.get("command", ""),
            "env": record.get("env", ""), "pipeline": record.get("pipeline", ""),
            "action": record.get("action", "none"), "reason": record.get("reason", ""),
            "fired": fired, "label": trigger_label(fired, record.get("command", ""))
            if record.get("action") == "run" else "", "triggers": triggers, "run": run,
            "process": record.get("process", "")}


def drift_points(records: list[dict]) -> list[dict]:
    """The largest drift (against its threshold) of each decision that measured drift."""
    points = []
    for record in records:
        for t in record.get("triggers") or []:
            measured = [e for e in t.get("evidence") or [] if isinstance(e, dict)
                        and {"feature", "value", "threshold"} <= e.keys()]
            if t.get("name") == "drift" and measured:
                top = max(measured, key=lambda e: e["value"] - e["threshold"])
                points.append({"time": record.get("time", ""), "feature": top["feature"],
                               "value": top["value"], "threshold": top["threshold"],
                               "fired": bool(t.get("fired"))})
    return points


def ct_page(source: Source, page: int = 1, fired_only: bool = False,
            per_page: int = PER_PAGE, records: Optional[list] = None) -> dict:
    """The page's data: decisions newest first, a page at a time; counts; the drift chart."""
    from framework.ct import history
    from framework.ct.triggers import enabled_triggers
    from framework.ui import charts

    settings = source.settings
    records = decisions(source) if records is None else records
    records = [r for r in records if r.get("pipeline", source.pipeline) == source.pipeline]
    counts = {"decisions": len(records),
              "fired": sum(1 for r in records if r.get("fired")),
              "runs": sum(1 for r in records if r.get("action") == "run"),
              "skipped": sum(1 for r in records if r.get("action") == "skipped")}
    shown = [r for r in reversed(records) if r.get("fired") or not fired_only]
    pages = max(1, -(-len(shown) // per_page))
    page = min(max(1, page), pages)
    drift = settings.ct.drift
    return {"pipeline": source.pipeline, "where": history.state_dir(settings),
            "enabled": enabled_triggers(settings), "counts": counts, "fired_only": fired_only,
            "page": page, "pages": pages, "matching": len(shown),
            "decisions": [decision_view(r) for r in shown[(page - 1) * per_page:
                                                          page * per_page]],
            "thresholds": {"default": drift.default_threshold, **drift.thresholds},
            "drift_chart": charts.drift_history(drift_points(records))}
