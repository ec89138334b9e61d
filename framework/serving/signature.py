"""Turn TensorFlow Serving REST request bodies into tensors, checked against the signature.

The feature names, dtypes and shapes come from the loaded model's signature, never from a
hard-coded list, so the same code serves any SavedModel. Anything a client can get wrong
raises `RequestError` with a message that says what and where (answered with 400).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import numpy as np

from framework.serving.errors import ServingError


class RequestError(ServingError):
    """The request is malformed: INVALID_ARGUMENT over gRPC, 400 over REST."""

    def __init__(self, message: str) -> None:
        super().__init__("INVALID_ARGUMENT", message)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # numpy-style name: int64, float32, string, bool, ...
    shape: tuple  # None for unknown dimensions; the first is the batch dimension


@dataclass(frozen=True)
class Signature:
    name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]


def describe_signature(name: str, function) -> Signature:
    """Signature of a concrete function from `tf.saved_model.load(...).signatures`."""
    _, kwargs = function.structured_input_signature

    def info(key, spec) -> TensorInfo:
        dtype = "string" if spec.dtype.name == "string" else spec.dtype.name
        shape = tuple(spec.shape.as_list()) if spec.shape.rank is not None else (None,)
        return TensorInfo(key, dtype, shape)

    inputs = {k: info(k, spec) for k, spec in sorted(kwargs.items())}
    outputs = {k: info(k, spec) for k, spec in sorted(function.structured_outputs.items())}
    return Signature(name, inputs, outputs)


_INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_FLOATS = {"float16", "bfloat16", "float32", "float64", "half", "double"}


def _check_scalar(value: Any, info: TensorInfo, where: str) -> Any:
    dtype = info.dtype
    if dtype == "string":
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(f"{where}: 'b64' is not valid base64") from None
        raise RequestError(f"{where}: expected a string, got {_kind(value)}")
    if dtype == "bool":
        if isinstance(value, bool):
            return value
        raise RequestError(f"{where}: expected true or false, got {_kind(value)}")
    if dtype in _INTS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise RequestError(f"{where}: expected an integer ({dtype}), got {_kind(value)}")
    if dtype in _FLOATS:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise RequestError(f"{where}: expected a number ({dtype}), got {_kind(value)}")
    raise RequestError(f"{where}: inputs of type {dtype} are not supported over REST")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:20] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_value(value: Any, info: TensorInfo, item_shape: tuple, where: str) -> Any:
    """One example's value: a scalar for item_shape (), nested lists otherwise."""
    if not item_shape:
        if isinstance(value, list):
            raise RequestError(f"{where}: expected a single value per example, got a list")
        return _check_scalar(value, info, where)
    if not isinstance(value, list):
        raise RequestError(f"{where}: expected a list of {item_shape[0] or 'any number of'} "
                           f"values, got {_kind(value)}")
    if item_shape[0] is not None and len(value) != item_shape[0]:
        raise RequestError(f"{where}: expected {item_shape[0]} values, got {len(value)}")
    return [_check_value(v, info, item_shape[1:], f"{where}[{i}]") for i, v in enumerate(value)]


def _np_dtype(dtype: str):
    return object if dtype == "string" else np.dtype(dtype.replace("half", "float16"))


def check_names(given, signature: Signature, where: str) -> None:
    expected = set(signature.inputs)
    unknown = sorted(set(given) - expected)
    missing = sorted(expected - set(given))
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown input(s) {', '.join(unknown)}")
        if missing:
            parts.append(f"missing input(s) {', '.join(missing)}")
        raise RequestError(f"{where}: {'; '.join(parts)} (signature '{signature.name}' takes: "
                           f"{', '.join(sorted(expected))})")


def parse_predict_body(body: Any, signature: Signature) -> tuple[dict[str, np.ndarray], str]:
    """(tensors by input name, 'row' or 'columnar') from a parsed :predict JSON body."""
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {_kind(body)}")
    forms = [k for k in ("instances", "inputs") if k in body]
    if len(forms) != 1:
        raise RequestError("the request must have exactly one of 'instances' (row format) "
                           "or 'inputs' (columnar format)")
    extra = sorted(set(body) - {"instances", "inputs", "signature_name"})
    if extra:
        raise RequestError(f"unknown request field(s): {', '.join(extra)}")
    single = next(iter(signature.inputs)) if len(signature.inputs) == 1 else None
    if forms[0] == "instances":
        return _rows(body["instances"], signature, single), "row"
    return _columns(body["inputs"], signature, single), "columnar"


