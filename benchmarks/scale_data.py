"""Taxi CSVs of a given row count for the scale curve.

Made by the project's data generator (local/generate_spans.py: rows drawn with replacement
from the Chicago taxi sample that ships in tfx) when it is there, else by the same
resampling done here with the standard library. The same seed gives the same file.
"""

from __future__ import annotations

import csv
import importlib.util
import random
from pathlib import Path

SAMPLE = "tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"


def sample_csv() -> Path:
    spec = importlib.util.find_spec("tfx")
    return Path(list(spec.submodule_search_locations)[0]).parent / SAMPLE


def _generator(project_root: Path):
    path = project_root / "local" / "generate_spans.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_bench_generate_spans", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "generate_span", None)


def resample(out: Path, rows: int, seed: int) -> None:
    with open(sample_csv(), newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        sample = list(reader)
    rng = random.Random(seed)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for start in range(0, rows, 100_000):
            writer.writerows(rng.choices(sample, k=min(100_000, rows - start)))
    tmp.rename(out)


def make_rows(data_dir: Path, rows: int, project_root: Path, seed: int = 8) -> tuple[Path, str]:
    """(folder holding one data.csv of `rows` rows, how it was made); reused if present."""
    folder = data_dir / f"rows-{rows}"
    out = folder / "data.csv"
    made_by = "local/generate_spans.py" if _generator(project_root) else "benchmarks resample"
    if out.exists():
        return folder, made_by
    folder.mkdir(parents=True, exist_ok=True)
    generate_span = _generator(project_root)
    if generate_span is not None:
        # The generator writes <root>/span-<N>/<file>: give it a scratch root, keep the file.
        written = generate_span(data_dir / f".gen-{rows}", rows, seed=seed, span=1)
        Path(written).rename(out)
    else:
        resample(out, rows, seed)
    return folder, made_by


def count_rows(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle) - 1


def main(argv: list[str]) -> int:
    """python scale_data.py DATA_DIR ROWS PROJECT_ROOT [SEED]: prints {"folder", "made_by"}.

    Run as its own process so the benchmark driver never holds the data in memory (a child
    forked from a large driver would inherit its peak RSS figure).
    """
    import json

    data_dir, rows, project_root = Path(argv[0]), int(argv[1]), Path(argv[2])
    seed = int(argv[3]) if len(argv) > 3 else 8
    folder, made_by = make_rows(data_dir, rows, project_root, seed)
    print(json.dumps({"folder": str(folder), "made_by": made_by}))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
