"""Figures in the README name the benchmark result they come from, and agree with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_start_times_are_the_ones_the_named_benchmark_measured():
    readme = (ROOT / "README.md").read_text()
    quick = readme[readme.index("## Quick start"):readme.index("\n## ", readme.index("## Quick start") + 5)]
    [folder] = re.findall(r"benchmarks/results/([\w.-]+)", quick)
    steps = json.loads((ROOT / "benchmarks" / "results" / folder / "quickstart.json").read_text())
    seconds = {s["step"]: s["seconds"] for s in steps["steps"]}
    for step in ("cold", "second_line_setup", "warm"):
        shown = f"{seconds[step]:.1f}".removesuffix(".0")
        assert f"{shown} s" in quick, (step, shown)
