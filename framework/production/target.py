"""What the Kubeflow and Vertex runners share: target settings, pre-flight, compile."""

from __future__ import annotations

import time
from pathlib import Path

from framework.runners.base import Runner, RunResult


class ProductionRunner(Runner):
    """A runner that compiles for a managed orchestrator and deploys there."""

    name = "production"

    def __init__(self, settings, *, release=None, ignore=(), printer=print, **options):
        from framework.production.release import resolve_release

        super().__init__(settings, **options)
        self.release = release or resolve_release(settings)
        self.ignore = tuple(ignore)
        self.printer = printer
        self._pipeline = None
        self.findings = []

    @property
    def target_settings(self):
        from framework.production.compile import target_settings

        return target_settings(self.settings, self.name, self.release)

    def build_pipeline(self):
        from framework.production.compile import build_pipeline

        if self._pipeline is None:
            self._pipeline = build_pipeline(self.target_settings)
        return self._pipeline

    def check(self):
        """The pre-flight findings for this target (nothing raised)."""
        from framework.preflight import run_preflight

        self.findings = run_preflight(self.target_settings, self.name, self.build_pipeline())
        return self.findings

    def compile(self, out_dir: str) -> str:
        """Pre-flight check (stops on errors not ignored), then write the target's file."""
        return str(self.compile_checked(out_dir).path)

    def compile_checked(self, out_dir):
        from framework.preflight import raise_on_errors
        from framework.production.compile import compile_pipeline

        raise_on_errors(self.check(), self.ignore, printer=self.printer)
        return compile_pipeline(self.target_settings, self.name, Path(out_dir),
                                self.build_pipeline())

    def deploy(self, *, package=None, out_dir=None, run=False, wait=False, timeout=None):
        raise NotImplementedError

    def run(self, progress=None) -> RunResult:
        """Deploy, start a run and wait for it: what `mlops run --runner <target>` does."""
        started = time.monotonic()
        outcome = self.deploy(run=True, wait=True, timeout=self.options.get("timeout"))
        return RunResult(
            pipeline=self.settings.pipeline.name, run_id=outcome.run_id or "", runner=self.name,
            succeeded=outcome.state_ok, seconds=time.monotonic() - started, error=outcome.error)
