"""TensorFlow Serving's gRPC payloads as numpy arrays, checked against a model's signature.

The gRPC counterpart of signature.py's JSON parsing: `TensorProto`s in (dtype, shape and
value count checked against the signature, with messages in the spirit of the REST ones),
`TensorProto`s out, `tf.Example`s (Classify / Regress) turned into the signature's inputs,
and the signature's outputs read as classes or regression values. Anything a client can get
wrong raises `RequestError` (INVALID_ARGUMENT) before the model runs, so it is never counted
as the version's error.

Imported by the gRPC server path only: the protos live in the tensorflow package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from framework.serving.errors import ServingError
from framework.serving.signature import RequestError, Signature, TensorInfo, check_names

# numpy-style dtype name (TensorInfo.dtype) -> TensorFlow's DataType name and the
# TensorProto field that carries its values (TensorFlow's tensor.cc ProtoHelper).
_DTYPES = {
    "float32": ("DT_FLOAT", "float_val"),
    "float64": ("DT_DOUBLE", "double_val"),
    "float16": ("DT_HALF", "half_val"),  # as the bits of each value, in an int32
    "int8": ("DT_INT8", "int_val"),
    "int16": ("DT_INT16", "int_val"),
    "int32": ("DT_INT32", "int_val"),
    "uint8": ("DT_UINT8", "int_val"),
    "uint16": ("DT_UINT16", "int_val"),
    "int64": ("DT_INT64", "int64_val"),
    "uint32": ("DT_UINT32", "uint32_val"),
    "uint64": ("DT_UINT64", "uint64_val"),
    "bool": ("DT_BOOL", "bool_val"),
    "string": ("DT_STRING", "string_val"),
}
# The DataType numbers, for the per-request check (comparing names costs a lookup each).
_ENUMS = {dtype: types_pb2.DataType.Value(enum) for dtype, (enum, _) in _DTYPES.items()}
_ALIASES = {"half": "float16", "double": "float64", "float": "float32"}
_FLOATS = {"float16", "float32", "float64"}


def _dtype(name: str) -> str:
    return _ALIASES.get(name, name)


def dtype_enum_name(value: int) -> str:
    """DT_FLOAT for 1; the number itself when TensorFlow does not know it."""
    try:
        return types_pb2.DataType.Name(value)
    except ValueError:
        return f"DataType {value}"


def _numpy_dtype(dtype: str):
    return object if dtype == "string" else np.dtype(dtype)


def _format_shape(shape: Sequence) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


# -- TensorProto -> numpy (Predict inputs) ---------------------------------------------------

def arrays_from_tensors(inputs: Mapping[str, tensor_pb2.TensorProto],
                        signature: Signature) -> dict[str, np.ndarray]:
    """The PredictRequest's `inputs` map as arrays by input name, checked against the
    signature: names, dtypes, shapes, value counts and one batch size for all."""
    check_names(inputs, signature, "inputs")
    arrays = {name: to_array(inputs[name], info) for name, info in signature.inputs.items()}
    _check_batch(arrays, "inputs")
    return arrays


def to_array(proto: tensor_pb2.TensorProto, info: TensorInfo) -> np.ndarray:
    where = f"inputs.{info.name}"
    dtype = _dtype(info.dtype)
    if dtype not in _DTYPES:
        raise RequestError(f"{where}: inputs of type {info.dtype} are not supported over gRPC")
    if proto.dtype != _ENUMS[dtype]:
        raise RequestError(f"{where}: expected {dtype} ({_DTYPES[dtype][0]}), got "
                           f"{dtype_enum_name(proto.dtype)}")
    shape = _shape_of(proto, info, where)
    return _values(proto, dtype, shape, where).reshape(shape)


def _shape_of(proto: tensor_pb2.TensorProto, info: TensorInfo, where: str) -> tuple:
    if proto.tensor_shape.unknown_rank:
        raise RequestError(f"{where}: the tensor's shape must be known (unknown_rank is set)")
    shape = tuple([d.size for d in proto.tensor_shape.dim])
    expected = info.shape
    # Plain loops: this runs for every input of every gRPC request.
    for size in shape:
        if size < 0:
            raise RequestError(f"{where}: a request tensor cannot have a dimension of size "
                               f"-1 (got {_format_shape(shape)})")
    matches = len(shape) == len(expected)
    if matches:
        for want, size in zip(expected, shape):
            if want is not None and want != size:
                matches = False
    if not matches:
        raise RequestError(f"{where}: expected shape {_format_shape(expected)}, got "
                           f"{_format_shape(shape)} (-1 is any size)")
    return shape


def _values(proto: tensor_pb2.TensorProto, dtype: str, shape: tuple, where: str) -> np.ndarray:
    count = math.prod(shape)
    if proto.tensor_content:
        return _from_content(proto.tensor_content, dtype, shape, count, where)
    field = _DTYPES[dtype][1]
    given = getattr(proto, field)
    if len(given) > count:
        raise RequestError(f"{where}: {len(given)} values in {field} for shape "
                           f"{_format_shape(shape)}, which holds {count}")
    if not given:
        if count:
            raise RequestError(f"{where}: no values (set {field} or tensor_content)")
        return np.zeros(0, dtype=_numpy_dtype(dtype))
    array = _typed(given, dtype, where)
    if len(array) < count:
        # TensorFlow's rule (tensor.cc FromProtoField): the last value fills the rest, which
        # is how tf.make_tensor_proto sends a tensor of one repeated value.
        array = np.concatenate([array, np.repeat(array[-1:], count - len(array))])
    return array


def _from_content(content: bytes, dtype: str, shape: tuple, count: int,
                  where: str) -> np.ndarray:
    if dtype == "string":
        raise RequestError(f"{where}: strings go in string_val (tensor_content holds "
                           "fixed-size values only)")
    numpy_dtype = np.dtype(dtype).newbyteorder("<")  # TensorFlow writes little-endian hosts' bytes
    if len(content) != count * numpy_dtype.itemsize:
        raise RequestError(f"{where}: tensor_content has {len(content)} bytes; shape "
                           f"{_format_shape(shape)} of {dtype} needs "
                           f"{count * numpy_dtype.itemsize}")
    return np.frombuffer(content, dtype=numpy_dtype).astype(np.dtype(dtype))


def _typed(values, dtype: str, where: str) -> np.ndarray:
    # `values` is a protobuf repeated field: copied into a list first, numpy makes its array
    # two to four times as fast as from the field itself (which it reads as a generic
    # sequence), and this runs for every input of every gRPC request.
    values = list(values)
    if dtype == "string":
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    if dtype == "float16":
        return np.array(values, dtype=np.int64).astype(np.uint16).view(np.float16)
    if dtype in ("int8", "int16", "uint8", "uint16"):  # carried in int32's int_val
        return _fit(np.array(values, dtype=np.int64), dtype, where)
    return np.array(values, dtype=np.dtype(dtype))


def _fit(values: np.ndarray, dtype: str, where: str) -> np.ndarray:
    """Integers into a narrower type, refusing any that do not fit (numpy would wrap)."""
    limits = np.iinfo(dtype)
    bad = values[(values < limits.min) | (values > limits.max)]
    if bad.size:
        raise RequestError(f"{where}: {bad[0]} does not fit {dtype}")
    return values.astype(dtype)


def _check_batch(arrays: Mapping[str, np.ndarray], where: str) -> None:
    sizes = {name: array.shape[0] for name, array in arrays.items() if array.ndim}
    if len(set(sizes.values())) > 1:
        raise RequestError(f"{where}: every input must have the same number of examples "
                           "(first dimension), got "
                           + ", ".join(f"{n}={s}" for n, s in sorted(sizes.items())))
    if 0 in sizes.values():
        raise RequestError(f"{where}: the batch is empty (no examples)")


# -- numpy -> TensorProto (Predict outputs) --------------------------------------------------

def tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """An output array as TF Serving answers it: values in the typed field (float_val, ...),
    which clients read directly as well as through tf.make_ndarray."""
    array = np.asarray(array)
    dtype = "string" if array.dtype == object or array.dtype.kind in "SU" else array.dtype.name
    if dtype not in _DTYPES:
        raise ServingError("INTERNAL", f"an output of type {array.dtype} cannot be sent over "
                                       "gRPC")
    enum_name, field = _DTYPES[dtype]
    proto = tensor_pb2.TensorProto(
        dtype=types_pb2.DataType.Value(enum_name),
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape]))
    flat = array.reshape(-1)
    if dtype == "string":
        values = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat]
    elif dtype == "float16":
        values = flat.view(np.uint16).tolist()
    else:
        values = flat.tolist()
    getattr(proto, field).extend(values)
    return proto


# -- tf.Example -> inputs (Classify, Regress) ------------------------------------------------

_FEATURE_KIND = {"string": "bytes_list", "bool": "int64_list"}


def examples_of(request_input) -> list[example_pb2.Example]:
    """The examples of a tensorflow.serving.Input; with a context, each example gets the
    context's features too (its own win on a name both have)."""
    kind = request_input.WhichOneof("kind")
    if kind is None:
        raise RequestError("input: no examples (set example_list or example_list_with_context)")
    if kind == "example_list":
        examples = list(request_input.example_list.examples)
    else:
        holder = request_input.example_list_with_context
        examples = [_with_context(e, holder.context) for e in holder.examples]
    if not examples:
        raise RequestError(f"input.{kind}: the list of examples is empty")
    return examples


