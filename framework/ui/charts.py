"""Figures for plotly.js, as plain dicts ({"data": [...], "layout": {...}}).

The page hands each one to Plotly.newPlot in the browser (static/ui.js); plotly.js itself is
served from the installed `plotly` package. No figure needs the Python plotly package.
"""

from __future__ import annotations

from typing import Optional

from framework.ui.dag import STATE_COLOURS

FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}


def _layout(height: int, **extra) -> dict:
    layout = {"height": height, "margin": {"l": 60, "r": 16, "t": 28, "b": 40},
              "font": FONT, "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
              "showlegend": False, "bargap": 0.15}
    layout.update(extra)
    return layout


def timeline(rows: list[dict]) -> Optional[dict]:
    """Components of a run on a time axis: one bar per node from its start to its end
    (seconds since the run started), coloured by state."""
    timed = [r for r in rows if r.get("start_ms")]
    if not timed:
        return None
    origin = min(r["start_ms"] for r in timed)
    timed.sort(key=lambda r: (r["start_ms"], r["id"]))
    bases = [round((r["start_ms"] - origin) / 1000, 3) for r in timed]
    widths = [max(round(((r.get("end_ms") or r["start_ms"]) - r["start_ms"]) / 1000, 3), 0.05)
              for r in timed]
    colours = [STATE_COLOURS.get(r["state"], STATE_COLOURS["not run"])[1] for r in timed]
    names = [r["id"] for r in timed]
    text = [f"{r['state']}, {r.get('duration') or '0.0 s'}" for r in timed]
    return {"data": [{"type": "bar", "orientation": "h", "y": names, "x": widths,
                      "base": bases, "marker": {"color": colours}, "text": text,
                      "textposition": "outside", "cliponaxis": False,
                      "hovertemplate": "%{y}: %{text}<br>from %{base:.1f} s<extra></extra>"}],
            "layout": _layout(40 + 26 * len(timed),
                              margin={"l": 190, "r": 110, "t": 10, "b": 36},
                              xaxis={"title": {"text": "seconds since the run started"},
                                     "zeroline": False, "gridcolor": "#eeeeee"},
                              yaxis={"autorange": "reversed", "automargin": True})}


def histogram(buckets: list[dict]) -> Optional[dict]:
    """A numeric feature's histogram: buckets {low, high, count}."""
    if not buckets:
        return None
    labels = [f"{b['low']:.6g} – {b['high']:.6g}" for b in buckets]
    return {"data": [{"type": "bar", "x": [(b["low"] + b["high"]) / 2 for b in buckets],
                      "width": [max(b["high"] - b["low"], 0) or None for b in buckets],
                      "y": [b["count"] for b in buckets], "customdata": labels,
                      "marker": {"color": "#5c6bc0", "line": {"color": "#ffffff", "width": 1}},
                      "hovertemplate": "%{customdata}: %{y:,.0f}<extra></extra>"}],
            "layout": _layout(200, margin={"l": 50, "r": 12, "t": 8, "b": 36},
                              bargap=0, xaxis={"tickfont": {"size": 10}, "nticks": 6,
                                               "tickformat": "~s" if _wide(buckets) else ""},
                              yaxis={"gridcolor": "#eeeeee"})}


def _wide(buckets: list[dict]) -> bool:
    """Values large enough to want SI prefixes on the axis (1.7G, not 1700000000)."""
    return max(abs(buckets[0]["low"]), abs(buckets[-1]["high"])) >= 1e6


def top_values(values: list[dict]) -> Optional[dict]:
    """A categorical feature's most frequent values: {value, count}, most frequent first."""
    if not values:
        return None
    shown = values[:12]
    return {"data": [{"type": "bar", "orientation": "h", "y": [str(v["value"]) for v in shown],
                      "x": [v["count"] for v in shown], "marker": {"color": "#26a69a"},
                      "hovertemplate": "%{y}: %{x:,.0f}<extra></extra>"}],
            "layout": _layout(50 + 18 * len(shown), margin={"l": 150, "r": 12, "t": 8, "b": 30},
                              yaxis={"autorange": "reversed", "automargin": True,
                                     "tickfont": {"size": 10}},
                              xaxis={"gridcolor": "#eeeeee"})}


def drift(rows: list[dict]) -> Optional[dict]:
    """Drift per feature against its threshold: bars red above it, threshold ticks."""
    if not rows:
        return None
    names = [r["feature"] for r in rows]
    colours = ["#c62828" if r["drifted"] else "#66bb6a" for r in rows]
    return {"data": [
        {"type": "bar", "x": names, "y": [r["value"] for r in rows], "marker": {"color": colours},
         "name": "measured", "customdata": [r["statistic"] for r in rows],
         "hovertemplate": "%{x}: %{customdata} %{y:.3f}<extra></extra>"},
        {"type": "scatter", "mode": "markers", "x": names, "y": [r["threshold"] for r in rows],
         "name": "threshold", "marker": {"symbol": "line-ew-open", "size": 22,
                                         "color": "#212121", "line": {"width": 2}},
         "hovertemplate": "threshold %{y:.3f}<extra></extra>"}],
        "layout": _layout(300, showlegend=True, legend={"orientation": "h", "y": 1.12},
                          margin={"l": 50, "r": 10, "t": 30, "b": 110},
                          xaxis={"tickangle": -40}, yaxis={"gridcolor": "#eeeeee",
                                                           "rangemode": "tozero"})}


