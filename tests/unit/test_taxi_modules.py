"""The taxi pipeline's user code on its own: preprocessing_fn on a small batch, and the
Keras model building and training a step."""

import csv
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

ROOT = Path(__file__).resolve().parents[2]
TAXI = ROOT / "pipelines" / "taxi"


@pytest.fixture(scope="module")
def raw_batch():
    """60 rows of the shipped sample parsed with the curated schema's feature spec."""
    import tensorflow_data_validation as tfdv
    from tensorflow_transform.tf_metadata import schema_utils

    from tests.conftest import taxi_csv

    schema = tfdv.load_schema_text(str(TAXI / "schema" / "schema.pbtxt"))
    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    rows = []
    with open(taxi_csv(), newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            if i >= 60:
                break
            record = {}
            for key, feature in spec.items():
                text = row.get(key, "")
                cast = {"int64": int, "float32": float, "string": str}[feature.dtype.name]
                value = [cast(float(text)) if cast is int and text else cast(text)] if text else []
                record[key] = value if not hasattr(feature, "shape") or feature.shape != [] else value[0]
            rows.append(record)
    return schema, spec, rows


def test_preprocessing_fn_scales_buckets_and_builds_vocabularies(raw_batch):
    import numpy as np
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata

    from pipelines.taxi import preprocessing

    schema, spec, rows = raw_batch
    with tft_beam.Context(temp_dir=tempfile.mkdtemp()):
        (transformed, _), _ = (
            (rows, dataset_metadata.DatasetMetadata(schema))
            | tft_beam.AnalyzeAndTransformDataset(preprocessing.preprocessing_fn)
        )
    fares = np.array([r["fare_xf"] for r in transformed])
    assert abs(fares.mean()) < 1e-3 and abs(fares.std() - 1) < 0.05  # z-score
    buckets = {r["pickup_latitude_xf"] for r in transformed}
    assert buckets <= set(range(10))
    payment_ids = {r["payment_type_xf"] for r in transformed}
    assert min(payment_ids) >= 0 and len(payment_ids) > 1  # vocabulary ids, not strings
    labels = {r["tips_xf"] for r in transformed}
    assert labels <= {0, 1}
    hours = {r["trip_start_hour_xf"] for r in transformed}
    assert hours <= set(range(25))


def test_model_builds_and_trains_a_step():
    import numpy as np
    import tensorflow as tf

    from pipelines.taxi import features, model

    keras_model = model.build_keras_model([8, 4], 0.01)
    batch = 16
    inputs = {}
    for name in keras_model.input_names if hasattr(keras_model, "input_names") else keras_model.inputs:
        key = name if isinstance(name, str) else name.name
        dtype = keras_model.get_layer(key).dtype if hasattr(keras_model, "get_layer") else "float32"
        inputs[key] = np.zeros((batch, 1), dtype=np.int32 if "int" in str(dtype) else np.float32)
    labels = np.ones((batch, 1), dtype=np.float32)
    weights_before = [w.numpy().copy() for w in keras_model.trainable_weights]
    history = keras_model.fit(inputs, labels, epochs=1, batch_size=batch, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = any(not np.allclose(a, b.numpy()) for a, b in zip(weights_before, keras_model.trainable_weights))
    assert changed, "one training step should move the weights"
    prediction = keras_model.predict(inputs, verbose=0)
    assert prediction.shape == (batch, 1) and ((prediction >= 0) & (prediction <= 1)).all()
    assert features.transformed_name("fare") in inputs
    assert isinstance(keras_model, tf.keras.Model)
