"""portable-mlops: one TFX pipeline, run locally, in a container, on Kubeflow or Vertex AI."""

__version__ = "0.1.0"
