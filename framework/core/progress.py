"""Progress of a run, component by component, and its closing summary."""

from __future__ import annotations

import sys
import time


class ConsoleProgress:
    """Prints one line when a component starts and one when it ends."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._started: dict[str, float] = {}
        self.total = 0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def pipeline_started(self, name: str, run_id: str, components: list[str], where: str) -> None:
        self.total = len(components)
        self._print(f"pipeline {name}: run {run_id} on {where}, {self.total} components")

    def message(self, text: str) -> None:
        self._print(text)

    def component_started(self, index: int, name: str) -> None:
        self._started[name] = time.monotonic()
        self._print(f"[{index:>2}/{self.total}] {name:<32} started")

    def component_finished(self, index: int, name: str, state: str, seconds: float) -> None:
        self._print(f"[{index:>2}/{self.total}] {name:<32} {state:<8} {seconds:7.1f}s")


class SilentProgress(ConsoleProgress):
    def _print(self, text: str) -> None:
        pass


def format_summary(result) -> str:
    """The closing summary of a RunResult, as printed by `mlops run`."""
    lines = [
        "",
        f"run id:      {result.run_id}",
        f"status:      {'succeeded' if result.succeeded else 'FAILED'} in {result.seconds:.1f}s",
        f"ran:         {len(result.ran)} ({', '.join(result.ran) or '-'})",
        f"cached:      {len(result.cached)} ({', '.join(result.cached) or '-'})",
    ]
    if result.metrics:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(result.metrics.items()))
        lines.append(f"metrics:     {shown}")
    if result.blessed is not None:
        lines.append(f"blessed:     {'yes' if result.blessed else 'no'}")
    lines.append(f"pushed:      {result.pushed_model or 'nothing pushed'}")
    return "\n".join(lines)
