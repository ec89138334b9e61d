"""What a full garbage collection costs in a prediction server, with and without its heap
frozen (framework/serving/app.py `freeze_heap`).

    python benchmarks/heap_bench.py [--model SAVED_MODEL] [--out FOLDER]

Builds what `mlops serve` holds in one process: the serving modules (REST and gRPC) and one
loaded version of the model. Then times full collections (`gc.collect()`, the median of
REPEATS) as they are, and again after `freeze_heap`, and counts the objects the collector
tracks. A full collection holds the interpreter lock throughout, so the server answers no
request while it runs. Writes heap.json and heap.md to the results folder.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import results_report  # noqa: E402
import speed_probe  # noqa: E402

REPEATS = 5


def collection_ms(repeats: int = REPEATS) -> float:
    """The median time of a full collection, in milliseconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - started) * 1000.0)
    return round(statistics.median(times), 2)


def measure(model: Path) -> dict:
    """Tracked objects and full-collection times of a serving process, unfrozen and frozen."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import framework.serving.grpc_api  # noqa: F401 - the modules `mlops serve` imports
    import framework.serving.server  # noqa: F401
    from framework.serving.app import freeze_heap
    from framework.serving.models import LoadFailure, load_version

    loaded = load_version(model.name, str(model))
    if isinstance(loaded, LoadFailure):
        raise SystemExit(f"error: the model could not be loaded: {loaded.error}")
    gc.unfreeze()
    unfrozen = {"tracked_objects": len(gc.get_objects()), "full_collection_ms": collection_ms()}
    freeze_heap(collect=False)
    frozen = {"tracked_objects": len(gc.get_objects()), "frozen_objects": gc.get_freeze_count(),
              "full_collection_ms": collection_ms()}
    return {"unfrozen": unfrozen, "frozen": frozen}


def render(results: dict) -> str:
    meta, before, after = results["meta"], results["unfrozen"], results["frozen"]
    return "\n".join([
        "# Serving heap and garbage collection (`benchmarks/heap_bench.py`)", "",
        f"Commit {meta['commit']}, {meta['date']}; model `{meta['model']}`"
        f"{results_report.probes_text(meta)}. One process holding the serving modules and "
        "one loaded version; the median of "
        f"{REPEATS} full collections (`gc.collect()`), in which the server answers nothing.", "",
        "| heap | objects the collector tracks | full collection ms |", "|---|---:|---:|",
        f"| as loaded | {before['tracked_objects']:,} | {before['full_collection_ms']} |",
        f"| frozen (`freeze_heap`) | {after['tracked_objects']:,} | "
        f"{after['full_collection_ms']} |", ""])


def main(argv=None) -> int:
    from serving_bench import newest_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="SavedModel folder (default: the newest pushed)")
    parser.add_argument("--out", help="results folder (default: benchmarks/results/<date>-<commit>)")
    args = parser.parse_args(argv)
    model = (Path(args.model) if args.model else newest_model()).resolve()
    measured_commit = results_report.commit(ROOT)
    out = Path(args.out) if args.out else results_report.default_folder(ROOT, measured_commit)
    meta = {"commit": measured_commit, "model": model.name,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "machine": results_report.machine(), "speed_probe_at_start": speed_probe.probe()}
    results = {"meta": meta, **measure(model)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "heap.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "heap.md").write_text(render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
