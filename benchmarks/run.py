"""Benchmarks: our taxi pipeline against TFX's own taxi template, caching, scale, start-up.

    python benchmarks/run.py                 # the full measurement
    python benchmarks/run.py --quick         # every part, small and fast

Writes benchmarks/results/<date>-<commit>/results.json and results.md (machine, date,
versions, every run, and a pass/fail line per goal); the logs of each run go to a `logs`
folder beside them, which git ignores. Each measured command runs in its own process with fresh
folders; wall time and peak memory (RSS summed over the whole process tree) are taken from
outside the process. The documentation's Performance page (docs/hooks/performance_intro.md) says what each figure
means, and renders the newest results of each section.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import proc_measure  # noqa: E402
import results_report  # noqa: E402
import speed_probe  # noqa: E402
import tfx_template  # noqa: E402

FULL = {"pairs": 3, "sizes": "15000,150000,1500000", "train_steps": 1000, "eval_steps": 150,
        "help_repeats": 9, "compile_repeats": 3}
QUICK = {"pairs": 1, "sizes": "15000,50000", "train_steps": 100, "eval_steps": 50,
         "help_repeats": 5, "compile_repeats": 1}
SECTIONS = ("cold", "scale", "startup", "compile", "serving")
# Lines that open and close a component: ours (progress of `mlops run`) and LocalDagRunner's.
_OURS_MARK = re.compile(r"^\[\s*\d+/\d+\] (\S+)\s+(started|complete|cached|FAILED|skipped)")
_TEMPLATE_MARK = re.compile(r"Component (\S+) is (running|finished)\.")
MARK = f"{_OURS_MARK.pattern}|{_TEMPLATE_MARK.pattern}"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 pair, sizes 15000,50000, 100 training steps: checks every part")
    parser.add_argument("--pairs", type=int, help="cold-run pairs, ours vs template (full: 3)")
    parser.add_argument("--sizes", help="scale-curve row counts, comma-separated "
                        "(full: 15000,150000,1500000)")
    parser.add_argument("--modes", default="in_memory,multi_processing",
                        help="scale-curve modes: DirectRunner's in_memory, multi_threading, "
                        "multi_processing, and `portable` (PortableRunner with Beam's own job "
                        "service and worker pool, beam.portable.local_services)")
    parser.add_argument("--workers", type=int, default=0,
                        help="direct_num_workers for multi_processing (default: one per core)")
    parser.add_argument("--train-steps", type=int, help="training steps, both pipelines (full: 1000)")
    parser.add_argument("--eval-steps", type=int, help="evaluation steps (full: 150)")
    parser.add_argument("--help-repeats", type=int, help="`mlops --help` runs (full: 9)")
    parser.add_argument("--compile-repeats", type=int, help="compiles per target (full: 3)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"sections to run, comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--run-timeout", type=float, default=3600,
                        help="seconds before one pipeline run is killed (default 3600)")
    parser.add_argument("--out", default=None,
                        help="results folder (default: benchmarks/results/<date>-<commit>)")
    parser.add_argument("--workdir", default=None,
                        help="scratch folder (default: a temporary one, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--serving-model", default=None,
                        help="SavedModel for the serving benchmark (default: the model the "
                        "first cold run pushed)")
    parser.add_argument("--note", default="", help="a note written under the date, e.g. "
                        "'measured under load'")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.sizes = [int(s.replace("_", "")) for s in str(args.sizes).split(",") if s.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    args.out = args.out or str(results_report.default_folder(ROOT))
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(sorted(unknown))}")
    return args


PORTABLE_MODE = "portable"


def beam_mode(mode: str, workers: int) -> dict:
    """MLOPS_* settings of a scale-curve mode."""
    if mode == PORTABLE_MODE:
        return {"MLOPS_BEAM__RUNNER": "PortableRunner",
                "MLOPS_BEAM__PORTABLE__LOCAL_SERVICES": "true",
                "MLOPS_BEAM__PORTABLE__SDK_WORKER_PARALLELISM": workers or 2}
    return {"MLOPS_BEAM__DIRECT_RUNNING_MODE": mode,
            "MLOPS_BEAM__DIRECT_NUM_WORKERS": workers if mode != "in_memory" else 0}


def _clean_env(extra: dict | None = None) -> dict:
    """The caller's environment without MLOPS_* overrides, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MLOPS_") or k == "MLOPS_PROJECT_ROOT"}
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def _say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.python = sys.executable
        mlops = Path(self.python).with_name("mlops")
        self.mlops = [str(mlops)] if mlops.exists() else [self.python, "-m", "framework"]
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="mlops-bench-")).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.logs = self.out / "logs"
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir()
        self.sample_dir = Path(tfx_template_sample()).parent
        self.started = time.monotonic()
        self.results = {"meta": self._meta(), "errors": []}
        self.serving_model = None

    def _meta(self) -> dict:
        a = self.args
        return {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "quick" if a.quick else "full",
            "note": a.note,
            # as a reader reruns it: no interpreter path of the machine that ran it
            "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
            "machine": results_report.machine(),
            "speed_probe_at_start": speed_probe.probe(),
            "versions": results_report.versions(),
            "train_steps": a.train_steps,
            "eval_steps": a.eval_steps,
            "pairs": a.pairs,
            "sizes": a.sizes,
            "modes": a.modes,
            "tf_use_legacy_keras_in_caller_env": os.environ.get("TF_USE_LEGACY_KERAS"),
        }

    # ----- running things -------------------------------------------------------------
    def _log(self, name: str) -> str:
        return str(self.logs / f"{name}.log")

    def run_ours(self, name: str, run_dir: Path, data_root: Path, *, no_cache: bool = True,
                 mode: str = "in_memory") -> dict:
        """`mlops run` in fresh folders under run_dir; measured, with its --json result."""
        run_dir.mkdir(parents=True, exist_ok=True)
        env = _clean_env({
            "MLOPS_PIPELINE__PIPELINE_ROOT": run_dir / "pipeline_root",
            "MLOPS_PIPELINE__SERVING_DIR": run_dir / "serving",
            "MLOPS_PIPELINE__DATA_ROOT": data_root,
            "MLOPS_METADATA__SQLITE_PATH": run_dir / "metadata.sqlite",
            "MLOPS_TRAINING__TRAIN_STEPS": self.args.train_steps,
            "MLOPS_TRAINING__EVAL_STEPS": self.args.eval_steps,
            **beam_mode(mode, self.args.workers),
        })
        json_path = run_dir / f"{name}.json"
        command = [*self.mlops, "run", "--pipeline", "taxi", "--json", str(json_path)]
        if no_cache:
            command.append("--no-cache")
        _say(f"{name}: {' '.join(command[-5:])} ({mode}, data {data_root.name})")
        m = proc_measure.measure(command, env=env, cwd=str(ROOT), log_path=self._log(name),
                                 timeout=self.args.run_timeout, mark=MARK)
        out = m.to_dict()
        marks = m.extra.pop("marks", [])
        out["components_cpu"] = component_cpu(marks)
        out["components_peak_mb"] = component_peak_mb(marks)
        out["result"] = json.loads(json_path.read_text()) if json_path.exists() else None
        if out["result"]:
            out["components"] = {c["name"]: c["seconds"] for c in out["result"]["components"]}
            out["cached"] = out["result"].get("cached", [])
            out["inside_runner_seconds"] = out["result"].get("seconds")
        if not m.ok:
            self.error(f"{name}: exit {m.returncode}; log {m.log}:\n"
                       + proc_measure.tail(m.log, 8))
        _say(f"{name}: {m.seconds:.1f} s, peak {m.peak_rss_mb:,.0f} MB, exit {m.returncode}")
        return out

    def run_template(self, name: str, template_runner: Path, run_dir: Path) -> dict:
        runner = tfx_template.runner_for_output(template_runner, run_dir)
        _say(f"{name}: TFX template local_runner.py")
        m = proc_measure.measure([self.python, str(runner)], env=_clean_env(), cwd=str(run_dir),
                                 log_path=self._log(name), timeout=self.args.run_timeout,
                                 mark=MARK)
        out = m.to_dict()
        out["components_cpu"] = component_cpu(m.extra.pop("marks", []))
        text = Path(m.log).read_text(encoding="utf-8", errors="replace")
        out["components"] = tfx_template.component_seconds(proc_measure.stamped_lines(text))
        if not m.ok:
            self.error(f"{name}: exit {m.returncode}; log {m.log}:\n"
                       + proc_measure.tail(m.log, 8))
        _say(f"{name}: {m.seconds:.1f} s, peak {m.peak_rss_mb:,.0f} MB, exit {m.returncode}")
        return out

    def error(self, message: str) -> None:
        self.results["errors"].append(message)
        _say("ERROR " + message)

    def save(self, final: bool = False) -> None:
        self.results["meta"]["total_seconds"] = round(time.monotonic() - self.started, 1)
        self.results["meta"]["load_average_at_end"] = list(os.getloadavg())
        if final:  # sections save after every run; the probe (a second or two) once, at the end
            self.results["meta"]["speed_probe_at_end"] = speed_probe.probe()
        self.results["goals"] = results_report.evaluate_goals(self.results)
        (self.out / "results.json").write_text(json.dumps(self.results, indent=2) + "\n")
        (self.out / "results.md").write_text(results_report.render_markdown(self.results))

    # ----- 1 and 2: cold pairs and the unchanged re-run -------------------------------
    def cold(self) -> None:
        a = self.args
        template_dir = self.work / "template"
        shutil.rmtree(template_dir, ignore_errors=True)
        template_runner = tfx_template.prepare(self.python, template_dir,
                                               train_steps=a.train_steps, eval_steps=a.eval_steps)
        pairs, reruns = [], []
        for i in range(1, a.pairs + 1):
            order = ["ours", "template"] if i % 2 else ["template", "ours"]
            pair = {"pair": i, "order": " then ".join(order)}
            for who in order:
                run_dir = self.work / f"cold-{i}-{who}"
                shutil.rmtree(run_dir, ignore_errors=True)
                run_dir.mkdir(parents=True)
                if who == "ours":
                    pair["ours"] = self.run_ours(f"cold-{i}-ours", run_dir, self.sample_dir)
                else:
                    pair["template"] = self.run_template(f"cold-{i}-template", template_runner,
                                                         run_dir)
            if pair["ours"]["returncode"] == 0 and pair["template"]["returncode"] == 0:
                pair["ratio"] = round(pair["ours"]["seconds"] / pair["template"]["seconds"], 3)
            pairs.append(pair)
            # 2: the same command again, cache on, same folders: everything should be cached.
            ours_dir = self.work / f"cold-{i}-ours"
            if pair["ours"]["returncode"] == 0:
                # The first re-run after a cold run and the one after it differ: the first
                # finds the model the cold run blessed as a new Evaluator baseline.
                row = {"pair": i, "cold_seconds": pair["ours"]["seconds"]}
                for key in ("", "2"):
                    rerun = self.run_ours(f"rerun{key or '1'}-{i}", ours_dir, self.sample_dir,
                                          no_cache=False)
                    row[f"rerun{key}_seconds"] = rerun["seconds"]
                    row[f"measured{key}"] = rerun
                    if rerun["returncode"] != 0:
                        break
                    row[f"ratio{key}"] = round(rerun["seconds"] / pair["ours"]["seconds"], 3)
                    comps = rerun.get("components") or {}
                    ran = [n for n in comps if n not in rerun.get("cached", [])]
                    row[f"cached{key}"] = f"{len(rerun.get('cached', []))}/{len(comps)}"
                    row[f"ran{key}"] = ", ".join(f"{n} {comps[n]:.0f}s" for n in ran)
                reruns.append(row)
                pushed = (pair["ours"].get("result") or {}).get("pushed_model")
                if pushed and self.serving_model is None:
                    self.serving_model = {"run_dir": str(ours_dir), "model": pushed}
            if not (a.keep or self.serving_model and self.serving_model["run_dir"] == str(ours_dir)):
                shutil.rmtree(ours_dir, ignore_errors=True)
            if not a.keep:
                shutil.rmtree(self.work / f"cold-{i}-template", ignore_errors=True)
            self.results["cold"] = self._cold_summary(pairs)
            self.results["rerun"] = self._rerun_summary(reruns)
            self.save()

    @staticmethod
    def _cold_summary(pairs: list[dict]) -> dict:
        med = results_report.median
        ok = [p for p in pairs if "ratio" in p]
        summary = {
            "pairs": pairs,
            "median_ratio": med([p["ratio"] for p in ok]),
            "median_ours_seconds": med([p["ours"]["seconds"] for p in ok]),
            "median_template_seconds": med([p["template"]["seconds"] for p in ok]),
            "median_ours_peak_mb": med([p["ours"]["peak_rss_mb"] for p in ok]),
            "median_template_peak_mb": med([p["template"]["peak_rss_mb"] for p in ok]),
            "median_ours_cpu_seconds": med([p["ours"].get("cpu_seconds") for p in ok]),
            "median_template_cpu_seconds": med([p["template"].get("cpu_seconds") for p in ok]),
        }
        summary["profile"] = component_profile(ok)
        return summary

    @staticmethod
    def _rerun_summary(reruns: list[dict]) -> dict:
        med = results_report.median
        return {"runs": reruns,
                "median_ratio": med([r.get("ratio") for r in reruns]),
                "median_rerun_seconds": med([r["rerun_seconds"] for r in reruns
                                             if "ratio" in r]),
                "median_ratio2": med([r.get("ratio2") for r in reruns]),
                "median_rerun2_seconds": med([r["rerun2_seconds"] for r in reruns
                                              if "ratio2" in r])}

    # ----- 3: scale curve --------------------------------------------------------------
    def scale(self) -> None:
        a = self.args
        data_dir = self.work / "data"
        modes: dict[str, list] = {m: [] for m in a.modes}
        made_by = ""
        for rows in a.sizes:
            _say(f"data: {rows:,} rows")
            made = subprocess.run(
                [self.python, str(HERE / "scale_data.py"), str(data_dir), str(rows), str(ROOT)],
                check=True, capture_output=True, text=True, cwd=str(ROOT))
            info = json.loads(made.stdout.strip().splitlines()[-1])
            folder, made_by = Path(info["folder"]), info["made_by"]
            for mode in a.modes:
                name = f"scale-{rows}-{mode}"
                run_dir = self.work / name
                shutil.rmtree(run_dir, ignore_errors=True)
                probe_before, ticks = speed_probe.probe(), speed_probe.cpu_ticks()
                r = self.run_ours(name, run_dir, folder, mode=mode)
                steal = speed_probe.steal_share(ticks, speed_probe.cpu_ticks())
                probe_after = speed_probe.probe()
                row = {"rows": rows, "mode": mode, "ok": r["returncode"] == 0,
                       "speed_probe_s": [probe_before["seconds"], probe_after["seconds"]],
                       "round_trips_per_s": [probe_before["round_trips_per_s"],
                                             probe_after["round_trips_per_s"]],
                       "steal_share": steal,
                       "seconds": r["seconds"], "peak_rss_mb": r["peak_rss_mb"],
                       "peak_tree_rss_mb": r["peak_tree_rss_mb"],
                       "peak_single_rss_mb": r["peak_single_rss_mb"],
                       "cpu_seconds": r["cpu_seconds"], "components": r.get("components"),
                       "components_peak_mb": r.get("components_peak_mb"),
                       "timed_out": r["extra"].get("timed_out", False)}
                if row["ok"]:
                    row["rows_per_second"] = round(rows / r["seconds"], 1)
                    comps = sorted((r.get("components") or {}).items(), key=lambda kv: -kv[1])
                    row["top_components"] = ", ".join(f"{k} {v:.0f}s" for k, v in comps[:3])
                    row["component_rows_per_second"] = {
                        k: round(rows / v, 1) for k, v in comps if v >= 1}
                modes[mode].append(row)
                if not a.keep:
                    shutil.rmtree(run_dir, ignore_errors=True)
                self.results["scale"] = {"made_by": made_by, "modes": modes,
                                         "growth": results_report.growth(modes),
                                         "train_steps": a.train_steps}
                self.save()
        if not a.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    # ----- 4: start-up and compile ------------------------------------------------------
    def startup(self) -> None:
        runs = []
        proc_measure.measure([*self.mlops, "--help"], cwd=str(ROOT))  # warm the file cache
        for _ in range(self.args.help_repeats):
            m = proc_measure.measure([*self.mlops, "--help"], env=_clean_env(), cwd=str(ROOT),
                                     interval=0.02)
            runs.append(m.seconds)
        probe = ("import sys\nsys.argv = ['mlops', '--help']\nfrom framework.cli import main\n"
                 "try:\n    main()\nexcept SystemExit:\n    pass\n"
                 "heavy = ('tensorflow', 'tfx', 'apache_beam', 'kfp', 'google.cloud.', 'docker',"
                 " 'pandas')\n"
                 "print('HEAVY', sorted({h for h in heavy for m in sys.modules"
                 " if m == h or m.startswith(h if h.endswith('.') else h + '.')}))\n")
        heavy = subprocess.run([self.python, "-c", probe], capture_output=True, text=True,
                               cwd=str(ROOT), env=_clean_env())
        found = re.search(r"HEAVY (\[.*\])", heavy.stdout)
        self.results["startup"] = {
            "runs": runs, "median_seconds": results_report.median(runs),
            "heavy_modules_imported": found.group(1) if found else "probe failed",
            "peak_rss_mb": m.peak_rss_mb,
        }
        _say(f"mlops --help: median {self.results['startup']['median_seconds']:.3f} s, "
             f"heavy modules imported: {self.results['startup']['heavy_modules_imported']}")
        self.save()

    def compile(self) -> None:
        helptext = subprocess.run([*self.mlops, "compile", "--help"], capture_output=True,
                                  text=True, cwd=str(ROOT), env=_clean_env())
        if helptext.returncode != 0 or "--target" not in helptext.stdout:
            self.results["compile"] = {"skipped": "`mlops compile --target` is not available"}
            self.save()
            return
        rules = subprocess.run([self.python, "-c", "from framework.production.preflight import RULES; "
                                "print(','.join(RULES))"], capture_output=True, text=True,
                               cwd=str(ROOT)).stdout.strip()
        targets = {}
        for target in ("kubeflow", "vertex"):
            runs, inner, peak, note = [], [], None, ""
            for i in range(self.args.compile_repeats):
                out_dir = self.work / f"compiled-{target}-{i}"
                # The local settings name no bucket, endpoint or image tag: the pre-flight
                # findings are reported, not blocking, so the compile itself is timed.
                command = [*self.mlops, "compile", "--target", target, "--tag", "bench",
                           "-o", str(out_dir)]
                if rules:
                    command += ["--ignore", rules]
                _say(f"compile {target} #{i + 1}")
                m = proc_measure.measure(command, env=_clean_env(), cwd=str(ROOT),
                                         log_path=self._log(f"compile-{target}-{i + 1}"))
                if not m.ok:
                    self.error(f"compile {target}: exit {m.returncode}; log {m.log}:\n"
                               + proc_measure.tail(m.log, 5))
                    note = "failed"
                    break
                runs.append(m.seconds)
                peak = max(peak or 0, m.peak_rss_mb)
                said = re.search(r"\] compiled .*?([\d.]+) s\)\s*$", Path(m.log).read_text(),
                                 re.M)
                if said:
                    inner.append(float(said.group(1)))
                shutil.rmtree(out_dir, ignore_errors=True)
            med_inner = results_report.median(inner)
            if runs and med_inner is not None:
                note = (f"median of {len(runs)}; the command reports {med_inner:.1f} s from its "
                        "runner being ready to the file written (pipeline build, pre-flight "
                        "check, compile); the rest is start-up, settings and imports before that")
            targets[target] = {"runs": runs, "median_seconds": results_report.median(runs),
                               "compile_step_seconds": inner, "peak_rss_mb": peak, "note": note}
            _say(f"compile {target}: {runs}")
        self.results["compile"] = {"targets": targets}
        self.save()

    # ----- 5: prediction service --------------------------------------------------------
    def serving(self) -> None:
        script = HERE / "serving_bench.py"
        if not script.exists():
            self.results["serving"] = {"skipped": "Not measured: benchmarks/serving_bench.py "
                                       "(owned by the release work) is not there yet."}
            self.save()
            return
        helptext = subprocess.run([self.python, str(script), "--help"], capture_output=True,
                                  text=True, cwd=str(ROOT), env=_clean_env()).stdout
        command = [self.python, str(script)]
        model = self.args.serving_model or (self.serving_model or {}).get("model")
        if model and "--model" in helptext:
            command += ["--model", str(model)]
        if self.args.quick and "--requests" in helptext:
            command += ["--requests", "200"]
        json_path = self.work / "serving.json"
        if "--json" in helptext:
            command += ["--json", str(json_path)]
        _say(f"serving: {' '.join(command[1:])}")
        m = proc_measure.measure(command, env=_clean_env(), cwd=str(ROOT),
                                 log_path=self._log("serving"), timeout=self.args.run_timeout)
        figures = json.loads(json_path.read_text()) if json_path.exists() else None
        if figures is None:  # it prints a Markdown table: read that
            lines = [line for _, line in proc_measure.stamped_lines(Path(m.log).read_text())]
            figures = markdown_rows(lines) or None
            said = [line for line in lines if line.startswith("model ")]
            if said:
                self.results["meta"]["serving_setup"] = said[0]
        if not m.ok or not figures:
            self.error(f"serving_bench.py: exit {m.returncode}, no figures; log {m.log}:\n"
                       + proc_measure.tail(m.log, 8))
        self.results["serving"] = {"command": command, "measured": m.to_dict(),
                                   "figures": figures}
        self.save()

    def cleanup(self) -> None:
        if not self.args.keep and not self.args.workdir:
            shutil.rmtree(self.work, ignore_errors=True)


