"""Machine and versions, the growth fit, the goals, and the markdown table."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

GOALS = {
    "cold_ratio": 1.0,          # our cold run / the template's cold run
    "rerun_ratio": 0.15,        # unchanged re-run / cold run
    "scale_rows": 1_500_000,
    "scale_seconds": 300.0,     # 1.5M rows in at most 5 minutes
    "scale_peak_mb": 3 * 1024,  # ... with peak memory of the process tree under 3 GB
    "largest_rows": 10_000_000,  # the largest size must finish on a 24 GB machine
    "growth_exponent": 1.0,     # time growing no faster than the row count
    "help_seconds": 1.0,        # `mlops --help`
}


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory_gb = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cores": os.cpu_count(), "memory_gb": memory_gb, "cpu": model or platform.processor(),
            "os": platform.platform(), "load_average_at_start": load}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for key, dist in (("tfx", "tfx"), ("tensorflow", "tensorflow"), ("apache-beam", "apache-beam"),
                      ("tfx-bsl", "tfx-bsl"), ("tensorflow-transform", "tensorflow-transform"),
                      ("tensorflow-model-analysis", "tensorflow-model-analysis"),
                      ("ml-metadata", "ml-metadata")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = None
    return out


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# Runs compared with each other only when the speed probe around them agrees this closely.
SPEED_TOLERANCE = 1.5


def growth_exponent(points: list[tuple[int, float]]) -> dict:
    """How time grows with rows: time ~ rows^k.

    `overall`: least-squares slope of log(time) on log(rows) over every size; fixed costs
    (start-up, training a fixed number of steps) pull it below 1 at small sizes.
    `largest_step`: the slope between the two largest sizes, where the per-row work
    dominates; this is the one the goal is held to.
    """
    points = sorted((r, s) for r, s in points if r and s)
    out = {"overall": None, "largest_step": None}
    if len(points) < 2:
        return out
    xs = [math.log(r) for r, _ in points]
    ys = [math.log(s) for _, s in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx:
        out["overall"] = round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx, 3)
    (r1, s1), (r2, s2) = points[-2], points[-1]
    out["largest_step"] = round(math.log(s2 / s1) / math.log(r2 / r1), 3)
    return out


def growth(modes: dict[str, list]) -> dict:
    out = {}
    for mode, runs in modes.items():
        ok = [r for r in runs if r["ok"]]
        g = growth_exponent([(r["rows"], r["seconds"]) for r in ok])
        k = g.get("largest_step")
        if k is not None:
            g["meaning"] = ("time grows more slowly than rows" if k < 0.9 else
                            "time grows about in proportion to rows" if k <= 1.1 else
                            "time grows faster than rows")
            g["components"] = component_growth(ok)
        out[mode] = g
    return out


def component_growth(runs: list[dict], least_s: float = 10.0) -> dict[str, float]:
    """Each component's exponent between the two largest sizes, largest first: which part
    of the pipeline grows faster than the rows. Components under least_s seconds at either
    size (fixed work, such as training a fixed number of steps, or bookkeeping) are left out."""
    small, large = sorted(runs, key=lambda r: r["rows"])[-2:]
    ratio = math.log(large["rows"] / small["rows"])
    out = {}
    for name, seconds in (large.get("components") or {}).items():
        before = (small.get("components") or {}).get(name)
        if before and before >= least_s and seconds >= least_s:
            out[name] = round(math.log(seconds / before) / ratio, 2)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _verdict(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "not measured"}[ok]


# Beam modes whose workers talk over loopback gRPC: DirectRunner's multi_threading (gRPC
# inside the process) and multi_processing, and the portable runner. in_memory calls its
# worker directly, so only the compute probe bears on its times.
LOOPBACK_MODES = ("multi_threading", "multi_processing", "portable")


def unequal_speed(runs: list[dict], mode: str) -> str:
    """Why these runs' times cannot be compared, or "": a machine speed probe
    (benchmarks/speed_probe.py) taken around them moved by more than SPEED_TOLERANCE. The
    loopback round trips count only for modes that use loopback (LOOPBACK_MODES)."""
    probes_used = [("speed_probe_s", "compute probe ranged {:.3f} to {:.3f} s")]
    if mode in LOOPBACK_MODES:
        probes_used.append(("round_trips_per_s",
                            "loopback round trips ranged {:,.0f} to {:,.0f}/s"))
    for key, what in probes_used:
        probes = [p for r in runs for p in (r.get(key) or []) if p]
        if len(probes) >= 2 and max(probes) > min(probes) * SPEED_TOLERANCE:
            return "the machine's " + what.format(min(probes), max(probes))
    return ""


def evaluate_goals(results: dict) -> list[dict]:
    """One row per goal: what was measured, the target, pass/fail/not measured."""
    rows = []
    cold = results.get("cold") or {}
    ratio = cold.get("median_ratio")
    rows.append({"goal": "cold run vs TFX template (median of per-pair ratios)",
                 "target": f"<= {GOALS['cold_ratio']}", "measured": _fmt(ratio, 2),
                 "ok": None if ratio is None else ratio <= GOALS["cold_ratio"]})
    for key, what in (("median_ratio", "first unchanged re-run after the cold run"),
                      ("median_ratio2", "second unchanged re-run (steady state)")):
        rerun = (results.get("rerun") or {}).get(key)
        rows.append({"goal": f"{what} vs cold run (median ratio)",
                     "target": f"<= {GOALS['rerun_ratio']}", "measured": _fmt(rerun, 3),
                     "ok": None if rerun is None else rerun <= GOALS["rerun_ratio"]})
    scale = results.get("scale") or {}
    for mode, runs in (scale.get("modes") or {}).items():
        at_goal = [r for r in runs if r["rows"] == GOALS["scale_rows"]]
        if at_goal and at_goal[0].get("ok"):
            r = at_goal[0]
            peak = r["peak_rss_mb"]  # the larger of the tree sum and any one process
            ok = r["seconds"] <= GOALS["scale_seconds"] and peak < GOALS["scale_peak_mb"]
            measured = f"{r['seconds']:.0f} s, {peak / 1024:.2f} GB"
        elif at_goal:
            ok, measured = False, "run failed or timed out"
        else:
            largest = max((r["rows"] for r in runs), default=0)
            ok, measured = None, f"largest size run: {largest:,} rows"
        rows.append({"goal": f"1.5M rows, {mode}",
                     "target": "<= 300 s and < 3 GB peak (process tree)", "measured": measured,
                     "ok": ok})
        largest = [r for r in runs if r["rows"] == GOALS["largest_rows"]]
        rows.append({"goal": f"10M rows finish, {mode}", "target": "finishes",
                     "measured": ("not run" if not largest else
                                  f"{largest[0]['seconds']:.0f} s" if largest[0].get("ok")
                                  else "failed or timed out"),
                     "ok": None if not largest else bool(largest[0].get("ok"))})
        exponent = (scale.get("growth") or {}).get(mode, {}).get("largest_step")
        # Judged only when both of the two largest sizes reach the goal size: at small
        # sizes fixed costs and the machine's noise decide k, not the per-row work.
        largest_two = sorted((r for r in runs if r.get("ok")), key=lambda r: r["rows"])[-2:]
        reached = len(largest_two) == 2 and all(r["rows"] >= GOALS["scale_rows"]
                                                for r in largest_two)
        measured = _fmt(exponent, 2) + ("" if reached or exponent is None
                                        else " (needs two sizes of 1.5M rows or more)")
        unequal = unequal_speed(largest_two, mode)
        if unequal and exponent is not None:
            measured += f" (not judged: {unequal})"
        rows.append({"goal": f"time vs rows, {mode} (exponent between the two largest sizes)",
                     "target": f"<= {GOALS['growth_exponent']}", "measured": measured,
                     "ok": None if exponent is None or not reached or unequal
                     else exponent <= GOALS["growth_exponent"]})
    if not scale.get("modes"):
        rows.append({"goal": "1.5M rows / growth", "target": "<= 300 s, < 3 GB, exponent <= 1",
                     "measured": "", "ok": None})
    help_s = (results.get("startup") or {}).get("median_seconds")
    rows.append({"goal": "`mlops --help` start-up (median)", "target": "< 1 s",
                 "measured": _fmt(help_s, 2, " s"),
                 "ok": None if help_s is None else help_s < GOALS["help_seconds"]})
    for row in rows:
        row["verdict"] = _verdict(row["ok"])
    return rows


def _fmt(value, digits: int, unit: str = "") -> str:
    return "" if value is None else f"{value:.{digits}f}{unit}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _mb(value) -> str:
    return "" if value is None else f"{value:,.0f}"


def _header(results: dict) -> list[str]:
    meta = results["meta"]
    m, v = meta["machine"], meta["versions"]
    return [
        f"- Date: {meta['date']} ({meta['mode']}{'; ' + meta['note'] if meta.get('note') else ''})",
        f"- Command: `{meta['command']}`",
        f"- Machine: {m['cores']} cores, {m['memory_gb']} GB, {m['cpu']}; "
        f"load average at start {m['load_average_at_start']}"
        + probes_text(meta),
        f"- Versions: Python {v['python']}, TFX {v['tfx']}, TensorFlow {v['tensorflow']}, "
        f"Beam {v['apache-beam']}",
        f"- Training: {meta['train_steps']} train steps, {meta['eval_steps']} eval steps "
        "(both pipelines)",
        f"- Took {meta.get('total_seconds', 0) / 60:.1f} min",
    ]


def _goals(results: dict) -> list[str]:
    return ["## Goals", "",
            _table(["goal", "target", "measured", "result"],
                   [[g["goal"], g["target"], g["measured"], g["verdict"]]
                    for g in results["goals"]])]


def render_markdown(results: dict) -> str:
    """The results.md of one benchmark run."""
    out = ["# Benchmark results", "", *_header(results), "", *_goals(results)]
    for render in dict.fromkeys(SECTION_RENDERERS.values()):
        part = render(results)
        if part:
            out += ["", *part]
    if results.get("errors"):
        out += ["", "## Errors", ""] + [f"- {e}" for e in results["errors"]]
    return "\n".join(out) + "\n"


def _cold(results: dict) -> list[str]:
    out: list[str] = []
    cold = results.get("cold")
    if cold:
        out += ["## 1. Cold end-to-end run: ours vs TFX's taxi template", "",
                "Same data (the 15,002-row sample shipped in tfx), same training steps, each run "
                "in a fresh pipeline root and ML-Metadata store, run order alternating pair by "
                "pair. Peak RSS is of the whole process tree.", ""]
        rows = []
        for p in cold["pairs"]:
            rows.append([p["pair"], p["order"], _fmt(p["ours"]["seconds"], 1),
                         _fmt(p["template"]["seconds"], 1), _fmt(p.get("ratio"), 2),
                         _fmt(p["ours"].get("cpu_seconds"), 0),
                         _fmt(p["template"].get("cpu_seconds"), 0),
                         _mb(p["ours"]["peak_rss_mb"]), _mb(p["template"]["peak_rss_mb"])])
        rows.append(["median", "", _fmt(cold.get("median_ours_seconds"), 1),
                     _fmt(cold.get("median_template_seconds"), 1), _fmt(cold.get("median_ratio"), 2),
                     _fmt(cold.get("median_ours_cpu_seconds"), 0),
                     _fmt(cold.get("median_template_cpu_seconds"), 0),
                     _mb(cold.get("median_ours_peak_mb")), _mb(cold.get("median_template_peak_mb"))])
        out.append(_table(["pair", "order", "ours s", "template s", "ratio", "ours CPU s",
                           "template CPU s", "ours peak MB", "template peak MB"], rows))
        out += ["", "CPU s is user + system time of the whole process tree: on a loaded "
                "machine it moves far less than wall time, so compare it too."]
        profile = cold.get("profile")
        if profile:
            out += ["", "### Where the time goes (median seconds per component, cold runs)", "",
                    "Ours from `mlops run --json`; the template's from the time between "
                    "LocalDagRunner's `Component X is running.` and `... is finished.` log lines. "
                    "CPU s: user + system seconds of the process tree between the same lines. "
                    "`outside components` is process start-up, imports, pipeline build and "
                    "compile, and shut-down.", ""]
            out.append(_table(["component", "ours wall s", "template wall s", "ours CPU s",
                               "template CPU s"],
                              [[r["component"], _fmt(r.get("ours"), 1), _fmt(r.get("template"), 1),
                                _fmt(r.get("ours_cpu"), 1), _fmt(r.get("template_cpu"), 1)]
                               for r in profile]))
    return out


def _rerun(results: dict) -> list[str]:
    out: list[str] = []
    rerun = results.get("rerun")
    if rerun:
        out += ["## 2. Unchanged re-run (cache) vs cold run", "",
                "The same `mlops run` twice more in the cold run's folders, cache on. The first "
                "re-run is what a user sees right after a cold run; the second is the steady "
                "state.", ""]
        rows = []
        for r in rerun["runs"]:
            for key, label in (("", "first"), ("2", "second")):
                if f"rerun{key}_seconds" in r:
                    rows.append([r["pair"], label, _fmt(r["cold_seconds"], 1),
                                 _fmt(r[f"rerun{key}_seconds"], 1), _fmt(r.get(f"ratio{key}"), 3),
                                 r.get(f"cached{key}", ""), r.get(f"ran{key}", "")])
        rows.append(["median", "first", "", _fmt(rerun.get("median_rerun_seconds"), 1),
                     _fmt(rerun.get("median_ratio"), 3), "", ""])
        rows.append(["median", "second", "", _fmt(rerun.get("median_rerun2_seconds"), 1),
                     _fmt(rerun.get("median_ratio2"), 3), "", ""])
        out.append(_table(["pair", "re-run", "cold s", "re-run s", "ratio", "cached",
                           "ran (not cached)"], rows))
    return out


def _scale(results: dict) -> list[str]:
    meta = results.get("meta") or {}
    out: list[str] = []
    scale = results.get("scale")
    if scale and scale.get("modes"):
        out += ["## 3. Scale curve", "",
                f"Data: {scale['made_by']}. Our pipeline, `mlops run --no-cache`, "
                f"{scale.get('train_steps') or meta.get('train_steps')} training steps at every size, "
                "fresh folders per run"
                + (f", all on one processor ({scale['cpu']})" if scale.get("cpu") else "")
                + ". `peak MB` is the process tree. Per component: seconds and rows per second.",
                ""]
        rows = []
        sourced = any(r.get("source") for runs in scale["modes"].values() for r in runs)
        for mode, runs in scale["modes"].items():
            for r in sorted(runs, key=lambda r: r["rows"]):
                rows.append([mode, f"{r['rows']:,}", _fmt(r.get("seconds"), 1),
                             _mb(r.get("peak_rss_mb")),
                             _fmt(r.get("rows_per_second"), 0), "ok" if r.get("ok") else "FAILED",
                             _components(r), _peak_during(r), _speed(r)]
                            + ([f"`{r.get('source', '')}`"] if sourced else []))
        out.append(_table(["mode", "rows", "wall s", "peak MB", "rows/s", "", "largest components",
                           "peak memory during", "machine speed before / after"]
                          + (["result"] if sourced else []), rows))
        out += ["", "How time grows with rows (time ~ rows^k):", ""]
        for mode, g in (scale.get("growth") or {}).items():
            parts = ", ".join(f"{name} {k}" for name, k in (g.get("components") or {}).items())
            out.append(f"- {mode}: k = {g.get('largest_step')} between the two largest sizes, "
                       f"{g.get('overall')} fitted over all sizes: {g.get('meaning', '')}."
                       + (f" Per component, between the same two sizes: {parts}." if parts else ""))
    return out


def probes_text(meta: dict) -> str:
    """'; speed probe 0.085 s and 40,000 round trips/s at start, ...' where recorded
    (benchmarks/speed_probe.py)."""
    shown = []
    for when in ("start", "end"):
        probe = meta.get(f"speed_probe_at_{when}") or {}
        if probe.get("seconds") is not None:
            trips = probe.get("round_trips_per_s")
            shown.append(f"{probe['seconds']:.3f} s" + (f" and {trips:,.0f} round trips/s"
                                                          if trips else "") + f" at {when}")
    return "; speed probe " + ", ".join(shown) if shown else ""


def _speed(run: dict) -> str:
    """The machine speed probes before and after the run, and the CPU share stolen during
    it (recorded by benchmarks from this version on)."""
    compute = [f"{p:.3f} s" for p in run.get("speed_probe_s") or [] if p is not None]
    trips = [f"{p:,.0f}/s" for p in run.get("round_trips_per_s") or [] if p is not None]
    steal = run.get("steal_share")
    parts = [" / ".join(compute), " / ".join(trips),
             f"steal {steal:.0%}" if steal is not None else ""]
    return ", ".join(p for p in parts if p)


def _peak_during(run: dict) -> str:
    """The component that was running when the process tree's memory peaked (recorded by
    benchmarks from this version on)."""
    peaks = run.get("components_peak_mb") or {}
    if not peaks:
        return ""
    name = max(peaks, key=peaks.get)
    return f"{name} ({_mb(peaks[name])} MB)"


def _components(run: dict) -> str:
    """The three slowest components: seconds, and rows per second where it was recorded."""
    speed = run.get("component_rows_per_second") or {}
    comps = sorted((run.get("components") or {}).items(), key=lambda kv: -kv[1])[:3]
    if not comps:
        return run.get("top_components", "")
    return ", ".join(f"{k} {v:.0f}s" + (f" ({speed[k]:,.0f}/s)" if k in speed else "")
                     for k, v in comps)


def _startup(results: dict) -> list[str]:
    out: list[str] = []
    startup = results.get("startup")
    compile_ = results.get("compile")
    if startup or compile_:
        out += ["## 4. Start-up and compile", ""]
        rows = []
        if startup:
            rows.append(["`mlops --help`", _fmt(startup.get("median_seconds"), 3),
                         f"median of {len(startup.get('runs', []))}", _mb(startup.get("peak_rss_mb"))])
        for target, c in (compile_ or {}).get("targets", {}).items():
            rows.append([f"`mlops compile --target {target}`", _fmt(c.get("median_seconds"), 1),
                         c.get("note", ""), _mb(c.get("peak_rss_mb"))])
        if compile_ and compile_.get("skipped"):
            rows.append(["`mlops compile`", "", compile_["skipped"], ""])
        out.append(_table(["command", "seconds", "note", "peak MB"], rows))
    return out


def _serving(results: dict) -> list[str]:
    out: list[str] = []
    serving = results.get("serving")
    if serving:
        out += ["## 5. Prediction service", ""]
        if serving.get("skipped"):
            out.append(serving["skipped"])
        else:
            out.append(render_serving(serving.get("figures")))
    return out


SECTION_RENDERERS = {"cold": _cold, "rerun": _rerun, "scale": _scale, "startup": _startup,
                     "compile": _startup, "serving": _serving}


def render_serving(figures) -> str:
    """A table from serving_bench.py's JSON: a list of dicts (one per client count)."""
    rows = figures
    if isinstance(figures, dict):
        rows = next((figures[k] for k in ("results", "rows", "levels", "runs")
                     if isinstance(figures.get(k), list)), None)
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        header = list(dict.fromkeys(k for r in rows for k in r
                                    if not isinstance(r[k], (dict, list))))
        return _table(header, [[r.get(k) for k in header] for r in rows])
    import json

    return "```json\n" + json.dumps(figures, indent=2)[:4000] + "\n```"


