"""Kubeflow Pipelines 2.x: compile to IR YAML, upload and version through kfp.Client."""

from __future__ import annotations

from framework.production.target import ProductionRunner


class KubeflowRunner(ProductionRunner):
    name = "kubeflow"

    def deploy(self, *, package=None, out_dir=None, run=False, wait=False, timeout=None):
        """Upload the pipeline (first time) or a version named with the release's tag."""
        from framework.production.kfp_deploy import deploy_to_kfp

        compiled = self.package_or_compile(package, out_dir)
        return deploy_to_kfp(self.target_settings, compiled, self.release.version, run=run,
                             wait=wait, timeout=timeout, printer=self.printer,
                             poll_seconds=self.options.get("poll_seconds", 10.0))