def slices(metric: str, rows: list[dict], bounds: dict, axis: str = "slice") -> Optional[dict]:
    """One metric per slice (rows {slice, value}), with the blessing's value bounds."""
    if not rows:
        return None
    data = [{"type": "bar", "x": [r["slice"] for r in rows], "y": [r["value"] for r in rows],
             "marker": {"color": "#5c6bc0"}, "name": "candidate",
             "hovertemplate": "candidate %{x}: %{y:.4f}<extra></extra>"}]
    if any(r.get("baseline") is not None for r in rows):
        data.append({"type": "bar", "x": [r["slice"] for r in rows],
                     "y": [r.get("baseline") for r in rows], "marker": {"color": "#b0b7c3"},
                     "name": "baseline", "hovertemplate": "baseline %{x}: %{y:.4f}<extra></extra>"})
    shapes = []
    for key, label in (("lower_bound", "lower bound"), ("upper_bound", "upper bound")):
        if bounds.get(key) is not None:
            shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1,
                           "y0": bounds[key], "y1": bounds[key],
                           "line": {"color": "#c62828", "dash": "dash", "width": 1.5}})
            data.append({"type": "scatter", "mode": "lines", "x": [None], "y": [None],
                         "name": f"{label} {bounds[key]:g}",
                         "line": {"color": "#c62828", "dash": "dash"}})
    return {"data": data,
            "layout": _layout(280, shapes=shapes, showlegend=len(data) > 1,
                              legend={"orientation": "h", "y": 1.14},
                              margin={"l": 50, "r": 10, "t": 30, "b": 60},
                              xaxis={"type": "category", "title": {"text": axis}},
                              yaxis={"gridcolor": "#eeeeee", "title": {"text": metric}})}


def traffic(points: list[dict]) -> Optional[dict]:
    """Share of traffic per version after each change of the registry (its history: points
    {at, traffic {version: percent}, action, version}), one step per change, in order:
    changes come seconds or weeks apart, so the axis counts them rather than time."""
    if not points:
        return None
    versions = sorted({v for p in points for v in (p.get("traffic") or {})},
                      key=lambda v: (len(v), v))
    steps = [f"{i}. {p.get('action', '?')} {p.get('version', '')}" for i, p in
             enumerate(points, start=1)]
    when = [p.get("at", "") for p in points]
    data = [{"type": "scatter", "mode": "lines+markers", "line": {"shape": "hv"},
             "name": version, "x": steps, "customdata": when,
             "y": [(p.get("traffic") or {}).get(version, 0) for p in points],
             "hovertemplate": f"{version}: %{{y}}%<br>%{{customdata}}<extra></extra>"}
            for version in versions]
    marks = [i for i, p in enumerate(points) if p.get("action") in ("promote", "rollback")]
    if marks:
        data.append({"type": "scatter", "mode": "markers", "name": "promote / rollback",
                     "x": [steps[i] for i in marks], "y": [108] * len(marks),
                     "customdata": [when[i] for i in marks],
                     "marker": {"symbol": ["triangle-up" if points[i]["action"] == "promote"
                                           else "x" for i in marks], "size": 11,
                                "color": ["#2e7d32" if points[i]["action"] == "promote"
                                          else "#c62828" for i in marks]},
                     "hovertemplate": "%{x}<br>%{customdata}<extra></extra>"})
    return {"data": data,
            "layout": _layout(320, showlegend=True, legend={"orientation": "h", "y": 1.12},
                              margin={"l": 90, "r": 40, "t": 36, "b": 90},
                              yaxis={"range": [0, 115], "title": {"text": "% of requests"},
                                     "gridcolor": "#eeeeee"},
                              xaxis={"type": "category", "tickangle": -30,
                                     "tickfont": {"size": 10}, "gridcolor": "#eeeeee"})}


def drift_history(points: list[dict]) -> Optional[dict]:
    """The largest drift each CT check measured, against the threshold of that feature:
    points {time, feature, value, threshold, fired}; none for fewer than two checks."""
    if len(points) < 2:
        return None
    return {"data": [
        {"type": "scatter", "mode": "lines+markers", "name": "largest drift measured",
         "x": [p["time"] for p in points], "y": [p["value"] for p in points],
         "customdata": [p["feature"] for p in points],
         "marker": {"size": 9, "color": ["#c62828" if p["fired"] else "#66bb6a"
                                         for p in points]},
         "line": {"color": "#9e9e9e"},
         "hovertemplate": "%{x}<br>%{customdata}: %{y:.3f}<extra></extra>"},
        {"type": "scatter", "mode": "lines", "name": "its threshold", "line": {"shape": "hv",
                                                                               "dash": "dot",
                                                                               "color": "#212121"},
         "x": [p["time"] for p in points], "y": [p["threshold"] for p in points],
         "hovertemplate": "threshold %{y:.3f}<extra></extra>"}],
        "layout": _layout(260, showlegend=True, legend={"orientation": "h", "y": 1.15},
                          margin={"l": 50, "r": 16, "t": 30, "b": 40},
                          yaxis={"rangemode": "tozero", "gridcolor": "#eeeeee"},
                          xaxis={"gridcolor": "#eeeeee"})}
