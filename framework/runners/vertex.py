"""Vertex AI Pipelines: compile to PipelineJob JSON, submit with google-cloud-aiplatform."""

from __future__ import annotations

from framework.production.target import ProductionRunner


class VertexRunner(ProductionRunner):
    name = "vertex"

    def deploy(self, *, package=None, out_dir=None, run=False, wait=False, timeout=None):
        """Build the PipelineJob (always) and submit it with `run` (then wait with `wait`)."""
        from framework.production.vertex_submit import submit_to_vertex

        compiled = self.package_or_compile(package, out_dir)
        return submit_to_vertex(self.target_settings, compiled, self.release.version, run=run,
                                wait=wait, timeout=timeout, printer=self.printer,
                                poll_seconds=self.options.get("poll_seconds", 10.0))