def _with_context(example: example_pb2.Example,
                  context: example_pb2.Example) -> example_pb2.Example:
    merged = example_pb2.Example()
    for source in (context, example):
        for name, feature in source.features.feature.items():
            merged.features.feature[name].CopyFrom(feature)
    return merged


def takes_serialized_examples(signature: Signature) -> bool:
    """A single string input of shape [N]: TF Serving's Classify / Regress signatures take
    the serialized tf.Examples there (the taxi model's from_examples does)."""
    if len(signature.inputs) != 1:
        return False
    info = next(iter(signature.inputs.values()))
    return _dtype(info.dtype) == "string" and len(info.shape) == 1


def arrays_from_examples(examples: Sequence[example_pb2.Example],
                         signature: Signature) -> dict[str, np.ndarray]:
    """The signature's inputs from tf.Examples: the serialized examples for a signature that
    parses them itself, else each input taken by name from every example's features."""
    if takes_serialized_examples(signature):
        serialized = np.empty(len(examples), dtype=object)
        serialized[:] = [e.SerializeToString() for e in examples]
        return {next(iter(signature.inputs)): serialized}
    return {name: _feature_column(examples, info, signature)
            for name, info in signature.inputs.items()}


def _feature_column(examples, info: TensorInfo, signature: Signature) -> np.ndarray:
    dtype = _dtype(info.dtype)
    per_example = tuple(info.shape[1:])
    if len(info.shape) < 1 or len(per_example) > 1 or None in per_example:
        raise RequestError(f"input '{info.name}' of signature '{signature.name}' has shape "
                           f"{_format_shape(info.shape)}: a tf.Example feature can fill only "
                           "[-1] (one value per example) or [-1, K]")
    if dtype not in _DTYPES:
        raise RequestError(f"input '{info.name}': inputs of type {info.dtype} cannot come "
                           "from a tf.Example")
    want = _FEATURE_KIND.get(dtype, "float_list" if dtype in _FLOATS else "int64_list")
    count = per_example[0] if per_example else 1
    rows = [_feature_values(e, i, info, want, count, signature) for i, e in enumerate(examples)]
    where = f"input '{info.name}'"
    if dtype == "string":
        column = np.empty((len(rows), count), dtype=object)
        column[:] = rows
    elif dtype == "bool":
        column = np.array(rows, dtype=np.int64)
        if not np.isin(column, (0, 1)).all():
            raise RequestError(f"{where}: a bool input takes 0 or 1 from an int64_list")
        column = column.astype(bool)
    elif want == "int64_list":
        column = _fit(np.array(rows, dtype=np.int64), dtype, where)
    else:
        column = np.array(rows, dtype=dtype)
    return column.reshape((len(rows), *per_example))