def markdown_rows(lines: list[str]) -> list[dict]:
    """The rows of the first Markdown table in `lines`, as dicts keyed by its header."""
    table = [line.strip() for line in lines if line.strip().startswith("|")]
    if len(table) < 3:
        return []
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    header, rows = cells[0], [c for c in cells[2:] if len(c) == len(cells[0])]

    def number(text):
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            return text

    return [{h: number(c) for h, c in zip(header, row)} for row in rows]


def tfx_template_sample() -> str:
    import importlib.util

    spec = importlib.util.find_spec("tfx")
    return str(Path(list(spec.submodule_search_locations)[0]) / "examples" /
               "chicago_taxi_pipeline" / "data" / "simple" / "data.csv")


def component_cpu(marks: list) -> dict[str, float]:
    """CPU seconds of the process tree between a component's opening and closing lines."""
    opened: dict[str, float] = {}
    out: dict[str, float] = {}
    for _, cpu, line, *_ in marks:
        match = _OURS_MARK.search(line) or _TEMPLATE_MARK.search(line)
        if not match:
            continue
        name, what = match.groups()
        if what in ("started", "running"):
            opened[name] = cpu
        elif name in opened:
            out[name] = round(cpu - opened.pop(name), 2)
    return out


def component_peak_mb(marks: list) -> dict[str, float]:
    """Peak RSS of the process tree while each component ran (between its opening and
    closing lines). Freed memory is not always returned to the system, so a component's
    peak is at least what the one before it left behind: look for the jumps."""
    out: dict[str, float] = {}
    current = None
    for _, _, line, window_mb in (m for m in marks if len(m) == 4):
        match = _OURS_MARK.search(line) or _TEMPLATE_MARK.search(line)
        if not match:
            continue
        name, what = match.groups()
        if what in ("started", "running"):
            current = name
        elif name == current:
            out[name] = window_mb
            current = None
    return out


