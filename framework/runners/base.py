"""The interface every runner implements, and the result every run returns."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class ComponentResult:
    name: str
    state: str  # "complete", "cached", "failed", "skipped"
    seconds: float = 0.0
    error: Optional[str] = None


@dataclass
class RunResult:
    """What ran, what was cached, the evaluation metrics and the blessing."""

    pipeline: str
    run_id: str
    runner: str
    succeeded: bool
    components: list[ComponentResult] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    blessed: Optional[bool] = None
    pushed_model: Optional[str] = None
    seconds: float = 0.0
    error: Optional[str] = None

    @property
    def ran(self) -> list[str]:
        return [c.name for c in self.components if c.state == "complete"]

    @property
    def cached(self) -> list[str]:
        return [c.name for c in self.components if c.state == "cached"]

    def to_dict(self) -> dict:
        import dataclasses

        out = dataclasses.asdict(self)
        out["ran"], out["cached"] = self.ran, self.cached
        return out


class Runner(abc.ABC):
    """A backend that compiles and runs a pipeline built from resolved settings."""

    name: str = "abstract"

    def __init__(self, settings, **options):
        self.settings = settings
        self.options = options

    def build_pipeline(self):
        """The TFX pipeline from the pipeline package's factory, for this runner's settings."""
        from framework.core import speedups
        from framework.pipeline.discovery import load_factory

        with speedups.building(self.settings):
            return load_factory(self.settings.pipeline.name)(self.settings)

    @abc.abstractmethod
    def run(self, progress=None) -> RunResult:
        """Run the pipeline; `progress` receives component start/end events."""

    def compile(self, out_dir: str) -> str:
        """Write the pipeline in the target's format; return the file's path."""
        raise NotImplementedError(f"the {self.name} runner has nothing to compile")
