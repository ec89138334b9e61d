"""The rehearsal against `mlops run`: same data, same training steps, whole-process figures.

    python benchmarks/rehearsal_bench.py [--runs 3] [--train-steps 100] [--image REF]

Each run is a fresh process with fresh folders (nothing cached). Measured from outside:
wall time, peak RSS of the CLI's process tree, and the peak of the machine's memory in use
above what it used before the run, which is the figure that includes the task containers
(their processes belong to the engine, not to the CLI's tree). Then where the rehearsal's
extra time goes: an empty container's start, the imports each task repeats, and each task
against the same component of the local run.

Writes benchmarks/results/<date>-<commit>/rehearsal.json and rehearsal.md. Needs a Docker
API (DOCKER_HOST) and the pipeline image (`mlops image build`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import proc_measure  # noqa: E402
import results_report  # noqa: E402

TASK_IMPORTS = ("import tensorflow, tensorflow_transform, tfx.orchestration.kubeflow.v2."
                "container.kubeflow_v2_run_executor")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--eval-steps", type=int, default=50)
    parser.add_argument("--probes", type=int, default=5,
                        help="repeats of the container start and import probes (default 5)")
    parser.add_argument("--image", default="localhost/portable-mlops:local",
                        help="the pipeline image (default: what `mlops image build` makes)")
    parser.add_argument("--out", default=None, help="results folder "
                        "(default: benchmarks/results/<date>-<commit>)")
    return parser.parse_args(argv)


def clean_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update({"MLOPS_PROJECT_ROOT": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                "TF_USE_LEGACY_KERAS": "1"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


class MachineMemory:
    """The peak of the machine's used memory above its level at start, sampled."""

    def __init__(self, interval: float = 0.5):
        import psutil

        self._psutil = psutil
        self.interval = interval
        self.baseline = psutil.virtual_memory().used
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._psutil.virtual_memory().used)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_above_baseline_mb(self) -> float:
        return round((self.peak - self.baseline) / 2**20, 1)


def measured(name: str, command: list[str], env: dict, logs: Path, json_path: Path) -> dict:
    print(f"{name}: {' '.join(command[3:])}", flush=True)
    with MachineMemory() as memory:
        m = proc_measure.measure(command, env=env, cwd=str(ROOT),
                                 log_path=str(logs / f"{name}.log"), timeout=3600)
    result = json.loads(json_path.read_text()) if json_path.exists() else {}
    out = {"seconds": round(m.seconds, 1), "peak_tree_rss_mb": round(m.peak_rss_mb, 1),
           "machine_memory_peak_above_baseline_mb": memory.peak_above_baseline_mb,
           "returncode": m.returncode, "blessed": result.get("blessed"),
           "components": {c["name"]: c["seconds"] for c in result.get("components", [])}}
    print(f"{name}: {out['seconds']} s, tree {out['peak_tree_rss_mb']:.0f} MB, machine "
          f"+{out['machine_memory_peak_above_baseline_mb']:.0f} MB, exit {m.returncode}",
          flush=True)
    if m.returncode != 0:
        out["log_tail"] = proc_measure.tail(m.log, 15)
    return out


def local_run(i: int, args, work: Path, logs: Path) -> dict:
    run_dir = work / f"local-{i}"
    env = clean_env({
        "MLOPS_PIPELINE__PIPELINE_ROOT": run_dir / "pipeline_root",
        "MLOPS_PIPELINE__SERVING_DIR": run_dir / "serving",
        "MLOPS_METADATA__SQLITE_PATH": run_dir / "metadata.sqlite",
        "MLOPS_TRAINING__TRAIN_STEPS": args.train_steps,
        "MLOPS_TRAINING__EVAL_STEPS": args.eval_steps})
    json_path = run_dir / "result.json"
    run_dir.mkdir(parents=True)
    command = [sys.executable, "-m", "framework", "run", "--pipeline", "taxi", "--no-cache",
               "--json", str(json_path)]
    return measured(f"local-{i}", command, env, logs, json_path)


def rehearsal(i: int, args, work: Path, logs: Path) -> dict:
    root = work / f"rehearsal-{i}"
    env = clean_env({"MLOPS_TRAINING__TRAIN_STEPS": args.train_steps,
                     "MLOPS_TRAINING__EVAL_STEPS": args.eval_steps})
    json_path = work / f"rehearsal-{i}.json"
    command = [sys.executable, "-m", "framework", "rehearse", "--env", "dev", "--target",
               "kubeflow", "--tag", "benchmark", "--local-image", args.image, "--root",
               str(root), "--json", str(json_path)]
    return measured(f"rehearsal-{i}", command, env, logs, json_path)


def probe(client, image: str, command: list[str], repeats: int) -> list[float]:
    """Wall seconds of `docker run --rm image command`, `repeats` times."""
    times = []
    for _ in range(repeats):
        started = time.monotonic()
        client.containers.run(image, command, remove=True)
        times.append(round(time.monotonic() - started, 2))
    return times