def commit(root: Path) -> str:
    """The checkout's short commit: read once per benchmark, as the tree may move on."""
    return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or "nogit"


def default_folder(root: Path, measured_commit: str | None = None) -> Path:
    """benchmarks/results/<date>-<commit>: one folder per benchmark run of a commit."""
    name = f"{datetime.now(timezone.utc):%Y-%m-%d}-{measured_commit or commit(root)}"
    return root / "benchmarks" / "results" / name


def _dated(folder: Path, name: str = "results.json") -> tuple[str, str]:
    """Sort key of a results folder: the date its run of the benchmark that writes `name`
    recorded, then the folder name (folders of one day would otherwise sort by commit)."""
    try:
        date = json.loads((folder / name).read_text())["meta"]["date"]
    except (OSError, ValueError, KeyError):
        date = folder.name[:10]
    return date, folder.name


def same_conditions(run: dict, newest: dict) -> bool:
    """Whether a scale run can sit on one curve with the newest scale run: the same training
    steps and the same processor (runs on another processor differ by up to 2x per row)."""
    return run["train_steps"] == newest.get("train_steps") and run["cpu"] == newest.get("cpu")


def merged_results(results_root: Path) -> tuple[dict, dict]:
    """The newest figures of each section over every results folder, and their sources.

    Scale runs are merged row by row (newest wins for a mode and size), each row naming
    the folder it comes from, so a curve can grow over several benchmark runs; only runs
    with the newest run's training steps and processor are merged, so the points stay
    comparable."""
    merged: dict = {"errors": []}
    sources: dict[str, str] = {}
    modes: dict[str, dict[int, dict]] = {}
    scale_meta: dict = {}
    for folder in sorted((f for f in results_root.iterdir() if (f / "results.json").is_file()),
                         key=_dated):
        results = json.loads((folder / "results.json").read_text())
        merged["meta"] = results["meta"]
        for section in ("cold", "rerun", "startup", "compile", "serving"):
            if results.get(section):
                merged[section], sources[section] = results[section], folder.name
        scale = results.get("scale") or {}
        steps = scale.get("train_steps") or results["meta"].get("train_steps")
        cpu = (results["meta"].get("machine") or {}).get("cpu")
        for mode, runs in (scale.get("modes") or {}).items():
            for run in runs:
                modes.setdefault(mode, {})[run["rows"]] = {**run, "source": folder.name,
                                                           "train_steps": steps, "cpu": cpu}
        if scale.get("modes"):
            scale_meta = {k: v for k, v in scale.items() if k not in ("modes", "growth")}
            scale_meta.update(train_steps=steps, cpu=cpu)
    modes = {m: {rows: r for rows, r in by_rows.items() if same_conditions(r, scale_meta)}
             for m, by_rows in modes.items()}
    modes = {m: by_rows for m, by_rows in modes.items() if by_rows}
    if modes:
        curves = {m: [by_rows[r] for r in sorted(by_rows)] for m, by_rows in modes.items()}
        merged["scale"] = {**scale_meta, "modes": curves, "growth": growth(curves)}
        sources["scale"] = ", ".join(sorted({r["source"] for runs in curves.values()
                                             for r in runs}))
    merged["goals"] = evaluate_goals(merged)
    return merged, sources


