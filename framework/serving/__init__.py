"""The local prediction service (TensorFlow Serving REST API) that `mlops serve` runs."""