def where_the_time_goes(args, local: list[dict], rehearsed: list[dict]) -> dict:
    from framework.container.client import docker_client

    med = results_report.median
    client = docker_client()
    start = probe(client, args.image, ["true"], args.probes)
    imports = probe(client, args.image, ["python", "-c", TASK_IMPORTS], args.probes)
    tasks = sorted(set().union(*(r["components"] for r in rehearsed)))
    per_task = {name: {"rehearsal": med([r["components"].get(name) for r in rehearsed]),
                       "local": med([r["components"].get(name) for r in local])}
                for name in tasks}
    image = client.images.get(args.image)
    return {"container_start_seconds": {"runs": start, "median": med(start)},
            "task_imports_seconds": {"runs": imports, "median": med(imports),
                                     "what": TASK_IMPORTS},
            "image_size_gb": round((image.attrs.get("Size") or 0) / 1e9, 2),
            "image_layers": len(image.history()),
            "per_task_median_seconds": per_task,
            "tasks": len(tasks)}


def summary(runs: list[dict]) -> dict:
    med = results_report.median
    return {"median_seconds": med([r["seconds"] for r in runs]),
            "median_peak_tree_rss_mb": med([r["peak_tree_rss_mb"] for r in runs]),
            "median_machine_memory_mb": med(
                [r["machine_memory_peak_above_baseline_mb"] for r in runs]),
            "all_succeeded": all(r["returncode"] == 0 for r in runs)}


def render(results: dict) -> str:
    loc, reh = results["local"]["summary"], results["rehearsal"]["summary"]
    why = results["where_the_time_goes"]
    lines = [
        f"# Rehearsal against `mlops run` ({results['meta']['date']}, commit "
        f"{results['meta']['commit']})", "",
        f"{results['meta']['runs']} fresh runs each, taxi sample (15,002 rows), "
        f"{results['meta']['train_steps']} training steps, "
        f"{results['meta']['machine']['cores']} cores. Medians.", "",
        "| | wall time | peak RSS of the CLI's process tree | machine memory above idle |",
        "|---|---|---|---|",
        f"| `mlops run` (local runner) | {loc['median_seconds']:.1f} s | "
        f"{loc['median_peak_tree_rss_mb']:,.0f} MB | {loc['median_machine_memory_mb']:,.0f} MB |",
        f"| `mlops rehearse` (kfp.local, a container per task) | {reh['median_seconds']:.1f} s"
        f" | {reh['median_peak_tree_rss_mb']:,.0f} MB | "
        f"{reh['median_machine_memory_mb']:,.0f} MB |", "",
        "Where the extra time goes:", "",
        f"- an empty container of the image ({why['image_size_gb']} GB, {why['image_layers']} "
        f"layers) starts and stops in {why['container_start_seconds']['median']:.2f} s;",
        f"- each task imports TensorFlow, TF Transform and TFX again: "
        f"{why['task_imports_seconds']['median']:.1f} s in a fresh container "
        f"({why['tasks']} tasks);", "",
        "| task | rehearsal (s) | local run (s) | extra (s) |", "|---|---|---|---|"]
    extra_total = 0.0
    for name, t in why["per_task_median_seconds"].items():
        extra = t["rehearsal"] - (t["local"] or 0.0)
        extra_total += extra
        local = "-" if t["local"] is None else f"{t['local']:.1f}"
        lines.append(f"| {name} | {t['rehearsal']:.1f} | {local} | {extra:.1f} |")
    lines += ["", f"The tasks take {extra_total:.1f} s more in all, "
              f"{extra_total / max(why['tasks'], 1):.1f} s a task: a new interpreter that "
              "imports the stack again, a container, and kfp.local's executor input."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    measured_commit = results_report.commit(ROOT)  # once: the tree may move on meanwhile
    out = Path(args.out) if args.out else results_report.default_folder(ROOT, measured_commit)
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rehearsal-bench-") as tmp:
        work = Path(tmp)
        local, rehearsed = [], []
        for i in range(1, args.runs + 1):  # alternate, so drift of the machine hits both
            local.append(local_run(i, args, work, logs))
            rehearsed.append(rehearsal(i, args, work, logs))
    results = {
        "meta": {"date": f"{datetime.now(timezone.utc):%Y-%m-%d}", "commit": measured_commit,
                 "runs": args.runs, "train_steps": args.train_steps,
                 "eval_steps": args.eval_steps, "image": args.image,
                 "machine": results_report.machine(), "versions": results_report.versions()},
        "local": {"runs": local, "summary": summary(local)},
        "rehearsal": {"runs": rehearsed, "summary": summary(rehearsed)},
        "where_the_time_goes": where_the_time_goes(args, local, rehearsed),
    }
    (out / "rehearsal.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "rehearsal.md").write_text(render(results))
    print(f"wrote {out / 'rehearsal.md'}")
    return 0 if results["local"]["summary"]["all_succeeded"] and \
        results["rehearsal"]["summary"]["all_succeeded"] else 1


if __name__ == "__main__":
    sys.exit(main())