def _rows(instances: Any, signature: Signature, single) -> dict[str, np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise RequestError("'instances' must be a non-empty list of examples")
    columns: dict[str, list] = {name: [] for name in signature.inputs}
    for i, instance in enumerate(instances):
        if single is not None and (not isinstance(instance, dict) or set(instance) == {"b64"}):
            instance = {single: instance}
        if not isinstance(instance, dict):
            raise RequestError(f"instances[{i}]: expected an object of named inputs, "
                               f"got {_kind(instance)}")
        check_names(instance, signature, f"instances[{i}]")
        for name, info in signature.inputs.items():
            columns[name].append(
                _check_value(instance[name], info, info.shape[1:], f"instances[{i}].{name}"))
    return {name: _array(values, signature.inputs[name]) for name, values in columns.items()}


def _columns(inputs: Any, signature: Signature, single) -> dict[str, np.ndarray]:
    if single is not None and not isinstance(inputs, dict):
        inputs = {single: inputs}
    if not isinstance(inputs, dict):
        raise RequestError(f"'inputs' must be an object of named inputs, got {_kind(inputs)}")
    check_names(inputs, signature, "inputs")
    arrays, sizes = {}, set()
    for name, info in signature.inputs.items():
        values = inputs[name]
        if not isinstance(values, list) or not values:
            raise RequestError(f"inputs.{name}: expected a non-empty list with one value per "
                               f"example, got {_kind(values)}")
        checked = [_check_value(v, info, info.shape[1:], f"inputs.{name}[{i}]")
                   for i, v in enumerate(values)]
        arrays[name] = _array(checked, info)
        sizes.add(len(values))
    if len(sizes) > 1:
        raise RequestError("inputs: every input must have the same number of examples, got "
                           + ", ".join(f"{n}={len(inputs[n])}" for n in sorted(inputs)))
    return arrays


def _array(values: list, info: TensorInfo) -> np.ndarray:
    try:
        return np.array(values, dtype=_np_dtype(info.dtype))
    except (OverflowError, ValueError) as exc:
        raise RequestError(f"{info.name}: values do not fit {info.dtype} ({exc})") from None


def to_json_value(array: np.ndarray) -> Any:
    """A numpy output as JSON: bytes become text (or {"b64": ...} when not UTF-8)."""
    if array.dtype == object or array.dtype.kind == "S":
        def convert(item):
            if isinstance(item, list):
                return [convert(x) for x in item]
            try:
                return item.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(item).decode("ascii")}
        return convert(array.tolist())
    return array.tolist()


def format_response(outputs: dict[str, np.ndarray], form: str) -> dict:
    """TF Serving's response shapes: `predictions` for rows, `outputs` for columns."""
    if form == "columnar":
        if len(outputs) == 1:
            return {"outputs": to_json_value(next(iter(outputs.values())))}
        return {"outputs": {k: to_json_value(v) for k, v in outputs.items()}}
    if len(outputs) == 1:
        return {"predictions": to_json_value(next(iter(outputs.values())))}
    columns = {k: to_json_value(v) for k, v in outputs.items()}
    size = len(next(iter(columns.values())))
    return {"predictions": [{k: columns[k][i] for k in columns} for i in range(size)]}


# TensorFlow's DataType enum names where they differ from DT_<numpy name>.
_TF_DTYPE_NAMES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF",
                   "half": "DT_HALF", "double": "DT_DOUBLE"}


def signature_def_json(signature: Signature) -> dict:
    """The signature in the shape of TF Serving's GET .../metadata answer."""
    def tensor(info: TensorInfo, prefix: str) -> dict:
        dtype = _TF_DTYPE_NAMES.get(info.dtype, f"DT_{info.dtype.upper()}")
        dims = [{"size": str(-1 if d is None else d), "name": ""} for d in info.shape]
        return {"dtype": dtype, "tensor_shape": {"dim": dims, "unknown_rank": False},
                "name": f"{prefix}_{info.name}:0"}

    return {
        "inputs": {k: tensor(v, signature.name) for k, v in signature.inputs.items()},
        "outputs": {k: tensor(v, "StatefulPartitionedCall") for k, v in
                    signature.outputs.items()},
        "method_name": "tensorflow/serving/predict",
    }
