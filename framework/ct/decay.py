"""Decay: how the serving model scores on newly labelled rows, against its own evaluation.

The label and how to read it come from the Evaluator's eval_config in ML-Metadata (label
key, the signature that scores serialized examples, the preprocessing signature that turns
raw columns into the label), so nothing here knows about taxis.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Optional

from framework.metadata.lineage import Graph, TrainingRecord, props

BATCH = 2048


def labelled_files(spec: str) -> list[str]:
    """A CSV file, a folder (CSVs at any depth), a glob, or a pattern with {SPAN}
    (the newest span wins)."""
    if "{SPAN}" in spec:
        from framework.pipeline.input_pattern import input_regex

        regex = input_regex(spec)
        best: dict[int, list[str]] = {}
        for path in glob.glob(spec.replace("{SPAN}", "*")):
            match = regex.fullmatch(path)
            if match:
                best.setdefault(int(match.group("span")), []).append(path)
        return sorted(best[max(best)]) if best else []
    if os.path.isdir(spec):
        return sorted(glob.glob(os.path.join(spec, "**", "*.csv"), recursive=True))
    return sorted(glob.glob(spec))


def _eval_config(graph: Graph, record: TrainingRecord) -> dict:
    evaluator = graph.producer(record.evaluation)
    config = props(evaluator).get("eval_config") if evaluator is not None else None
    return json.loads(config) if config else {}


def _schema_types(schema_uri: Optional[str]) -> dict[str, int]:
    from framework.ct.drift import load_schema

    schema = load_schema(schema_uri)
    return {f.name: f.type for f in schema.feature}


def _examples(frame, types: dict[str, int]) -> list[bytes]:
    """Rows as serialized tf.Examples; empty cells are left out, as CsvExampleGen does."""
    import math

    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2

    out = []
    columns = [c for c in frame.columns if c in types]
    for row in frame[columns].itertuples(index=False, name=None):
        feature = {}
        for name, value in zip(columns, row, strict=True):
            if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
                continue
            kind = types[name]
            if kind == schema_pb2.INT:
                feature[name] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(float(value))]))
            elif kind == schema_pb2.FLOAT:
                feature[name] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=[float(value)]))
            else:
                feature[name] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[str(value).encode()]))
        out.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return out


def _model_path(record: TrainingRecord) -> str:
    destination = props(record.pushed).get("pushed_destination")
    if destination and os.path.exists(os.path.join(destination, "saved_model.pb")):
        return destination
    return os.path.join(record.model.uri, "Format-Serving")


# Where a rise is decay (errors); for every other metric a fall is.
LOWER_IS_BETTER = ("root_mean_squared_error", "mean_absolute_error")
# Metrics of one score per row: a probability (binary) or a value (regression).
ONE_SCORE = ("binary_accuracy", "auc", "root_mean_squared_error", "mean_absolute_error")


def worsening(metric: str, evaluation: float, value: float) -> float:
    """How much worse `value` is than at evaluation: a fall, or a rise for errors."""
    return value - evaluation if metric in LOWER_IS_BETTER else evaluation - value


def _require(metric: Optional[str]) -> None:
    from framework.core.errors import UserError

    if metric is None:  # no default: which metric fits depends on the model
        raise UserError("key 'ct.decay.metric' is not set: name a metric the serving "
                        "model's evaluation recorded (see docs/continuous-training.md)")


def metric_value(metric: Optional[str], labels, scores) -> float:
    """`metric` of labels (rows,) against the model's scores (rows, outputs).

    Accuracy takes the argmax over class scores when the model outputs several, and counts
    a single score above 0.5 as class 1.
    """
    import numpy as np

    from framework.core.errors import UserError

    _require(metric)
    y, p = np.asarray(labels, dtype=float).reshape(-1), np.asarray(scores, dtype=float)
    p = p.reshape(len(y), -1)
    if metric in ONE_SCORE and p.shape[1] != 1:
        hint = "; use sparse_categorical_accuracy" if "accuracy" in metric else ""
        raise UserError(f"key 'ct.decay.metric': {metric} needs one score per row, the "
                        f"serving model outputs {p.shape[1]}{hint}")
    if metric == "auc":
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(y, p[:, 0])) if len(set(y)) > 1 else float("nan")
    if metric == "binary_accuracy":
        return float(np.mean((p[:, 0] > 0.5) == (y > 0.5)))
    if metric == "sparse_categorical_accuracy":
        predicted = (p[:, 0] > 0.5) if p.shape[1] == 1 else np.argmax(p, axis=1)
        return float(np.mean(predicted.astype(int) == np.rint(y).astype(int)))
    if metric == "root_mean_squared_error":
        return float(np.sqrt(np.mean((p[:, 0] - y) ** 2)))
    if metric == "mean_absolute_error":
        return float(np.mean(np.abs(p[:, 0] - y)))
    raise UserError(f"key 'ct.decay.metric': unknown metric {metric!r}")


def _score(model, signature: str, preprocess: Optional[str], label_key: str,
           serialized: list[bytes]):
    """(labels (rows,), scores (rows, outputs)) of the model on serialized examples."""
    import numpy as np
    import tensorflow as tf

    predict = model.signatures[signature]
    labels, scores = [], []
    for start in range(0, len(serialized), BATCH):
        batch = tf.constant(serialized[start:start + BATCH])
        if preprocess:
            label = model.signatures[preprocess](examples=batch)[label_key]
        else:
            label = tf.io.parse_example(batch, {label_key: tf.io.FixedLenFeature([], tf.float32)})[
                label_key]
        output = predict(examples=batch)
        score = next(iter(output.values())) if "outputs" not in output else output["outputs"]
        rows = int(batch.shape[0])
        labels.append(np.asarray(label, dtype=float).reshape(rows))
        scores.append(np.asarray(score, dtype=float).reshape(rows, -1))
    return np.concatenate(labels), np.concatenate(scores)


def score_serving_model(graph: Graph, record: TrainingRecord, spec: str,
                        metric: Optional[str]) -> Optional[dict]:
    """{metric, value, evaluation, rows, files, model} or None when there are no rows."""
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    from framework.core.errors import UserError
    from framework.metadata.outcome import evaluation_metrics

    _require(metric)
    files = labelled_files(spec)
    if not files:
        return None
    frame = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files],
                      ignore_index=True)
    if frame.empty:
        return None
    if record.evaluation is None:
        raise UserError("the serving model has no Evaluator output in ML-Metadata to compare with")
    evaluation = evaluation_metrics(record.evaluation.uri)
    if metric not in evaluation:
        raise UserError(f"key 'ct.decay.metric': {metric} is not in the serving "
                        f"model's evaluation (has: {', '.join(sorted(evaluation)) or 'none'})")
    config = _eval_config(graph, record)
    spec0 = (config.get("model_specs") or [{}])[0]
    types = _schema_types(record.schema.uri if record.schema is not None else None)
    y, p = _score(tf.saved_model.load(_model_path(record)),
                  spec0.get("signature_name", "serving_default"),
                  (spec0.get("preprocessing_function_names") or [None])[0],
                  spec0.get("label_key", "label"), _examples(frame, types))
    value = metric_value(metric, y, p)
    outcome = {"metric": metric, "value": round(value, 4),
               "evaluation": round(float(evaluation[metric]), 4), "rows": int(len(y)),
               "files": files, "model_version": props(record.pushed).get("pushed_version")}
    if metric in ("binary_accuracy", "auc"):
        outcome["label_rate"] = round(float(np.mean(y > 0.5)), 4)
    return outcome
