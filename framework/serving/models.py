"""A loaded SavedModel version: its signatures read from the model, and a predict call."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from framework.serving.signature import RequestError, Signature, describe_signature


class LoadedModel:
    def __init__(self, version: str, path: str) -> None:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # the transform layer needs Keras 2
        import tensorflow as tf

        self.version = version
        self.path = path
        self._tf = tf
        self._model = tf.saved_model.load(path)
        self.signatures: dict[str, tuple] = {
            name: (fn, describe_signature(name, fn)) for name, fn in self._model.signatures.items()
        }
        self._warm_up()

    def _warm_up(self) -> None:
        """One prediction with placeholder values, so the first real request does not pay
        for graph initialisation (about a second here, enough to trip a latency policy).
        A model that fails here still loads: its failures then show in its error count."""
        fn, sig = self.signatures.get("serving_default", (None, None))
        if fn is None:
            return
        arrays = {name: np.array([b"" if info.dtype == "string" else 0] * 1, dtype=object
                                 if info.dtype == "string" else info.dtype)
                  for name, info in sig.inputs.items() if len(info.shape) == 1}
        if len(arrays) != len(sig.inputs):
            return
        try:
            self.predict("serving_default", arrays)
        except Exception:  # noqa: BLE001 - see above
            pass

    def signature(self, name: str | None) -> Signature:
        name = name or "serving_default"
        if name not in self.signatures:
            raise RequestError(f"signature '{name}' not found (this model has: "
                               f"{', '.join(sorted(self.signatures))})")
        return self.signatures[name][1]

    def predict(self, signature_name: str | None, arrays: dict[str, np.ndarray]) \
            -> dict[str, np.ndarray]:
        fn, sig = self.signatures[signature_name or "serving_default"]
        tf = self._tf
        tensors = {name: tf.constant(arrays[name], dtype=tf.dtypes.as_dtype(
            "string" if info.dtype == "string" else info.dtype))
            for name, info in sig.inputs.items()}
        outputs = fn(**tensors)
        return {name: value.numpy() for name, value in outputs.items()}


@dataclass(frozen=True)
class LoadFailure:
    """A version that could not be loaded: requests routed to it fail (and count as errors)."""

    version: str
    path: str
    error: str


def load_version(version: str, path: str) -> "LoadedModel | LoadFailure":
    try:
        return LoadedModel(version, path)
    except Exception as exc:  # noqa: BLE001 - any load error makes the version unservable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return LoadFailure(version, path, f"{type(exc).__name__}: {first}")
