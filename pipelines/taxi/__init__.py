"""Chicago taxi tips: a wide-and-deep classifier of big tippers, the full TFX flow."""

from pipelines.taxi.pipeline import create_pipeline

__all__ = ["create_pipeline"]