def _feature_values(example, index: int, info: TensorInfo, want: str, count: int,
                    signature: Signature) -> list:
    where = f"examples[{index}]"
    features = example.features.feature
    if info.name not in features:
        raise RequestError(f"{where}: missing feature '{info.name}' (signature "
                           f"'{signature.name}' takes: {', '.join(sorted(signature.inputs))})")
    feature = features[info.name]
    kind = feature.WhichOneof("kind")
    if kind != want:
        raise RequestError(f"{where}.{info.name}: expected a {want} for {info.dtype}, got "
                           f"{'an empty feature' if kind is None else 'a ' + kind}")
    values = list(getattr(feature, kind).value)
    if len(values) != count:
        raise RequestError(f"{where}.{info.name}: expected {count} value(s) per example, "
                           f"got {len(values)}")
    return values


# -- outputs read as classes or values (Classify, Regress) -----------------------------------

@dataclass(frozen=True)
class ClassifyPlan:
    """Which outputs answer Classify: TF Serving's `scores` / `classes`, or one probability
    output (binary: [N, 1] or [N]; K classes: [N, K])."""

    scores: Optional[str] = None
    classes: Optional[str] = None
    probabilities: Optional[str] = None


def classify_plan(signature: Signature) -> ClassifyPlan:
    """Decided from the signature before the model runs: a signature that cannot answer
    Classify is the request's mistake, not the version's."""
    outputs = signature.outputs
    if "scores" in outputs or "classes" in outputs:
        scores = "scores" if "scores" in outputs else None
        if scores:
            _require_float(outputs[scores], signature, "Classify")
        return ClassifyPlan(scores=scores, classes="classes" if "classes" in outputs else None)
    if len(outputs) == 1:
        info = next(iter(outputs.values()))
        _require_float(info, signature, "Classify")
        if len(info.shape) in (1, 2):
            return ClassifyPlan(probabilities=info.name)
    raise RequestError(
        f"signature '{signature.name}' cannot answer Classify: it needs an output named "
        "'scores' (and optionally 'classes'), or a single float output of shape [-1, 1] "
        f"(a probability) or [-1, K] (K class scores); it has {_describe(outputs)}")


