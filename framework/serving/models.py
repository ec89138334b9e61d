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
        self._callers = {name: _Caller(tf, fn, sig) for name, (fn, sig) in self.signatures.items()}
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
        outputs = self._callers[signature_name or "serving_default"](arrays)
        return {name: value.numpy() for name, value in outputs.items()}


class _Caller:
    """One signature's call on numpy inputs.

    `fn(**tensors)` binds its keyword arguments to the signature on every call, about
    0.35 ms of Python on the taxi model (a third of the call), before the flat call it then
    makes. The batch runner calls the model for every batch, so this makes that flat call
    directly, with the inputs in the order the binding produces (by name, as tf.nest
    flattens a dict). `_call_flat` is TensorFlow's private API: the first calls (the load's
    warm-up, whose inputs are all alike, and the first request) check that it answers
    exactly as `fn(**tensors)` does, and on any difference or error the caller keeps to
    `fn(**tensors)`.
    """

    CHECKS = 2

    def __init__(self, tf, fn, signature: Signature) -> None:
        self._tf = tf
        self._fn = fn
        self._dtypes = {name: tf.dtypes.as_dtype(info.dtype) for name, info in
                        signature.inputs.items()}
        self._order = sorted(self._dtypes)
        self._flat = None  # None: being checked; False: use fn(**tensors); True: flat calls
        self._checked = 0

    def __call__(self, arrays: dict[str, np.ndarray]) -> dict:
        constant = self._tf.constant
        tensors = {name: constant(arrays[name], dtype=dtype)
                   for name, dtype in self._dtypes.items()}
        if self._flat:
            return self._fn._call_flat([tensors[n] for n in self._order],
                                       self._fn.captured_inputs)
        outputs = self._fn(**tensors)
        if self._flat is None:
            self._checked += 1
            if not self._flat_call_agrees(tensors, outputs):
                self._flat = False
            elif self._checked >= self.CHECKS:
                self._flat = True
        return outputs

    def _flat_call_agrees(self, tensors: dict, expected: dict) -> bool:
        try:
            flat = self._fn._call_flat([tensors[n] for n in self._order],
                                       self._fn.captured_inputs)
            return set(flat) == set(expected) and all(
                np.array_equal(flat[k].numpy(), expected[k].numpy()) for k in expected)
        except Exception:  # noqa: BLE001 - another TensorFlow: keep to the public call
            return False


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
