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
        from framework.production.preflight import run_preflight

        self.findings = run_preflight(self.target_settings, self.name, self.build_pipeline())
        return self.findings

    def check_settings(self):
        """Only the settings rules: what deploy --package can still check (no pipeline)."""
        from framework.production.preflight import check_settings, raise_on_errors

        self.findings = check_settings(self.target_settings, self.name)
        raise_on_errors(self.findings, self.ignore, printer=self.printer)

    def package_or_compile(self, package, out_dir):
        """A compiled file: the one given (settings re-checked), or compiled now."""
        from framework.production.compile import default_out_dir, load_compiled

        if package:
            self.require_tag()
            self.check_settings()
            return load_compiled(self.name, package)
        return self.compile_checked(out_dir or default_out_dir(self.settings))

    def compile(self, out_dir: str) -> str:
        """Pre-flight check (stops on errors not ignored), then write the target's file."""
        return str(self.compile_checked(out_dir).path)

    def require_tag(self):
        """Stop before anything is built when there is no image tag, saying how to give one.

        Without it the pre-flight check would also report what follows from it (Dataflow's
        default worker image is the tagged pipeline image), which reads as a second problem.
        """
        from framework.core.errors import UserError

        if self.release.tag or "image-tag" in self.ignore or "@" in (self.release.image or ""):
            return  # tagged, told to go ahead (`--ignore image-tag`), or pinned by digest
        settings = self.settings
        raise UserError(
            f"{settings.pipeline.name} on {self.name} ('{settings.env}') needs an image tag, "
            "the version of the image every step runs: pass --tag TAG (a commit SHA or "
            "release tag) or --manifest FILE (from `mlops ci build`), or set image.tag in the "
            f"'{settings.env}' block of {settings.source or 'settings.yaml'}")

    def compile_checked(self, out_dir):
        from framework.production.compile import compile_pipeline
        from framework.production.preflight import raise_on_errors

        self.require_tag()
        raise_on_errors(self.check(), self.ignore, printer=self.printer)
        return compile_pipeline(self.target_settings, self.name, Path(out_dir),
                                self.build_pipeline())

    def deploy(self, *, package=None, out_dir=None, run=False, wait=False, timeout=None):
        raise NotImplementedError

    def run(self, progress=None) -> RunResult:
        """Deploy, start a run and wait for it: what `mlops run --runner <target>` does.

        A run that ends in another state than succeeded is a RunResult with succeeded=False
        (as on the local runner); options `package`, `out_dir` and `timeout` are honoured.
        """
        from framework.core.errors import RunFailedError

        started = time.monotonic()
        try:
            outcome = self.deploy(package=self.options.get("package"),
                                  out_dir=self.options.get("out_dir"), run=True, wait=True,
                                  timeout=self.options.get("timeout"))
        except RunFailedError as exc:
            return RunResult(pipeline=self.settings.pipeline.name, run_id="", runner=self.name,
                             succeeded=False, seconds=time.monotonic() - started,
                             error=str(exc))
        return RunResult(
            pipeline=self.settings.pipeline.name, run_id=outcome.run_id or "", runner=self.name,
            succeeded=outcome.state_ok, seconds=time.monotonic() - started, error=outcome.error)