def classifications(plan: ClassifyPlan, outputs: Mapping[str, np.ndarray],
                    examples: int) -> list[list[tuple[str, float]]]:
    """[(label, score), ...] per example. Unnamed classes are labelled "0".."K-1"; a single
    probability p is class "1" with p and class "0" with 1 - p."""
    if plan.probabilities:
        scores = _rows(outputs[plan.probabilities], plan.probabilities, examples)
        if scores.shape[1] == 1:
            p = scores[:, 0].astype(np.float64)
            scores = np.stack([1.0 - p, p], axis=1)
        labels = [str(k) for k in range(scores.shape[1])]
        return [list(zip(labels, row.tolist())) for row in scores]
    scores = _rows(outputs[plan.scores], plan.scores, examples) if plan.scores else None
    classes = _rows(outputs[plan.classes], plan.classes, examples) if plan.classes else None
    if scores is not None and classes is not None and scores.shape != classes.shape:
        raise RequestError(f"outputs 'scores' {list(scores.shape)} and 'classes' "
                           f"{list(classes.shape)} differ in shape")
    width = (scores if scores is not None else classes).shape[1]
    result = []
    for i in range(examples):
        labels = [_text(c) for c in classes[i]] if classes is not None else [""] * width
        values = scores[i].tolist() if scores is not None else [0.0] * width
        result.append(list(zip(labels, values)))
    return result


def regress_output(signature: Signature) -> str:
    """The output that answers Regress: TF Serving's `outputs`, else `value`, else the only
    one; a float of shape [-1] or [-1, 1]."""
    outputs = signature.outputs
    name = next((n for n in ("outputs", "value") if n in outputs), None)
    if name is None and len(outputs) == 1:
        name = next(iter(outputs))
    if name is not None:
        info = outputs[name]
        _require_float(info, signature, "Regress")
        if len(info.shape) == 1 or (len(info.shape) == 2 and info.shape[1] in (1, None)):
            return name
    raise RequestError(
        f"signature '{signature.name}' cannot answer Regress: it needs one float output of "
        f"shape [-1] or [-1, 1] (or one named 'outputs' or 'value'); it has "
        f"{_describe(outputs)}")


def regressions(name: str, outputs: Mapping[str, np.ndarray], examples: int) -> list[float]:
    values = _rows(outputs[name], name, examples)
    if values.shape[1] != 1:
        raise RequestError(f"output '{name}' has {values.shape[1]} values per example; "
                           "Regress needs one")
    return values[:, 0].tolist()


def _rows(array: np.ndarray, name: str, examples: int) -> np.ndarray:
    """An output as [examples, K]: [N] counts as [N, 1]."""
    array = np.asarray(array)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[0] != examples:
        raise RequestError(f"output '{name}' has shape {list(array.shape)}; expected "
                           f"[{examples}] or [{examples}, K] for {examples} example(s)")
    return array


def _require_float(info: TensorInfo, signature: Signature, method: str) -> None:
    if _dtype(info.dtype) not in _FLOATS:
        raise RequestError(f"signature '{signature.name}' cannot answer {method}: output "
                           f"'{info.name}' is {info.dtype}, not a float score")


def _describe(outputs: Mapping[str, TensorInfo]) -> str:
    return ", ".join(f"{n} ({i.dtype} {_format_shape(i.shape)})"
                     for n, i in sorted(outputs.items())) or "no outputs"


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