def render_page(results_root: Path, intro: str) -> str:
    """The documentation's Performance page: `intro`, then the newest figures per section."""
    merged, sources = merged_results(results_root)
    out = [intro.rstrip(), "", "## Results", "",
           "Generated from `benchmarks/results/` when the site is built: for each section the "
           "newest benchmark run that measured it, named under the section's heading.", ""]
    out += ["#" + line if line.startswith("## ") else line for line in _goals(merged)]
    for section, render in SECTION_RENDERERS.items():
        if section in sources and section != "compile":
            part = render(merged)
            if part:
                heading, *rest = part
                out += ["", "#" + heading, "", f"From `benchmarks/results/{sources[section]}`."
                        if section != "scale" else
                        f"From `benchmarks/results/` folders {sources[section]}.", *rest]
    # The smaller benchmarks' own tables.
    for name in ("quickstart.md", "rehearsal.md", "serving.md", "heap.md", "ui.md"):
        found = sorted(results_root.glob(f"*/{name}"),
                       key=lambda p: _dated(p.parent, p.with_suffix(".json").name))
        if found:
            text = found[-1].read_text().replace("\n## ", "\n#### ").replace("# ", "### ", 1)
            out += ["", text.split("\n", 1)[0], "",
                    f"From `benchmarks/results/{found[-1].parent.name}`.", text.split("\n", 1)[1]]
    return "\n".join(out) + "\n"