def component_profile(pairs: list[dict]) -> list[dict]:
    """Median seconds per component for ours and the template, plus time outside them."""
    med = results_report.median
    ours_names, template_names = [], []
    for p in pairs:
        for n in p["ours"].get("components") or {}:
            if n not in ours_names:
                ours_names.append(n)
        for n in p["template"].get("components") or {}:
            if n not in template_names:
                template_names.append(n)
    # The two pipelines share most component ids; list ours in run order, then the rest.
    names = ours_names + [n for n in template_names if n not in ours_names]
    rows = []

    def per(who, key, n):
        return med([(p[who].get(key) or {}).get(n) for p in pairs])

    for n in names:
        rows.append({"component": n,
                     "ours": per("ours", "components", n),
                     "template": per("template", "components", n),
                     "ours_cpu": per("ours", "components_cpu", n),
                     "template_cpu": per("template", "components_cpu", n)})

    def outside(run, key, total):
        comps = run.get(key) or {}
        return run[total] - sum(comps.values()) if comps else None

    rows.append({"component": "outside components",
                 "ours": med([outside(p["ours"], "components", "seconds") for p in pairs]),
                 "template": med([outside(p["template"], "components", "seconds")
                                  for p in pairs]),
                 "ours_cpu": med([outside(p["ours"], "components_cpu", "cpu_seconds")
                                  for p in pairs]),
                 "template_cpu": med([outside(p["template"], "components_cpu", "cpu_seconds")
                                      for p in pairs])})
    rows.append({"component": "whole process",
                 "ours": med([p["ours"]["seconds"] for p in pairs]),
                 "template": med([p["template"]["seconds"] for p in pairs]),
                 "ours_cpu": med([p["ours"].get("cpu_seconds") for p in pairs]),
                 "template_cpu": med([p["template"].get("cpu_seconds") for p in pairs])})
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    _say(f"benchmarks ({'quick' if args.quick else 'full'}): sections {', '.join(args.only)}; "
         f"scratch {bench.work}; results {bench.out}")
    try:
        for section in SECTIONS:
            if section in args.only:
                try:
                    getattr(bench, section)()
                except Exception as exc:  # one broken section must not lose the others
                    bench.error(f"section {section}: {type(exc).__name__}: {exc}")
                    bench.save()
    finally:
        bench.save(final=True)
        bench.cleanup()
    _say(f"wrote {bench.out / 'results.md'} and results.json")
    for goal in bench.results["goals"]:
        print(f"  {goal['verdict']:>12}  {goal['goal']}: {goal['measured']} (target {goal['target']})")
    return 1 if bench.results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
